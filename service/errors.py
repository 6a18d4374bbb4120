"""How a request can fail, and the one error shape on the wire: RFC 9457 problem details
(application/problem+json). The model workers' refusals are raised as the exceptions here and answered by the
handlers below, so a route only awaits its worker."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ProblemError(Exception):
    """Raised by routes and dependencies for a client error: status, a short title, a detail that says what to fix."""

    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


class ClientGone(Exception):
    """The client disconnected before its answer was ready; there is no one to answer."""


class Overloaded(Exception):
    """Too much work waits for the model (or its device ran out of memory): try again after `retry_after` s."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TimedOut(Exception):
    """The request was not answered within the timeout."""


class ShuttingDown(Exception):
    """The worker no longer takes requests."""


class InferenceFailed(Exception):
    """The forward pass of the request's batch raised; the worker logged the cause."""


CLIENT_CLOSED_REQUEST = 499  # nginx's status for it: what metrics and logs show; the client never sees it


def problem(status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")


def _location(error: dict[str, Any]) -> str:
    return ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, error: ProblemError) -> JSONResponse:
        return problem(error.status, error.detail, headers=error.headers)

    @app.exception_handler(ClientGone)
    async def _gone(request: Request, error: ClientGone) -> Response:
        return Response(status_code=CLIENT_CLOSED_REQUEST)

    @app.exception_handler(Overloaded)
    async def _overloaded(request: Request, error: Overloaded) -> JSONResponse:
        return problem(503, f"{error}; retry later", headers={"Retry-After": str(error.retry_after)})

    @app.exception_handler(ShuttingDown)
    async def _shutting_down(request: Request, error: ShuttingDown) -> JSONResponse:
        return problem(503, str(error), headers={"Retry-After": "5"})

    @app.exception_handler(TimedOut)
    async def _timed_out(request: Request, error: TimedOut) -> JSONResponse:
        return problem(504, str(error))

    @app.exception_handler(InferenceFailed)
    async def _failed(request: Request, error: InferenceFailed) -> JSONResponse:  # the worker logged the cause
        return problem(500, str(error))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [{"location": _location(e), "message": e.get("msg", "invalid")} for e in error.errors()]
        detail = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:5])
        return problem(422, detail, errors=errors[:50])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem(error.status_code, str(error.detail), headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "internal error; it has been logged")
