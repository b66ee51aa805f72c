"""`ServiceClient`: how the CLI talks to a running `ordergate serve` (standard library only).

`probe()` says whether a service answers at `service.host:service.port` (None when nothing
listens there, so the command falls back to its own path); `get` and `post` return the decoded
JSON or raise `ServiceError` carrying the HTTP status and the API's `ErrorOut` body.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from ordergate.domain.errors import OrdergateError

__all__ = ["ServiceClient", "ServiceError", "ServiceUnreachable"]


class ServiceUnreachable(OrdergateError):
    """Nothing answers at the service's address (no `serve` with the API running there)."""


class ServiceError(OrdergateError):
    """The service answered with an error: `status` and the API's JSON (`error`, `field`)."""

    def __init__(self, status: int, body: Mapping[str, Any], url: str) -> None:
        self.status = status
        self.body = dict(body)
        self.field = body.get("field")
        message = body.get("message") or body.get("error") or f"HTTP {status}"
        super().__init__(f"the service at {url} answered {status}: {message}")


class ServiceClient:
    """JSON over HTTP to the control API at `base_url` (e.g. http://127.0.0.1:8765)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = token

    @classmethod
    def for_address(
        cls, host: str, port: int, *, timeout: float = 10.0, token: str | None = None
    ) -> ServiceClient:
        shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return cls(f"http://{shown}:{port}", timeout=timeout, token=token)

    def probe(self) -> dict[str, Any] | None:
        """`GET /status` if an ordergate service answers; None if nothing listens there.

        Something else listening (not an ordergate control API) is a `ServiceError`.
        """
        try:
            status = self.get("/status")
        except ServiceUnreachable:
            return None
        if not isinstance(status, dict) or status.get("service") != "ordergate":
            raise ServiceError(
                0, {"message": "what answers there is not an ordergate service"}, self.base_url
            )
        return status

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return self._call("GET", path + query, None)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._call("POST", path, body)

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None) -> Any:
        url = self.base_url + path
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token and method != "GET":
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                decoded = json.loads(raw)
            except ValueError:
                decoded = {"message": raw.decode("utf-8", "replace")[:200]}
            if not isinstance(decoded, dict):
                decoded = {"message": str(decoded)[:200]}
            raise ServiceError(exc.code, decoded, self.base_url) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ConnectionRefusedError | FileNotFoundError):
                raise ServiceUnreachable(f"nothing answers at {self.base_url}") from None
            if isinstance(reason, socket.timeout | TimeoutError):
                raise ServiceError(
                    0, {"message": f"no answer within {self.timeout:g} s"}, self.base_url
                ) from None
            raise ServiceError(0, {"message": str(reason)}, self.base_url) from None
        except ConnectionRefusedError:
            raise ServiceUnreachable(f"nothing answers at {self.base_url}") from None
        except (TimeoutError, ConnectionError) as exc:
            raise ServiceError(
                0, {"message": str(exc) or type(exc).__name__}, self.base_url
            ) from None
