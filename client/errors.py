"""The client's one exception type."""

from __future__ import annotations

from typing import Any

import httpx


class APIError(Exception):
    """The service answered with an error, or could not be reached.

    `status` is the HTTP status (None when no answer came), `problem` the RFC 9457 body the service
    sent (`detail` says what to fix), and `retry_after` the seconds a 503 asks the caller to wait.
    """

    def __init__(self, status: int | None, problem: dict[str, Any], retry_after: float | None = None) -> None:
        self.status, self.problem, self.retry_after = status, problem, retry_after
        self.detail: str = str(problem.get("detail", ""))
        super().__init__(f"{status}: {self.detail}" if status is not None else self.detail)

    @classmethod
    def from_response(cls, response: httpx.Response) -> APIError:
        try:
            problem = response.json()
        except ValueError:
            problem = None
        if not isinstance(problem, dict):  # not from the service itself (a proxy's page, say)
            problem = {"status": response.status_code, "title": response.reason_phrase, "detail": response.text[:500]}
        retry_after = response.headers.get("retry-after")
        return cls(response.status_code, problem, float(retry_after) if retry_after else None)

    @classmethod
    def from_transport(cls, error: httpx.TransportError) -> APIError:
        return cls(None, {"title": type(error).__name__, "detail": f"no answer from the service: {error}"})
