"""`SimBroker`: the `Broker` port over the simulator's `MatchingEngine` and `SimClock`.

The port side is async like every broker: each call takes `timeout` and raises `BrokerTimeout`
when it expires (the simulator answers at once unless a test `stall`s it), and every event the
engine produces is fanned out to each `events()` subscription in engine order. The market side
(`feed_bar`, `feed_sim_bar`, `feed_tick`) is synchronous: it is the simulated exchange, driven by
a replay or a test, and it moves the clock to the data's time. This module never blocks, never
reads the wall clock, and never touches `ib_async`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from decimal import Decimal

from ordergate.adapters.sim.bars import SimBar
from ordergate.adapters.sim.clock import SimClock
from ordergate.adapters.sim.engine import MatchingEngine
from ordergate.domain.account import AccountSummary, BrokerPosition, OrderView
from ordergate.domain.errors import BrokerError, BrokerRejected, BrokerTimeout
from ordergate.domain.events import ConnectionState, ConnectionStateChanged
from ordergate.domain.instruments import Instrument
from ordergate.domain.market import Bar
from ordergate.domain.orders.events import ExecutionFill
from ordergate.domain.risk.decision import ApprovedOrder
from ordergate.domain.values import BrokerOrderId, ClientOrderId
from ordergate.ports.approvals import Refusal, redeem
from ordergate.ports.broker import BrokerEvent

__all__ = ["SimBroker", "SimEventStream"]


class SimEventStream:
    """One subscription to a `SimBroker`'s events: an async iterator over everything emitted
    after it was created. `close()` ends it (iteration stops once the queue is drained)."""

    __slots__ = ("_broker", "_closed", "_queue")

    def __init__(self, broker: SimBroker) -> None:
        self._broker = broker
        self._queue: asyncio.Queue[BrokerEvent | None] = asyncio.Queue()
        self._closed = False

    def put(self, event: BrokerEvent) -> None:
        """Deliver one event to this subscription (never blocks)."""
        self._queue.put_nowait(event)

    def pending(self) -> int:
        """Events received and not yet consumed."""
        return self._queue.qsize()

    def __aiter__(self) -> SimEventStream:
        return self

    async def __anext__(self) -> BrokerEvent:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event

    def close(self) -> None:
        """Unsubscribe; a pending `__anext__` finishes."""
        if not self._closed:
            self._closed = True
            self._broker.unsubscribe(self)
            self._queue.put_nowait(None)

    async def aclose(self) -> None:
        """Async alias of `close` (the async-generator protocol)."""
        self.close()


class SimBroker:
    """A simulated broker account: the `Broker` port plus the controls of a simulated market.

    Build it with an engine (instruments added) and the clock the rest of the simulation uses.
    The clock's `advance` expires orders and releases latency-held requests through this broker.
    """

    def __init__(self, engine: MatchingEngine, clock: SimClock) -> None:
        self.engine = engine
        self.clock = clock
        self._connected = False
        self._subscribers: list[SimEventStream] = []
        self._stall = 0.0
        self.on_command: Callable[..., None] | None = None
        """Told of every order command the engine took, after it took it (`SimJournal.append`:
        the simulated account survives a restart of `ordergate serve`)."""
        clock.on_advance(self._time_passed)

    # -- controls (not part of the port) -------------------------------------------------------
    def stall(self, seconds: float) -> None:
        """Delay the next port call's reply by `seconds` of real time (to exercise timeouts)."""
        self._stall = seconds

    def feed_sim_bar(self, bar: SimBar) -> list[BrokerEvent]:
        """A bar traded: match it, move the clock to its end, publish and return the events."""
        events = self.engine.on_sim_bar(bar)
        self.clock.move_quietly(self.engine.now)
        if events:
            self._publish(events)
        return events  # type: ignore[return-value]

    def feed_bar(self, bar: Bar) -> list[BrokerEvent]:
        """`feed_sim_bar` for a domain `Bar`."""
        return self.feed_sim_bar(SimBar.from_bar(bar))

    def feed_tick(
        self,
        instrument: Instrument,
        price: Decimal,
        *,
        bid: Decimal | None = None,
        ask: Decimal | None = None,
        size: Decimal | None = None,
        ts: datetime | None = None,
    ) -> list[BrokerEvent]:
        """A trade at `price` at `ts` (default: now; bid/ask default to the price): working
        orders match the quote, and the clock moves to `ts`."""
        events = self.engine.on_tick(instrument.id, price, ts=ts, bid=bid, ask=ask, size=size)
        if ts is not None:
            self.clock.move_quietly(self.engine.now)
        if events:
            self._publish(events)
        return events  # type: ignore[return-value]

    def unsubscribe(self, stream: SimEventStream) -> None:
        """Stop delivering events to `stream`."""
        if stream in self._subscribers:
            self._subscribers.remove(stream)

    def _journal(self, kind: str, *args: object) -> None:
        if self.on_command is not None:
            self.on_command(kind, *args)

    def _time_passed(self, now: datetime) -> None:
        events = self.engine.advance_to(now)
        if events:
            self._publish(events)

    def _publish(self, events: Sequence[BrokerEvent]) -> None:
        for stream in self._subscribers:
            for event in events:
                stream.put(event)

    async def _enter(self, operation: str, timeout: float) -> None:
        """Honour `timeout` (and a pending stall) before doing `operation`."""
        if timeout <= 0:
            raise BrokerTimeout(operation, timeout)
        stall, self._stall = self._stall, 0.0
        if stall > 0:
            try:
                await asyncio.wait_for(asyncio.sleep(stall), timeout)
            except TimeoutError:
                raise BrokerTimeout(operation, timeout) from None

    def _redeem(self, orders: tuple[object, ...]) -> tuple[ApprovedOrder, ...]:
        """The gate's approvals of one send, used; a refusal is reported on `events()` first."""
        try:
            return redeem(orders)
        except Refusal as refusal:
            self._publish([refusal.event(self.clock.now())])
            raise

    def _require_connection(self, operation: str) -> None:
        if not self._connected:
            raise BrokerError(
                f"{operation}: the simulated broker is not connected; call connect() first"
            )

    def _set_connected(self, connected: bool) -> None:
        if connected == self._connected:
            return
        self._connected = connected
        now = self.clock.now()
        states = (ConnectionState.DISCONNECTED, ConnectionState.CONNECTED)
        self._publish(
            [ConnectionStateChanged(states[connected], states[not connected], now, now, "sim")]
        )

    # -- the Broker port -----------------------------------------------------------------------
    async def connect(self, *, timeout: float) -> None:
        """Connect (idempotent)."""
        await self._enter("connect", timeout)
        self._set_connected(True)

    async def disconnect(self, *, timeout: float) -> None:
        """Disconnect; working orders stay working in the simulated market."""
        await self._enter("disconnect", timeout)
        self._set_connected(False)

    def is_connected(self) -> bool:
        """True while orders can be sent."""
        return self._connected

    async def qualify(self, instrument: Instrument, *, timeout: float) -> Instrument:
        """The simulation's definition of `instrument`; `BrokerRejected` (200) if unknown."""
        await self._enter("qualify", timeout)
        self._require_connection("qualify")
        known = self.engine.instrument(instrument.id)
        if known is None or known != instrument:
            raise BrokerRejected(
                f"No security definition has been found for the request: {instrument.id}", 200
            )
        return known

    async def submit(self, order: ApprovedOrder, *, timeout: float) -> BrokerOrderId:
        """Send one approved order; its ACCEPTED/REJECTED and fills arrive on `events()`."""
        (approved,) = self._redeem((order,))
        await self._enter("submit", timeout)
        self._require_connection("submit")
        broker_order_id, events = self.engine.submit(approved.request)
        self._journal("submit", approved.request)
        if events:
            self._publish(events)
        return broker_order_id

    async def submit_list(
        self, orders: tuple[ApprovedOrder, ...], *, timeout: float
    ) -> tuple[BrokerOrderId, ...]:
        """Send a bracket (parent first) or an OCA group in one step."""
        approved = self._redeem(orders)
        await self._enter("submit_list", timeout)
        self._require_connection("submit_list")
        ids, events = self.engine.submit_list([o.request for o in approved])
        self._journal("submit_list", tuple(o.request for o in approved))
        if events:
            self._publish(events)
        return ids

    async def modify(
        self,
        client_order_id: ClientOrderId,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        trail_amount: Decimal | None = None,
        trail_percent: Decimal | None = None,
        timeout: float,
    ) -> None:
        """Request a change; UPDATED (or MODIFY_REJECTED) arrives on `events()`."""
        await self._enter("modify", timeout)
        self._require_connection("modify")
        events = self.engine.modify(
            client_order_id,
            quantity=quantity,
            limit_price=limit_price,
            stop_price=stop_price,
            trail_amount=trail_amount,
            trail_percent=trail_percent,
        )
        changes = {
            "quantity": quantity,
            "limit_price": limit_price,
            "stop_price": stop_price,
            "trail_amount": trail_amount,
            "trail_percent": trail_percent,
        }
        self._journal("modify", client_order_id, changes)
        if events:
            self._publish(events)

    async def cancel(self, client_order_id: ClientOrderId, *, timeout: float) -> None:
        """Request a cancellation; CANCELED arrives on `events()`."""
        await self._enter("cancel", timeout)
        self._require_connection("cancel")
        events = self.engine.cancel(client_order_id)
        self._journal("cancel", client_order_id)
        if events:
            self._publish(events)

    async def cancel_all(self, *, timeout: float) -> None:
        """Request the cancellation of every submitted or working order; CANCELED arrives on
        `events()` for each (after the simulated latency, if any)."""
        await self._enter("cancel_all", timeout)
        self._require_connection("cancel_all")
        events = self.engine.cancel_all()
        self._journal("cancel_all")
        if events:
            self._publish(events)

    async def order_status(self, client_order_id: ClientOrderId, *, timeout: float) -> OrderView:
        """The simulated broker's view of one order; `UnknownOrder` if it has none."""
        await self._enter("order_status", timeout)
        self._require_connection("order_status")
        return self.engine.order_view(client_order_id)

    async def open_orders(self, *, timeout: float) -> list[OrderView]:
        """Every submitted or working order."""
        await self._enter("open_orders", timeout)
        self._require_connection("open_orders")
        return self.engine.open_orders()

    async def positions(self, *, timeout: float) -> list[BrokerPosition]:
        """Every non-zero position."""
        await self._enter("positions", timeout)
        self._require_connection("positions")
        return self.engine.positions()

    async def executions(self, since: datetime, *, timeout: float) -> list[ExecutionFill]:
        """Executions at or after `since`, with commissions, in execution order."""
        await self._enter("executions", timeout)
        self._require_connection("executions")
        return self.engine.executions(since)

    async def account_summary(self, *, timeout: float) -> AccountSummary:
        """Cash, net liquidation, available funds and buying power, marked at last prices."""
        await self._enter("account_summary", timeout)
        self._require_connection("account_summary")
        return self.engine.account_summary()

    def events(self) -> AsyncIterator[BrokerEvent]:
        """A new subscription to every event emitted from now on, in engine order."""
        stream = SimEventStream(self)
        self._subscribers.append(stream)
        return stream
