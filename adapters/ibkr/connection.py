"""The IB connection manager: configuration, paper/live detection, backoff, a circuit breaker
against retry storms, a heartbeat with a typed health value, IB connectivity codes, reconnects.

`IbkrConnection` owns one `ib_async.IB`. It reconnects by itself after the socket drops
(1 → 2 → 4 → … → 30 s, 10 attempts, the breaker opening for 60 s after 5 failures in a row) and
calls its owner's `on_connected` hook (the resync) before it reports CONNECTED again. 1100/2110
make it DEGRADED, 1101 (data lost) triggers a full resync, 1102 a resync, 502/504 a reconnect.
After every connect and reconnect, before the resync and before anything can be sent, the
accounts the gateway reports are checked against the expected mode, the port and the configured
account (`health.check_managed_accounts`); a mismatch hangs up for good, reports REFUSED and
makes every call raise the `ModeMismatch`. Every wait is bounded. It never places, modifies or
cancels orders and never swallows a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from ib_async import IB

from ordergate.adapters.ibkr.config import (
    CLI_CLIENT_ID,
    DIAGNOSTIC_CLIENT_ID,
    TRADING_CLIENT_ID,
    IbkrConfig,
)
from ordergate.adapters.ibkr.health import (
    ConnectionBreaker,
    ConnectionHealth,
    ModeMismatch,
    TradingMode,
    check_managed_accounts,
)
from ordergate.domain.errors import BrokerError, BrokerTimeout
from ordergate.domain.events import ConnectionState, ConnectionStateChanged

__all__ = [
    "CLI_CLIENT_ID",
    "DIAGNOSTIC_CLIENT_ID",
    "TRADING_CLIENT_ID",
    "IbkrConfig",
    "IbkrConnection",
    "bounded",
]

_log = logging.getLogger(__name__)
T = TypeVar("T")

_DEGRADING = frozenset({1100, 2110})
_RESTORED = {1101: True, 1102: False}  # code -> full resync (data lost)
_RECONNECT = frozenset({502, 504})
_READY = frozenset({ConnectionState.CONNECTED, ConnectionState.DEGRADED})
_SYNCING: contextvars.ContextVar[bool] = contextvars.ContextVar("ibkr_syncing", default=False)


async def bounded(awaitable: Awaitable[T], timeout: float, operation: str) -> T:
    """Await with a deadline: `BrokerTimeout` naming `operation` when it passes; a lost
    connection becomes `BrokerError`."""
    try:
        async with asyncio.timeout(timeout):
            return await awaitable
    except TimeoutError:
        raise BrokerTimeout(operation, timeout) from None
    except ConnectionError as exc:
        raise BrokerError(f"{operation} failed: the gateway connection is down ({exc})") from None


class IbkrConnection:
    """One managed connection to TWS / IB Gateway (see the module docstring)."""

    def __init__(
        self,
        config: IbkrConfig,
        *,
        on_state: Callable[[ConnectionStateChanged], None] = lambda event: None,
        on_connected: Callable[[bool], Awaitable[None]] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.ib = IB()
        self.ib.RaiseRequestErrors = True  # a request IB refuses raises instead of returning []
        # ib_async's throttle: at most this many requests per `RequestsInterval` (1 s); 0: none
        self.ib.client.MaxRequests = config.max_requests_per_second
        self.breaker = ConnectionBreaker(
            config.breaker_threshold, config.breaker_cooldown, monotonic
        )
        self.state = ConnectionState.DISCONNECTED
        self.generation = 0
        self.account = config.account
        self.mode = TradingMode.UNKNOWN
        self.reconnect_attempts = 0
        self.refusal: ModeMismatch | None = None
        """Why the gateway's session was refused (accounts vs mode), until a connect succeeds."""
        self._on_state = on_state
        self._on_connected = on_connected
        self._monotonic = monotonic
        self._locks: dict[str, asyncio.Lock] = {}
        self._ready = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._closing = False
        self._last_beat: datetime | None = None
        self._server_sample: tuple[datetime, float] | None = None
        self._misses = 0
        self._connecting = False
        self._refused = False
        self._drop_reason = ""
        self.ib.disconnectedEvent += self._on_disconnected
        self.ib.errorEvent += self._on_error

    # -- lifecycle -------------------------------------------------------------------------------
    def is_ready(self) -> bool:
        """True while requests and orders can be sent (CONNECTED, or DEGRADED by IB)."""
        return self.state in _READY and self.ib.isConnected()

    async def connect(self, *, timeout: float) -> None:
        """Connect (retrying with backoff inside `timeout`); idempotent when connected."""
        if self.is_ready():
            return
        self._closing = False
        if self._reconnecting is not None and not self._reconnecting.done():
            await self.ready(timeout=timeout, operation="connect")
            return
        if not self.breaker.allow():
            raise BrokerError(
                f"connection circuit breaker is open after {self.breaker.failures} failures; "
                f"next attempt allowed in {self.breaker.retry_in():.0f}s"
            )
        await bounded(self._attempts("connect"), timeout, "connect to the IB gateway")
        if self.refusal is not None:
            raise self.refusal
        if not self.is_ready():
            raise BrokerError(
                f"could not connect to {self.config.host}:{self.config.port} "
                f"(client id {self.config.client_id}) after {self.config.backoff.attempts} "
                "attempts; is the gateway running and its API port open?"
            )

    async def disconnect(self) -> None:
        """Graceful shutdown: stop the heartbeat and any reconnect, close the socket."""
        self._closing = True
        for task in (self._heartbeat, self._reconnecting, *self._tasks):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        for task in (self._heartbeat, self._reconnecting, *list(self._tasks)):
            if task is not None and task is not asyncio.current_task():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._heartbeat = self._reconnecting = None
        self.ib.disconnect()
        self._set_state(ConnectionState.DISCONNECTED, "disconnect requested")

    async def ready(self, *, timeout: float, operation: str) -> None:
        """Wait (bounded) until the connection is usable; fail fast when nothing will fix it."""
        if self.is_ready():
            return
        await bounded(self._until_ready(operation), timeout,
                      f"{operation} (waiting for the reconnect)")

    def connection_health(self) -> ConnectionHealth:
        """Typed health: state, heartbeat age, misses, breaker and reconnect attempts."""
        now = datetime.now(UTC)
        age = None if self._last_beat is None else now - self._last_beat
        return ConnectionHealth(
            state=self.state,
            connected=self.is_ready(),
            mode=self.mode,
            last_heartbeat=self._last_beat,
            heartbeat_age=age,
            heartbeat_interval=timedelta(seconds=self.config.heartbeat_interval),
            heartbeat_misses=self._misses,
            breaker=self.breaker.state,
            reconnect_attempts=self.reconnect_attempts,
        )

    # -- requests --------------------------------------------------------------------------------
    async def request(
        self, key: str | None, start: Callable[[], Awaitable[T]], timeout: float, operation: str
    ) -> T:
        """Run one ib_async request within `timeout`. Requests IB answers by a fixed key
        (openOrders, positions, currentTime) run one at a time per `key`, so two callers never
        share an answer. While the socket is down this first waits for the reconnect, and a
        request the drop interrupted is asked again on the new connection (same deadline)."""
        lock = None if key is None else self._locks.setdefault(key, asyncio.Lock())

        async def run() -> T:
            for again in (False, True):
                syncing = _SYNCING.get()  # the resync's own requests never wait for themselves
                if not self.ib.isConnected() and not syncing:
                    await self._until_ready(operation)
                try:
                    return await self._locked(lock, start)
                except ConnectionError:
                    if again or syncing or self._closing:
                        raise
            raise AssertionError("unreachable")

        return await bounded(run(), timeout, operation)

    async def _until_ready(self, operation: str) -> None:
        if self.refusal is not None:
            raise self.refusal
        reconnecting = self._reconnecting is not None and not self._reconnecting.done()
        if not reconnecting:
            raise BrokerError(f"{operation}: not connected to the IB gateway (call connect())")
        await self._ready.wait()
        if self.refusal is not None:
            raise self.refusal
        if not self.is_ready():
            raise BrokerError(f"{operation}: the IB gateway connection was lost")

    @staticmethod
    async def _locked(lock: asyncio.Lock | None, start: Callable[[], Awaitable[T]]) -> T:
        if lock is None:
            return await start()
        async with lock:
            return await start()

    async def server_time(self, *, timeout: float) -> datetime:
        """The gateway's clock (reqCurrentTime), aware UTC; also refreshes `server_now`."""
        moment = await self.request(
            "currentTime", self.ib.reqCurrentTimeAsync, timeout, "reqCurrentTime"
        )
        stamp = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        self._server_sample = (stamp, self._monotonic())
        return stamp

    def server_now(self) -> datetime:
        """The gateway's clock estimated from the last sample (local UTC time without one)."""
        if self._server_sample is None:
            return datetime.now(UTC)
        stamp, taken = self._server_sample
        return stamp + timedelta(seconds=max(0.0, self._monotonic() - taken))

    def spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        """Run `coro` as a task the connection cancels on shutdown."""
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- connecting ------------------------------------------------------------------------------
    async def _attempts(self, reason: str) -> None:
        policy = self.config.backoff
        self._connecting = True
        self.refusal = None
        try:
            for attempt in range(1, policy.attempts + 1):
                if self._closing:
                    return
                if attempt > 1:
                    await self._wait_before_retry(policy.delay(attempt - 1))
                wait = self.breaker.retry_in()
                if wait > 0:
                    _log.warning("connection breaker open; next attempt in %.1fs", wait)
                    await asyncio.sleep(wait)
                self.reconnect_attempts = attempt
                try:
                    if await self._attempt(attempt, reason):
                        self.reconnect_attempts = 0
                        return
                except ModeMismatch as exc:  # no retry can fix what the gateway is logged into
                    self.refusal = exc
                    self._set_state(ConnectionState.REFUSED, f"{reason} refused: {exc}")
                    return
        finally:
            self._connecting = False
        self._set_state(
            ConnectionState.DISCONNECTED, f"gave up after {policy.attempts} attempts ({reason})"
        )

    async def _wait_before_retry(self, delay: float) -> None:
        """Back off for `delay`, but when the last attempt was refused (the gateway was not
        listening), probe the port every `probe_interval` and retry as soon as it listens. A
        gateway that listens but fails the API handshake always gets the full backoff."""
        interval = self.config.probe_interval
        if not self._refused or interval is None:
            await asyncio.sleep(delay)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(interval, left))
            if await self._listening():
                return

    async def _listening(self) -> bool:
        cfg = self.config
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(cfg.host, cfg.port), 1.0)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def _attempt(self, attempt: int, reason: str) -> bool:
        cfg = self.config
        token = _SYNCING.set(True)
        try:
            await self.ib.connectAsync(
                cfg.host, cfg.port, clientId=cfg.client_id, timeout=cfg.connect_timeout,
                account=cfg.account,
            )
            # what the gateway is logged into, checked before anything else is asked or sent
            self.account, self.mode = check_managed_accounts(
                self.ib.managedAccounts(), port=cfg.port, configured=cfg.account,
                expected=cfg.expected_mode,
            )
            await self._sample_server_time()
            self.generation += 1
            if self._on_connected is not None:
                await self._on_connected(False)
        except ModeMismatch:
            self._closing = True
            self.ib.disconnect()
            raise
        except Exception as exc:  # any failed attempt is retried (and counted by the breaker)
            return self._failed(attempt, reason, exc)
        finally:
            _SYNCING.reset(token)
        self.breaker.record_success()
        self._refused = False
        self._misses = 0
        self._last_beat = datetime.now(UTC)
        self._set_state(ConnectionState.CONNECTED, f"connected ({reason}, attempt {attempt})")
        self._start_heartbeat()
        return True

    async def _sample_server_time(self) -> None:
        moment = await asyncio.wait_for(self.ib.reqCurrentTimeAsync(), self.config.connect_timeout)
        stamp = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        self._server_sample = (stamp, self._monotonic())

    def _failed(self, attempt: int, reason: str, exc: BaseException) -> bool:
        self.breaker.record_failure()
        self._refused = isinstance(exc, ConnectionRefusedError)
        _log.warning("IB connect attempt %s (%s) failed: %r", attempt, reason, exc)
        if self.ib.isConnected():
            self.ib.disconnect()
        return False

    # -- events from ib_async ------------------------------------------------------------------
    def _on_disconnected(self) -> None:
        self._ready.clear()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        if self._closing or self._connecting or self.state is ConnectionState.RECONNECTING:
            return
        if self._reconnecting is not None and not self._reconnecting.done():
            return
        reason, self._drop_reason = self._drop_reason or "socket to the gateway closed", ""
        self._set_state(ConnectionState.RECONNECTING, reason)
        self._reconnecting = asyncio.ensure_future(self._attempts("reconnect"))

    def _on_error(self, req_id: int, code: int, message: str, contract: object) -> None:
        if code in _DEGRADING and self.state is ConnectionState.CONNECTED:
            self._set_state(ConnectionState.DEGRADED, message, code)
        elif code in _RESTORED and self.ib.isConnected():
            self.spawn(self._restored(code, full=_RESTORED[code]))
        elif code in _RECONNECT and req_id == -1 and not self._closing:
            self.spawn(self._force_reconnect(f"IB error {code}: {message}"))

    async def _restored(self, code: int, *, full: bool) -> None:
        token = _SYNCING.set(True)
        try:
            if self._on_connected is not None:
                await self._on_connected(full)
        except (BrokerError, ConnectionError, TimeoutError) as exc:
            _log.warning("resync after IB %s failed: %r; reconnecting", code, exc)
            if self.ib.isConnected():
                await self._force_reconnect(f"resync after {code} failed")
            return
        finally:
            _SYNCING.reset(token)
        self._set_state(ConnectionState.CONNECTED, f"IB {code}: connectivity restored", code)

    async def _force_reconnect(self, reason: str) -> None:
        _log.warning("forcing a reconnect: %s", reason)
        self._drop_reason = reason
        self.ib.disconnect()  # fires disconnectedEvent, which starts the reconnect loop

    def _start_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.ensure_future(self._beat())

    async def _beat(self) -> None:
        cfg = self.config
        while not self._closing:
            await asyncio.sleep(cfg.heartbeat_interval)
            try:
                await self.server_time(timeout=cfg.heartbeat_timeout)
            except BrokerError as exc:
                self._misses += 1
                _log.warning("heartbeat missed (%s in a row): %s", self._misses, exc)
                if self._misses >= cfg.heartbeat_misses:
                    self._heartbeat = None
                    await self._force_reconnect("heartbeat missed")
                    return
                continue
            self._misses = 0
            self._last_beat = datetime.now(UTC)

    def _set_state(self, state: ConnectionState, detail: str, code: int | None = None) -> None:
        previous, self.state = self.state, state
        if state in _READY:
            self._ready.set()
        elif state in (ConnectionState.DISCONNECTED, ConnectionState.REFUSED):
            self._ready.set()  # wake waiters: they fail fast instead of waiting out a timeout
            self._ready = asyncio.Event()
        if previous is state and code is None:
            return
        now = datetime.now(UTC)
        _log.info("IB connection %s -> %s: %s", previous.value, state.value, detail)
        self._on_state(ConnectionStateChanged(state, previous, now, now, detail, code))

