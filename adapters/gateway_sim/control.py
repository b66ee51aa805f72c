"""The emulator's control channel: move a replayed market one trading day at a time, from outside.

A client that wants to run a replayed session through the emulator (`ordergate run --broker
ibkr` against `ordergate gateway-sim --replay`) must decide *when* the market moves, or its
results would depend on socket timing. It connects to the emulator's own port and, instead of the
TWS API's `API\\0` greeting, sends `CTL\\0`; from then on the connection carries one JSON object
per line each way:

    {"op": "status"}                      -> {"ok": true, "replay": true, "now": "...", ...}
    {"op": "advance"}                     -> the status after the next trading day was replayed
    {"op": "fault", "name": "...", "args": [...]}   -> arm one of the server's faults

A status is `{"ok": true, "replay": bool, "now": ISO-8601 UTC, "upcoming_day": "YYYY-MM-DD" or
null, "days_done": int, "total_days": int or null, "advanced": bool}`; a refusal is `{"ok":
false, "error": "..."}` and leaves the connection open. The day's order events are written to the
TWS connections *before* the answer to `advance` is written, so a client that makes one round
trip on its TWS connection after the answer has seen every fill of that day.

The server side (`ReplayControl`) serves any engine with `upcoming_day`/`advance_day` (the
sim-backed engine); the client side (`ReplayControlClient`) is plain asyncio and JSON. This module
must never import `ib_async`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from ordergate.adapters.gateway_sim.faults import FaultScriptError
from ordergate.domain.errors import BrokerError, BrokerTimeout, InvalidValue
from ordergate.domain.values import check_utc

if TYPE_CHECKING:
    from ordergate.adapters.gateway_sim.server import GatewayServer

__all__ = [
    "CONTROL_PREFIX",
    "ReplayControl",
    "ReplayControlClient",
    "ReplayControlError",
    "ReplayStatus",
    "ReplayableEngine",
]

CONTROL_PREFIX = b"CTL\0"
"""What a control client sends first, where a TWS API client sends `API\\0`."""

_MAX_LINE = 64 * 1024
_log = logging.getLogger(__name__)


class ReplayControlError(BrokerError):
    """The emulator refused a control request, or its answer made no sense."""


@runtime_checkable
class ReplayableEngine(Protocol):
    """An engine whose market is replayed day by day (the sim-backed engine)."""

    total_days: int

    def now(self) -> datetime:
        """Simulated time."""
        ...

    def upcoming_day(self) -> date | None:
        """The trading date `advance_day` replays next; None when the replay is over."""
        ...

    def advance_day(self) -> bool:
        """Replay the next trading day (emitting its order events); False when over."""
        ...


@attrs.frozen
class ReplayStatus:
    """Where the emulator's replay stands."""

    replay: bool
    now: datetime
    upcoming_day: date | None = None
    days_done: int = 0
    total_days: int | None = None
    advanced: bool = False

    def to_json(self) -> dict[str, Any]:
        """The wire form (see the module docstring)."""
        return {
            "ok": True,
            "replay": self.replay,
            "now": self.now.isoformat(),
            "upcoming_day": None if self.upcoming_day is None else self.upcoming_day.isoformat(),
            "days_done": self.days_done,
            "total_days": self.total_days,
            "advanced": self.advanced,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReplayStatus:
        """Parse an answer; `ReplayControlError` naming the field that is wrong."""
        try:
            now = check_utc("now", datetime.fromisoformat(data["now"]))
            day = data.get("upcoming_day")
            total = data.get("total_days")
            return cls(
                replay=_boolean(data, "replay"),
                now=now,
                upcoming_day=None if day is None else date.fromisoformat(day),
                days_done=_count(data, "days_done"),
                total_days=None if total is None else _count(data, "total_days"),
                advanced=_boolean(data, "advanced"),
            )
        except (KeyError, TypeError, ValueError, InvalidValue) as exc:
            raise ReplayControlError(f"malformed control answer {data!r}: {exc}") from None


def _boolean(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"{key}={value!r} is not a boolean")
    return value


def _count(data: dict[str, Any], key: str) -> int:
    value = data.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{key}={value!r} is not a non-negative integer")
    return value


class ReplayControl:
    """Serves control connections for `server` (see the module docstring)."""

    def __init__(self, server: GatewayServer) -> None:
        self._server = server
        self._days_done = 0
        self._lock = asyncio.Lock()

    def status(self, *, advanced: bool = False) -> ReplayStatus:
        """The replay's state now."""
        engine = self._server.engine
        if not isinstance(engine, ReplayableEngine):
            return ReplayStatus(replay=False, now=engine.now())
        return ReplayStatus(
            replay=True,
            now=engine.now(),
            upcoming_day=engine.upcoming_day(),
            days_done=self._days_done,
            total_days=engine.total_days,
            advanced=advanced,
        )

    def advance(self) -> ReplayStatus:
        """Replay one trading day; the status says whether there was one left."""
        engine = self._server.engine
        if not isinstance(engine, ReplayableEngine):
            raise ReplayControlError(
                "this emulator does not replay a market; start it with "
                "`ordergate gateway-sim --replay`"
            )
        advanced = engine.advance_day()
        if advanced:
            self._days_done += 1
        return self.status(advanced=advanced)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one control connection until the client closes it."""
        peer = writer.get_extra_info("peername")
        _log.info("control connection from %s", peer)
        while True:
            try:
                line = await reader.readline()
            except (ConnectionError, ValueError) as exc:  # ValueError: line over the limit
                _log.info("control connection from %s ended: %s", peer, exc)
                return
            if not line:
                return
            answer = await self._answer(line)
            writer.write(json.dumps(answer, separators=(",", ":")).encode() + b"\n")
            await writer.drain()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ReplayControlError(f"a control request is a JSON object, got {line!r}")
            async with self._lock:
                return await self._apply(request)
        except json.JSONDecodeError as exc:
            return {"ok": False, "error": f"not JSON ({exc.msg}): {line[:200]!r}"}
        except (ReplayControlError, InvalidValue, TypeError, ValueError) as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    async def _apply(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "status":
            return self.status().to_json()
        if op == "advance":
            return self.advance().to_json()
        if op == "fault":
            return await self._fault(request)
        raise ReplayControlError(f"unknown op {op!r}; known: status, advance, fault")

    async def _fault(self, request: dict[str, Any]) -> dict[str, Any]:
        name, args = request.get("name"), request.get("args", [])
        if not isinstance(name, str) or not isinstance(args, list):
            raise ReplayControlError(f"fault needs a name and a list of args, got {request!r}")
        try:
            action = self._server.fault_action(name)
        except FaultScriptError as exc:
            raise ReplayControlError(str(exc)) from None
        outcome = action(*args)
        if inspect.isawaitable(outcome):
            await outcome
        return self.status().to_json()


class ReplayControlClient:
    """A control connection to an emulator (`await ReplayControlClient.connect(host, port)`)."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, timeout: float
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.timeout = timeout
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, host: str, port: int, *, timeout: float = 10.0) -> ReplayControlClient:
        """Open a control connection; `BrokerError` naming the address when nothing answers."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=_MAX_LINE), timeout
            )
        except (OSError, TimeoutError) as exc:
            raise BrokerError(
                f"no gateway emulator at {host}:{port} for the replay control channel ({exc}); "
                "start one with `ordergate gateway-sim --replay`"
            ) from None
        writer.write(CONTROL_PREFIX)
        return cls(reader, writer, timeout=timeout)

    async def status(self) -> ReplayStatus:
        """Where the replay stands."""
        return ReplayStatus.from_json(await self.request({"op": "status"}))

    async def advance(self) -> ReplayStatus:
        """Replay the next trading day (the answer comes after its events were sent)."""
        return ReplayStatus.from_json(await self.request({"op": "advance"}))

    async def fault(self, name: str, *args: Any) -> ReplayStatus:
        """Arm one of the emulator's faults by name (see `GatewayServer`'s fault methods)."""
        payload = {"op": "fault", "name": name, "args": list(args)}
        return ReplayStatus.from_json(await self.request(payload))

    async def request(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one request and return its (successful) answer."""
        async with self._lock:
            self._writer.write(json.dumps(payload, separators=(",", ":")).encode() + b"\n")
            try:
                await asyncio.wait_for(self._writer.drain(), self.timeout)
                line = await asyncio.wait_for(self._reader.readline(), self.timeout)
            except TimeoutError:
                raise BrokerTimeout(f"control {payload.get('op')}", self.timeout) from None
            except (ConnectionError, ValueError) as exc:
                raise ReplayControlError(f"control connection failed: {exc}") from None
        if not line:
            raise ReplayControlError("the emulator closed the control connection")
        try:
            answer = json.loads(line)
        except json.JSONDecodeError:
            raise ReplayControlError(f"the emulator answered {line[:200]!r}") from None
        if not isinstance(answer, dict):
            raise ReplayControlError(f"the emulator answered {answer!r}")
        if answer.get("ok") is not True:
            raise ReplayControlError(str(answer.get("error", answer)))
        return answer

    async def close(self) -> None:
        """Close the connection."""
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()

    async def __aenter__(self) -> ReplayControlClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
