"""FastAPI dependencies: the catalog of this app, the optional bearer-token check, admin access.

All async: FastAPI runs a plain `def` dependency on its thread pool, a thread hop per request for
what is an attribute lookup (it cost a fifth of the event loop's time under load).
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.catalog import Catalog
from service.errors import ProblemError
from service.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="set when the service runs with AESERVE_AUTH_TOKEN")


async def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


async def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    # the settings from the app, not a dependency of their own: every request passes here, and each nested
    # dependency costs FastAPI's resolver microseconds (py-spy under bench/compare.py's load)
    settings: Settings = request.app.state.settings
    if settings.auth_token is None:
        return
    expected = settings.auth_token.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials is not None else b""
    if not secrets.compare_digest(given, expected):  # constant time: no timing hints about the token
        raise ProblemError(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


async def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """/admin/*: the token where one is set; without one, only clients on the loopback interface."""
    if request.app.state.settings.auth_token is not None:
        return await require_token(request, credentials)
    if not _is_loopback(request.client.host if request.client else ""):
        raise ProblemError(
            403, "without AESERVE_AUTH_TOKEN, /admin/* answers only clients on this machine (loopback); "
            "set a token to administer the service from elsewhere",
        )  # fmt: skip


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # not an address (a test client's name, a Unix socket): not loopback
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a dual-stack socket
    return (mapped or address).is_loopback
