"""Bearer-token authentication for the control API's writes.

`BearerTokenMiddleware` answers every request that is not a read (any method but GET, HEAD and
OPTIONS), on any path, with 401 unless it carries `Authorization: Bearer <token>`; it runs
before FastAPI parses the body, so a request without the token changes nothing and is not even
read. Tokens are compared in constant time (`hmac.compare_digest`). `bearer_dependency` makes
the same check as a route dependency, which also puts the bearer scheme in the OpenAPI
description.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

__all__ = ["READ_METHODS", "BearerTokenMiddleware", "bearer_dependency", "token_matches"]

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CHALLENGE = [(b"www-authenticate", b'Bearer realm="ordergate"')]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def token_matches(header: str | None, token: str) -> bool:
    """True if `header` is `Bearer <token>` (the scheme in any case); constant time."""
    if not header or not token:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _unauthorized_body(header: str | None) -> bytes:
    message = (
        "this write needs 'Authorization: Bearer <token>' (the token is in the variable "
        "service.token_env names)"
        if not header
        else "the bearer token is wrong"
    )
    return json.dumps(
        {"error": "unauthorized", "message": message, "field": "Authorization", "errors": []}
    ).encode()


class BearerTokenMiddleware:
    """Pure ASGI middleware: a write without the right bearer token gets 401 (see above)."""

    def __init__(self, app: ASGIApp, *, token: str) -> None:
        if not token:
            raise ValueError("BearerTokenMiddleware needs a non-empty token")
        self.app = app
        self._token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READ_METHODS:
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        if token_matches(header, self._token):
            await self.app(scope, receive, send)
            return
        body = _unauthorized_body(header)
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *_CHALLENGE,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def bearer_dependency(token: str) -> Callable[..., Awaitable[None]]:
    """A route dependency making the same check (and documenting the scheme in OpenAPI)."""
    scheme = HTTPBearer(auto_error=False, description="The token service.token_env names.")

    # A default, not `Annotated[...]`: FastAPI evaluates annotations in the module's globals,
    # where this function's `scheme` is not.
    async def check(
        credentials: HTTPAuthorizationCredentials | None = Security(scheme),  # noqa: B008
    ) -> None:
        header = None if credentials is None else f"Bearer {credentials.credentials}"
        if not token_matches(header, token):
            raise HTTPException(
                status_code=401,
                detail="the bearer token is missing or wrong",
                headers={"WWW-Authenticate": 'Bearer realm="ordergate"'},
            )

    return check
