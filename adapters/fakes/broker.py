"""`FakeBroker`: an in-memory `Broker` that is simple but correct, for tests and demos.

It records every call it receives (`calls`), matches orders against prices the test sets, and
exposes controls to provoke what real brokers do: partial fills, rejections, stalls, dropped
connections, repeated executions and commissions reported before their fill. It passes the same
contract suite as the real adapters. It must never touch the network or the wall clock for
trading time (time is a `FakeClock`), and never emit an event a real broker could not send.

Behaviour in brief:
- market orders fill at the current price once one is set (`set_price`); limit, stop,
  stop-limit and trailing stops (amount or percent, optional limit offset) fill when a price
  update makes them marketable; limits fill at the market price when it is better;
- brackets: children are accepted with the parent but work only after it fills; the children's
  OCA group cancels the other child when one fills; cancelling or expiring the parent cancels
  children that were still waiting; OCA groups cancel (or reduce) the other members on a fill;
- DAY orders expire at the session close (16:00 in the instrument's zone) and GTD orders at
  their time, when the clock is advanced; IOC orders cancel whatever did not fill at once;
- every execution has a unique id and exactly one `CommissionReport` matched by that id;
- while the connection is dropped every call raises `BrokerError` and no events flow; fills that
  happen meanwhile are kept and reported by `executions()` after `restore_connection()`;
- `lose_connectivity(1100 | 2110)` / `restore_connectivity(data_lost)` report the broker's own
  link failing and coming back (IB's 1100/2110, then 1101/1102) with the socket up: calls keep
  working and the events say DEGRADED, then CONNECTED with the code, as the IBKR adapter's do.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from ordergate.adapters.fakes._account import CommissionModel, FakeAccount, ib_like_commission
from ordergate.adapters.fakes._calls import RecordedCall
from ordergate.adapters.fakes._engine import MatchingEngine
from ordergate.adapters.fakes._stream import EventStream, Subscription
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.domain.account import AccountSummary, BrokerPosition, OrderView
from ordergate.domain.errors import BrokerError, BrokerRejected, BrokerTimeout, InvalidValue
from ordergate.domain.events import ConnectionState, ConnectionStateChanged
from ordergate.domain.instruments import Instrument
from ordergate.domain.orders import ExecutionFill
from ordergate.domain.risk.decision import ApprovedOrder
from ordergate.domain.values import BrokerOrderId, ClientOrderId
from ordergate.ports.approvals import Refusal, redeem
from ordergate.ports.broker import BrokerEvent

__all__ = ["FakeBroker"]

_CLOSE = time(16, 0)
_DEGRADING = {
    1100: "connectivity between the broker and the gateway has been lost",
    2110: "connectivity between the gateway and its server is broken",
}
_RESTORED = {
    1101: "connectivity restored - data lost",
    1102: "connectivity restored - data maintained",
}


class FakeBroker:
    """An in-memory broker for one account. See the module docstring for its behaviour.

    Controls (synchronous unless noted): `set_price`, `set_fill_limit`, `fill`, `reject`,
    `reject_next`, `stall`, `drop_connection`, `restore_connection`, `lose_connectivity`,
    `restore_connectivity`, `duplicate_next_fill`,
    `commission_before_fill`, `add_instrument`; `close()` (async) ends every event stream.
    """

    def __init__(
        self,
        clock: FakeClock,
        instruments: Iterable[Instrument],
        *,
        account_id: str = "DU0000000",
        starting_cash: Decimal = Decimal(100_000),
        commission: CommissionModel = ib_like_commission,
        session_close: time = _CLOSE,
        execution_prefix: str = "FAKE",
    ) -> None:
        self._clock = clock
        self._stream: EventStream[BrokerEvent] = EventStream()
        self._account = FakeAccount(account_id, starting_cash)
        self._engine = MatchingEngine(
            clock=clock,
            account=self._account,
            instruments=instruments,
            emit=self._emit,
            commission=commission,
            session_close=session_close,
            execution_prefix=execution_prefix,
        )
        clock.on_advance(self._engine.on_time)
        self.calls: list[RecordedCall] = []
        self._call_listeners: list[Callable[[RecordedCall], None]] = []
        self.sent: list[BrokerEvent] = []
        self._stalls: deque[float] = deque()
        self._session = False
        self._link_up = True
        self._degraded = False

    # -- connection --------------------------------------------------------------------------
    async def connect(self, *, timeout: float) -> None:
        """Open the session; idempotent. Raises `BrokerError` while the link is dropped."""
        self._record("connect", timeout=timeout)
        await self._delay("connect", timeout)
        if not self._link_up:
            raise BrokerError("connect: the broker is unreachable (connection dropped)")
        if not self._session:
            self._session = True
            self._emit_connection(ConnectionState.CONNECTED, ConnectionState.DISCONNECTED, "")

    async def disconnect(self, *, timeout: float) -> None:
        """Close the session; working orders stay at the broker. Works even while dropped."""
        self._record("disconnect", timeout=timeout)
        if self._session and self._link_up:  # a dropped link already said DISCONNECTED
            self._emit_connection(ConnectionState.DISCONNECTED, ConnectionState.CONNECTED, "")
        self._session = False

    def is_connected(self) -> bool:
        """True while the session is open and the link is up."""
        return self._session and self._link_up

    # -- orders ------------------------------------------------------------------------------
    async def qualify(self, instrument: Instrument, *, timeout: float) -> Instrument:
        """The broker's definition of `instrument`; `BrokerRejected` when it has none."""
        await self._call("qualify", timeout, instrument=instrument)
        known = self._engine.instruments.get(instrument.id)
        if known is None:
            raise BrokerRejected(f"no security definition has been found for {instrument.id}", 200)
        return known

    async def submit(self, order: ApprovedOrder, *, timeout: float) -> BrokerOrderId:
        """Place one approved order; ACCEPTED or REJECTED follows on `events()`. An approval
        the risk gate did not issue is refused (`UnapprovedOrder`) before anything else."""
        self._record("submit", timeout=timeout, order=order)
        approved = self._redeem((order,))
        await self._call("submit", timeout, record=False)
        return self._engine.place(approved)[0]

    async def submit_list(
        self, orders: tuple[ApprovedOrder, ...], *, timeout: float
    ) -> tuple[BrokerOrderId, ...]:
        """Place a bracket or an OCA group; the whole list is validated before any is placed."""
        self._record("submit_list", timeout=timeout, orders=orders)
        approved = self._redeem(orders)
        await self._call("submit_list", timeout, record=False)
        return self._engine.place(approved)

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
        """Change a working order; UPDATED confirms, `BrokerRejected` if it cannot be changed."""
        await self._call(
            "modify",
            timeout,
            client_order_id=client_order_id,
            quantity=quantity,
            limit_price=limit_price,
            stop_price=stop_price,
            trail_amount=trail_amount,
            trail_percent=trail_percent,
        )
        self._engine.modify(
            client_order_id, quantity, limit_price, stop_price, (trail_amount, trail_percent)
        )

    async def cancel(self, client_order_id: ClientOrderId, *, timeout: float) -> None:
        """Cancel a working order; CANCELED confirms, `BrokerRejected` if it is not working."""
        await self._call("cancel", timeout, client_order_id=client_order_id)
        self._engine.cancel(client_order_id)

    async def cancel_all(self, *, timeout: float) -> None:
        """Cancel every working order of the account (however it was placed); CANCELED each."""
        await self._call("cancel_all", timeout)
        for client_order_id, book in list(self._engine.orders.items()):
            if book.is_working:  # a bracket child may have ended with its parent meanwhile
                self._engine.cancel(client_order_id)

    async def order_status(self, client_order_id: ClientOrderId, *, timeout: float) -> OrderView:
        """The broker's view of one order; `UnknownOrder` if it never had it."""
        await self._call("order_status", timeout, client_order_id=client_order_id)
        return self._engine.book(client_order_id).view()

    async def open_orders(self, *, timeout: float) -> list[OrderView]:
        """Working orders (bracket children waiting for their parent included)."""
        await self._call("open_orders", timeout)
        return [book.view() for book in self._engine.orders.values() if book.is_working]

    async def positions(self, *, timeout: float) -> list[BrokerPosition]:
        """Non-zero positions."""
        await self._call("positions", timeout)
        return self._account.positions()

    async def executions(self, since: datetime, *, timeout: float) -> list[ExecutionFill]:
        """Executions at or after `since`, with their commissions, in execution order."""
        await self._call("executions", timeout, since=since)
        return self._account.executions(since)

    async def account_summary(self, *, timeout: float) -> AccountSummary:
        """Cash and balances, positions valued at their last price."""
        await self._call("account_summary", timeout)
        return self._account.summary(self._clock.now())

    def events(self) -> Subscription[BrokerEvent]:
        """A new subscription to every event sent from now on."""
        return self._stream.subscribe()

    async def close(self) -> None:
        """End every event subscription (after disconnecting if still connected)."""
        if self._session:
            await self.disconnect(timeout=1.0)
        self._stream.close()

    # -- controls ----------------------------------------------------------------------------
    def set_price(self, instrument: Instrument, price: Decimal) -> None:
        """The market trades at `price`: marketable working orders of `instrument` fill."""
        if price <= 0:
            raise InvalidValue("FakeBroker.set_price.price", price, "must be > 0")
        self._engine.set_price(instrument.id, price)

    def price(self, instrument: Instrument) -> Decimal | None:
        """The last price set for `instrument`, if any."""
        return self._engine.prices.get(instrument.id)

    def set_fill_limit(self, quantity: Decimal | None) -> None:
        """Cap the quantity each order fills per price update (partial fills); None: no cap."""
        if quantity is not None and quantity <= 0:
            raise InvalidValue("FakeBroker.set_fill_limit.quantity", quantity, "must be > 0")
        self._engine.fill_limit = quantity

    def fill(
        self,
        client_order_id: ClientOrderId,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
    ) -> ExecutionFill:
        """Execute a working order now (all of what is left by default) at `price` (default: the
        current price, else its limit or stop price), whatever its conditions say."""
        return self._engine.force_fill(client_order_id, quantity, price)

    def reject(self, client_order_id: ClientOrderId, reason: str) -> None:
        """Reject a working, unfilled order after it was accepted (like IB's error 201)."""
        self._engine.reject(client_order_id, reason)

    def reject_next(self, reason: str) -> None:
        """The next order placed gets REJECTED with `reason` (a bracket's children are too)."""
        self._engine.reject_next = reason

    def stall(self, seconds: float) -> None:
        """The next call's reply is delayed by `seconds` of real time (it times out if its
        `timeout` is shorter; a call that times out has no effect)."""
        self._stalls.append(seconds)

    def drop_connection(self, detail: str = "connection dropped") -> None:
        """The link goes down: ConnectionStateChanged(DISCONNECTED), then calls raise and
        no events flow; the market keeps trading."""
        if self._link_up and self._session:
            previous = ConnectionState.DEGRADED if self._degraded else ConnectionState.CONNECTED
            self._emit_connection(ConnectionState.DISCONNECTED, previous, detail)
        self._link_up = False
        self._degraded = False

    def restore_connection(self) -> None:
        """The link comes back and the session resumes: ConnectionStateChanged(CONNECTED)."""
        if self._link_up:
            return
        self._link_up = True
        if self._session:
            self._emit_connection(
                ConnectionState.CONNECTED, ConnectionState.DISCONNECTED, "connection restored"
            )

    def lose_connectivity(self, code: int = 1100, detail: str = "") -> None:
        """The broker's own link fails with the socket up (IB 1100, or 2110): one
        ConnectionStateChanged(DEGRADED, code). Calls and events keep working."""
        if code not in _DEGRADING:
            raise InvalidValue(
                "FakeBroker.lose_connectivity.code", code, "must be 1100 or 2110 (IB's codes)"
            )
        if self.is_connected() and not self._degraded:
            self._degraded = True
            self._emit_connection(
                ConnectionState.DEGRADED,
                ConnectionState.CONNECTED,
                detail or _DEGRADING[code],
                code,
            )

    def restore_connectivity(self, data_lost: bool = False) -> None:
        """The broker's link is back (IB 1101 when `data_lost`, else 1102): one
        ConnectionStateChanged(CONNECTED, code). Nothing was missed: events kept flowing."""
        if not (self.is_connected() and self._degraded):
            return
        self._degraded = False
        code = 1101 if data_lost else 1102
        self._emit_connection(
            ConnectionState.CONNECTED, ConnectionState.DEGRADED, _RESTORED[code], code
        )

    def duplicate_next_fill(self) -> None:
        """The next execution is reported twice (same execution id), as brokers sometimes do."""
        self._engine.duplicate_next_fill = True

    def commission_before_fill(self, enabled: bool = True) -> None:
        """From now on (until disabled) each commission report is sent before its fill."""
        self._engine.commission_first = enabled

    def add_instrument(self, instrument: Instrument) -> None:
        """Make `instrument` known to the broker."""
        self._engine.instruments[instrument.id] = instrument

    def on_call(self, listener: Callable[[RecordedCall], None]) -> None:
        """Call `listener(call)` as each call is recorded, before it has any effect: a test sees
        what else held when the broker was asked (what the audit log had made durable, say)."""
        self._call_listeners.append(listener)

    def calls_to(self, method: str) -> list[RecordedCall]:
        """The recorded calls of one port method, oldest first."""
        return [call for call in self.calls if call.method == method]

    # -- internals ---------------------------------------------------------------------------
    def _redeem(self, orders: tuple[object, ...]) -> tuple[ApprovedOrder, ...]:
        try:
            return redeem(orders)
        except Refusal as refusal:
            # Reported even while the link is down: the attempt matters more than the link.
            event = refusal.event(self._clock.now())
            self.sent.append(event)
            self._stream.publish(event)
            raise

    def _record(self, method: str, **arguments: Any) -> None:
        call = RecordedCall(method, tuple(arguments.items()), self._clock.now())
        self.calls.append(call)
        for listener in self._call_listeners:
            listener(call)

    async def _call(
        self, method: str, timeout: float, *, record: bool = True, **arguments: Any
    ) -> None:
        if record:
            self._record(method, timeout=timeout, **arguments)
        self._check_connected(method)
        await self._delay(method, timeout)
        self._check_connected(method)

    def _check_connected(self, method: str) -> None:
        if not self.is_connected():
            why = "the connection is dropped" if self._session else "not connected"
            raise BrokerError(f"{method}: {why}; connect (or wait for the link) and retry")

    async def _delay(self, method: str, timeout: float) -> None:
        if timeout <= 0:
            raise InvalidValue(f"FakeBroker.{method}.timeout", timeout, "must be > 0 seconds")
        delay = self._stalls.popleft() if self._stalls else 0.0
        if delay > timeout:
            await asyncio.sleep(timeout)
            raise BrokerTimeout(f"FakeBroker.{method}", timeout)
        if delay > 0:
            await asyncio.sleep(delay)

    def _emit(self, event: BrokerEvent) -> None:
        if self.is_connected():
            self.sent.append(event)
            self._stream.publish(event)

    def _emit_connection(
        self,
        state: ConnectionState,
        previous: ConnectionState,
        detail: str,
        code: int | None = None,
    ) -> None:
        now = self._clock.now()
        event = ConnectionStateChanged(
            state=state, previous=previous, ts_event=now, ts_init=now, detail=detail, code=code
        )
        self.sent.append(event)
        self._stream.publish(event)
