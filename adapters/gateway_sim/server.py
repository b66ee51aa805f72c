"""`GatewayServer`: an asyncio TCP server speaking the TWS API so unmodified IB clients (ib_async,
ibapi) connect, trade and read state from a `GatewayEngine`.

The server owns connections, the handshake and client ids: requests are parsed (`requests.py`)
and answered (`handlers.py`, `handlers_market.py`); engine events are routed (`routing.py`) to
the connection of the client that owns the order. Every request is answered with its data and End
message, or with an error carrying its reqId, so no client call waits forever; a malformed message
gets an IB-style error and never ends the connection. Faults (`faults.py`) are armed through the
methods at the bottom, or from another process over the control channel (`control.py`: a
connection that greets with `CTL\\0` instead of `API\\0`, which also moves a replayed market one
day at a time). It must never import `ib_async`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from ordergate.adapters.gateway_sim import handlers, routing
from ordergate.adapters.gateway_sim import messages as m
from ordergate.adapters.gateway_sim import messages_orders as mo
from ordergate.adapters.gateway_sim.control import CONTROL_PREFIX, ReplayControl
from ordergate.adapters.gateway_sim.engine import (
    EngineEvent,
    GatewayEngine,
    OptionSettled,
    OrderExecuted,
    OrderRejected,
    OrderUpdated,
    OrderView,
)
from ordergate.adapters.gateway_sim.faults import (
    CONNECTIVITY_MESSAGES,
    FAULT_NAMES,
    FaultPlan,
    FaultScript,
    FaultScriptError,
)
from ordergate.adapters.gateway_sim.framing import (
    API_PREFIX,
    MAX_GREETING_BYTES,
    SERVER_MAX_VERSION,
    SERVER_MIN_VERSION,
    FrameDecoder,
    FramingError,
    UnsupportedClientVersion,
    encode_frame,
    negotiate_version,
    parse_greeting,
)
from ordergate.adapters.gateway_sim.requests import RequestError, parse_request
from ordergate.adapters.gateway_sim.session import ClientSession

__all__ = ["GatewayServer"]

_log = logging.getLogger(__name__)

HANDSHAKE_SECONDS = 10.0
"""The whole handshake (`API\\0`, the version greeting and startApi) must arrive within this."""

MAX_CONNECTIONS = 32
"""IB's limit of simultaneous API clients per TWS/Gateway session; beyond it error 502."""

MAX_BUFFERED_BYTES = 64 * 1024 * 1024
"""Partial frames buffered across every connection; the connection whose partial frame would
exceed it is closed (each frame may be up to `MAX_FRAME_BYTES` on its own)."""

_CAP_TEXT = ("Couldn't connect to TWS: the maximum number of API clients ({cap}) is connected; "
             "disconnect one and retry")


def _closed(session: ClientSession) -> bool:
    """True once `session` is closing (a call, so a type checker does not assume the serving
    loop's condition still holds after a request was dispatched)."""
    return not session.is_open


class GatewayServer:
    """A TWS API endpoint in front of `engine`. Use `async with GatewayServer(...) as server:`."""

    def __init__(
        self,
        engine: GatewayEngine,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        min_version: int = SERVER_MIN_VERSION,
        max_version: int = SERVER_MAX_VERSION,
        message_rate_limit: int | None = 50,
        announce_farms: bool = True,
        handshake_seconds: float = HANDSHAKE_SECONDS,
        max_connections: int = MAX_CONNECTIONS,
        max_buffered_bytes: int = MAX_BUFFERED_BYTES,
    ) -> None:
        self.engine = engine
        self.host = host
        self.faults = FaultPlan()
        self.min_version = min_version
        self.max_version = max_version
        self.message_rate_limit = message_rate_limit
        self.announce_farms = announce_farms
        self.handshake_seconds = handshake_seconds
        self.max_connections = max_connections
        self.max_buffered_bytes = max_buffered_bytes
        self._open_sockets = 0
        self._buffered: dict[int, int] = {}
        self.sessions: dict[int, ClientSession] = {}
        self._requested_port = port
        self._connections: set[ClientSession] = set()
        self._handler_tasks: set[asyncio.Task[None]] = set()
        self._max_order_ids: dict[int, int] = {}
        self._server: asyncio.Server | None = None
        self._bound_port: int | None = None
        self._listening = False
        self.control = ReplayControl(self)
        """The control channel (`CTL\\0` connections on the same port; see `control.py`)."""

    # ---- lifecycle ----
    async def start(self) -> int:
        """Start listening; return the bound port (useful with port 0)."""
        port = self._bound_port if self._bound_port is not None else self._requested_port
        if not self._listening:
            self.engine.add_listener(self._on_engine_event)
            self._listening = True
        self._server = await asyncio.start_server(self._on_connect, self.host, port)
        self._bound_port = self._server.sockets[0].getsockname()[1]
        _log.info("TWS gateway emulator listening on %s:%s", self.host, self._bound_port)
        return self._bound_port

    @property
    def port(self) -> int:
        """The bound port; raises if the server never started."""
        if self._bound_port is None:
            raise RuntimeError("GatewayServer.start() has not been awaited yet")
        return self._bound_port

    def close(self) -> None:
        """Stop accepting connections and drop every open one (call `wait_closed` after)."""
        if self._server is not None:
            self._server.close()
        for session in list(self._connections):
            self.spawn(session.close(abort=True))

    async def wait_closed(self) -> None:
        """Wait until the listener and every connection handler have finished."""
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        while self._handler_tasks:
            await asyncio.gather(*list(self._handler_tasks), return_exceptions=True)
        if self._listening:
            self.engine.remove_listener(self._on_engine_event)
            self._listening = False

    async def __aenter__(self) -> GatewayServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()

    async def serve_forever(self) -> None:
        """Serve until cancelled."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    def spawn(self, coro: Awaitable[None]) -> None:
        """Run `coro` as a task the server waits for when closing."""
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._handler_tasks.add(task)
        task.add_done_callback(self._handler_tasks.discard)

    # ---- connections ----
    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handler_tasks.add(task)
            task.add_done_callback(self._handler_tasks.discard)
        peer = "{}:{}".format(*writer.get_extra_info("peername")[:2])
        session: ClientSession | None = None
        self._open_sockets += 1
        over_cap = self._open_sockets > self.max_connections
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.handshake_seconds
        try:
            async with asyncio.timeout_at(deadline):
                prefix = await reader.readexactly(len(API_PREFIX))
            if prefix == CONTROL_PREFIX:
                if not over_cap:
                    await self.control.serve(reader, writer)
                return
            async with asyncio.timeout_at(deadline):
                greeting, decoder, leftover = await self._handshake(reader, peer, prefix)
            version = self._negotiate_or_refuse(writer, peer, greeting)
            if version is None:
                return
            session = ClientSession(writer, version, peer)
            session.send_raw(encode_frame(m.server_hello(version, self.engine.now())))
            if over_cap:
                _log.warning("refusing %s: %s API connections already open", peer,
                             self.max_connections)
                session.send(m.error(-1, 502, _CAP_TEXT.format(cap=self.max_connections)))
                await session.close()
                return
            self._connections.add(session)
            await self._serve(session, reader, decoder, leftover, deadline)
        except (FramingError, asyncio.IncompleteReadError, TimeoutError, ConnectionError) as exc:
            _log.info("connection from %s ended: %s", peer, exc)
        finally:
            self._open_sockets -= 1
            self._buffered.pop(id(session), None)
            if session is not None:
                self._forget(session)
                await session.close(abort=not session.is_open)
            else:
                writer.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await writer.wait_closed()

    async def _handshake(
        self, reader: asyncio.StreamReader, peer: str, prefix: bytes
    ) -> tuple[list[str], FrameDecoder, list[list[str]]]:
        """Read the framed version greeting (at most `MAX_GREETING_BYTES`)."""
        if prefix != API_PREFIX:
            raise FramingError(f"{peer} did not start with API\\0 (got {prefix!r})")
        decoder = FrameDecoder()
        messages: list[list[str]] = []
        while not messages:
            chunk = await reader.read(65536)
            if not chunk:
                raise ConnectionError(f"{peer} closed during the handshake")
            messages = decoder.feed(chunk)
            if not messages and decoder.pending_bytes > MAX_GREETING_BYTES:
                raise FramingError(
                    f"{peer} sent {decoder.pending_bytes} bytes without completing its version "
                    f"greeting (limit {MAX_GREETING_BYTES})"
                )
        return messages[0], decoder, messages[1:]

    def _negotiate_or_refuse(
        self, writer: asyncio.StreamWriter, peer: str, fields: list[str]
    ) -> int | None:
        """The version to speak, or None after telling a too-old client why it is refused (a
        server hello at the emulator's minimum, then error 502 in the layout every version reads:
        `[4, 2, -1, 502, text]`)."""
        greeting = parse_greeting(fields)
        try:
            version = negotiate_version(greeting, self.min_version, self.max_version)
        except UnsupportedClientVersion as exc:
            _log.info("refusing %s: %s", peer, exc)
            writer.write(encode_frame(m.server_hello(self.min_version, self.engine.now())))
            writer.write(encode_frame(["4", "2", "-1", "502", str(exc)]))
            return None
        _log.info("%s speaks %s..%s, using %s", peer, greeting.min_version,
                  greeting.max_version, version)
        return version

    async def _serve(
        self,
        session: ClientSession,
        reader: asyncio.StreamReader,
        decoder: FrameDecoder,
        pending: list[list[str]],
        deadline: float,
    ) -> None:
        """Answer requests in arrival order, one at a time with a yield between them (so one
        flooding client cannot hold the loop), reading no more while the client's unread answers
        exceed the session's bound; startApi must arrive by the handshake `deadline`."""
        loop = asyncio.get_running_loop()
        while session.is_open:
            for fields in pending:
                self._dispatch(session, fields)
                if _closed(session):
                    return
                await asyncio.sleep(0)
                await session.wait_for_room()
            if session.client_id is None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(f"{session.peer} sent no startApi within the handshake")
                chunk = await asyncio.wait_for(reader.read(65536), remaining)
            else:
                chunk = await reader.read(65536)
            if not chunk:
                return
            pending = decoder.feed(chunk)
            self._buffered[id(session)] = decoder.pending_bytes
            buffered = sum(self._buffered.values())
            if buffered > self.max_buffered_bytes:
                raise FramingError(
                    f"{session.peer}'s partial frame brings the bytes buffered across all "
                    f"connections to {buffered}, over the {self.max_buffered_bytes}-byte limit"
                )

    def _dispatch(self, session: ClientSession, fields: list[str]) -> None:
        handlers.count_message(self, session)
        try:
            request = parse_request(fields, session.version)
        except RequestError as exc:
            self.send(session, m.error(exc.req_id, 320, f"Error reading request: {exc.detail}"))
            return
        try:
            handlers.handle(self, session, request)
        except Exception as exc:  # a bug in one answer must not take the connection down
            _log.exception("failed to answer %s", type(request).__name__)
            self.send(session, m.error(-1, 320, f"Error processing request: {exc}"))

    def _forget(self, session: ClientSession) -> None:
        self._connections.discard(session)
        if session.client_id is not None and self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]

    # ---- helpers used by the handlers ----
    def send(self, session: ClientSession, message: list[str]) -> None:
        """Queue `message` to `session`, delayed if a delay fault is armed."""
        session.send(message, self.faults.delay_seconds)

    def register(self, session: ClientSession, client_id: int) -> None:
        """Bind `session` to `client_id` (startApi accepted)."""
        session.client_id = client_id
        self.sessions[client_id] = session

    def note_order_id(self, client_id: int, order_id: int) -> None:
        """Remember the highest order id a client used (for nextValidId)."""
        self._max_order_ids[client_id] = max(self._max_order_ids.get(client_id, 0), order_id)

    def next_valid_id(self, client_id: int) -> int:
        """One above every order id the client used (or the rolled-back id a fault armed)."""
        rollback = self.faults.take_rollback()
        if rollback is not None:
            return rollback
        used = [
            v.key.order_id
            for v in [*self.engine.open_orders(), *self.engine.completed_orders()]
            if v.key.client_id == client_id
        ]
        return max([self._max_order_ids.get(client_id, 0), *used]) + 1

    def announce(self, session: ClientSession, view: OrderView) -> None:
        """openOrder then orderStatus for `view` (the openOrder carries the permId)."""
        self.send(session, mo.open_order(view, session.version))
        self.send(session, mo.order_status(view))
        session.announced_perm_ids.add(view.perm_id)

    def all_sessions(self) -> Sequence[ClientSession]:
        """Sessions that completed startApi."""
        return list(self.sessions.values())

    # ---- engine events ----
    def _on_engine_event(self, event: EngineEvent) -> None:
        if isinstance(event, OrderUpdated):
            session = self.sessions.get(event.order.key.client_id)
            if session is not None:
                self.announce(session, event.order)
        elif isinstance(event, OrderExecuted):
            routing.route_execution(self, event.execution)
        elif isinstance(event, OptionSettled):
            routing.route_settlement(self, event)
        elif isinstance(event, OrderRejected):
            session = self.sessions.get(event.key.client_id)
            if session is not None:
                code, text = handlers.order_refusal(event.reason, event.detail)
                self.send(session, m.error(event.key.order_id, code, text))

    # ---- faults (see faults.py; every public name here is in FAULT_NAMES) ----
    def reject_next_order(self, reason: str = "rejected by fault injection") -> None:
        """The next placeOrder (any client) is rejected with error 201 and `reason`."""
        self.faults.order_rejections.append(reason)

    def duplicate_next_execution(self, count: int = 1) -> None:
        """The next `count` live executions are reported twice (same execId)."""
        self.faults.duplicate_executions += count

    def commission_before_execution(self, count: int = 1) -> None:
        """For the next `count` live executions, send the commission report first."""
        self.faults.commission_first += count

    def delay_responses(self, seconds: float) -> None:
        """Delay every message sent from now on by `seconds` (0 turns the delay off)."""
        self.faults.delay_seconds = max(0.0, float(seconds))

    def pace_next_historical_request(self, count: int = 1) -> None:
        """The next `count` historical requests fail with error 162 (pacing violation)."""
        self.faults.historical_pacing += count

    def pacing_violation_on_next_request(self, count: int = 1) -> None:
        """The next `count` requests are answered with error 100 (max message rate) first."""
        self.faults.rate_violations += count

    def roll_back_next_valid_id(self, to: int = 1) -> None:
        """The next startApi announces nextValidId `to` (as a gateway that lost its memory)."""
        self.faults.next_valid_id_rollback = to

    def occupy_client_id(self, client_id: int) -> None:
        """Refuse `client_id` with error 326 as if another connection held it."""
        self.faults.occupied_client_ids.add(client_id)

    def release_client_id(self, client_id: int) -> None:
        """Undo `occupy_client_id`."""
        self.faults.occupied_client_ids.discard(client_id)

    def connectivity_lost(self) -> None:
        """Send 1100 (IB to TWS connectivity lost; the socket stays up)."""
        self.broadcast_code(1100)

    def connectivity_restored(self, data_lost: bool = False) -> None:
        """Send 1101 (restored, data lost: resubscribe) or 1102 (restored, data kept)."""
        self.broadcast_code(1101 if data_lost else 1102)

    def farm_ok(self) -> None:
        """Send 2104 (market data farm connection is OK)."""
        self.broadcast_code(2104)

    def server_broken(self) -> None:
        """Send 2110 (TWS to server connectivity broken, restored automatically)."""
        self.broadcast_code(2110)

    def broadcast_code(self, code: int) -> None:
        """Send IB connectivity message `code` (1100, 1101, 1102, 2104, 2110, ...) to all."""
        for session in self.all_sessions():
            self.send(session, m.error(-1, code, CONNECTIVITY_MESSAGES[code]))

    async def drop_connection(self, client_id: int | None = None) -> None:
        """Abort the connection of `client_id` (all connections when None), like a cut link."""
        targets = [s for s in list(self._connections)
                   if client_id is None or s.client_id == client_id]
        for session in targets:
            self._forget(session)
            await session.close(abort=True)

    async def restart(self, downtime: float = 0.0) -> None:
        """Simulate a gateway restart: drop every client, stop listening for `downtime`
        seconds, forget per-client order-id memory, listen again on the same port."""
        listener, self._server = self._server, None
        if listener is not None:
            listener.close()
        await self.drop_connection()
        if listener is not None:
            await listener.wait_closed()  # from 3.12 this also waits for the dropped connections
        self._max_order_ids.clear()
        await asyncio.sleep(downtime)
        await self.start()

    def run_script(self, script: str | FaultScript) -> asyncio.Task[None]:
        """Start running a fault script (text or parsed) against this server."""
        parsed = FaultScript.parse(script) if isinstance(script, str) else script
        parsed.validate(self)
        task = asyncio.ensure_future(parsed.run(self))
        self._handler_tasks.add(task)
        task.add_done_callback(self._handler_tasks.discard)
        return task

    def fault_action(self, name: str) -> Callable[..., Awaitable[None] | None]:
        """The public fault method called `name` (script names use `_` or `-`)."""
        name = name.replace("-", "_")
        method = getattr(self, name.replace("-", "_"), None)
        if name.startswith("_") or name not in FAULT_NAMES or method is None:
            known = ", ".join(sorted(FAULT_NAMES))
            raise FaultScriptError(f"unknown fault {name!r}; known faults: {known}")
        return method  # type: ignore[no-any-return]
