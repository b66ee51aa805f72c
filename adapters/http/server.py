"""`ControlServer`: uvicorn serving an ASGI app as a task of the running event loop.

No thread: `start()` binds the socket itself (so a taken port is a typed error here, not
uvicorn's `sys.exit`) and runs `uvicorn.Server.serve()` as an asyncio task; `stop()` asks it
to finish and waits. Signals stay with the host process: uvicorn's own SIGINT/SIGTERM handlers
are not installed (`serve` decides what a signal means).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from typing import Any

import uvicorn

from ordergate.domain.errors import OrdergateError

__all__ = ["ControlServer", "ServerStartError"]


class ServerStartError(OrdergateError):
    """The control API could not listen (address taken, no such interface, ...); `key` is the
    setting at fault (`service.host` or `service.port`)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the process that embeds it owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class ControlServer:
    """Serve `app` on `host:port` (port 0: any free port, see `port` once started)."""

    def __init__(self, app: Any, *, host: str, port: int) -> None:
        self._app = app
        self.host = host
        self.port = port
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _bind(self) -> socket.socket:
        try:
            infos = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
        except OSError as exc:
            raise ServerStartError(
                "service.host", f"cannot resolve {self.host!r} ({exc})"
            ) from None
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise ServerStartError(
                "service.port",
                f"cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); "
                "is another ordergate serve (or another program) using it?",
            ) from None
        sock.setblocking(False)
        return sock

    async def start(self) -> None:
        """Bind, then serve in the background; returns once the server accepts connections."""
        if self._task is not None:
            return
        sock = self._bind()
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_config=None,  # leave the process's logging alone
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
        server = _EmbeddedServer(config)
        self._server = server
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name="control-api")
        while not server.started:
            if self._task.done():
                await self._task  # raises what stopped it
                raise ServerStartError("service.port", f"the API on {self.url} stopped starting")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop accepting, finish what is in flight (up to 5 s), release the socket."""
        server, task = self._server, self._task
        self._server = self._task = None
        try:
            if server is not None and task is not None:
                server.should_exit = True
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            if self._socket is not None:
                self._socket.close()
                self._socket = None

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
