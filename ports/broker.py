"""The `Broker` port: what the application needs from any broker (IB, the simulator, a fake).

Contract (proved for every adapter by `tests/contract/test_broker_contract.py`):
- Every I/O method takes a keyword `timeout` in seconds and raises
  `ordergate.domain.errors.BrokerTimeout` when it expires; no call hangs.
- `submit` / `submit_list` accept only `ApprovedOrder`s the risk gate issued: before sending
  anything the adapter redeems them (`ordergate.ports.approvals.redeem`); a hand-built, copied,
  altered or already used approval is refused with `UnapprovedOrder`, reported first as an
  `UnapprovedOrderRefused` event (the running gate audits it), and nothing is sent.
  Submitting returns once the broker has the order (not when it fills); what happens next
  arrives on `events()`: ACCEPTED or REJECTED, then fills (`ExecutionFill`) and commissions
  (`CommissionReport`, possibly before or after its fill), CANCELED / EXPIRED.
- Events for one order arrive in the order the broker produced them; an `ExecutionFill` may be
  repeated by the broker (same `execution_id`), consumers apply fills idempotently. Fills that
  happened while disconnected are emitted once, after the resync, as `FillRecovered`.
- `modify` and `cancel` are requests: the order changes when the broker confirms (UPDATED /
  CANCELED events), and `BrokerRejected` is raised for an unknown or finished order.
- An option position still open at expiry is settled by the broker: `OptionExercised` (long, in
  the money), `OptionAssigned` (short, in the money) or `OptionExpired` (lapsed), each once per
  `settlement_id`; the option position is gone and the stock delivered in `positions()`.
- `cancel_all` asks the broker to cancel every working order of the account, whoever placed it
  (another client, another process, a person at the broker's terminal); `open_orders` shows
  when it has taken effect, and orders this adapter placed also report CANCELED on `events()`.
- Quantities and prices are `Decimal`, times aware UTC; floats never cross this port.
- `positions`, `open_orders` and `executions` report the broker's truth (used for resync);
  `open_orders` lists every working order of the account, including orders other clients placed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from ordergate.domain.account import AccountSummary, BrokerPosition, OrderView
from ordergate.domain.events import (
    ConnectionStateChanged,
    FillRecovered,
    OptionAssigned,
    OptionExercised,
    OptionExpired,
    PositionSnapshot,
    UnapprovedOrderRefused,
)
from ordergate.domain.instruments import Instrument
from ordergate.domain.orders.events import CommissionReport, ExecutionFill, OrderLifecycleEvent
from ordergate.domain.risk.decision import ApprovedOrder
from ordergate.domain.values import BrokerOrderId, ClientOrderId

__all__ = ["Broker", "BrokerEvent"]

BrokerEvent = (
    OrderLifecycleEvent
    | ExecutionFill
    | CommissionReport
    | ConnectionStateChanged
    | PositionSnapshot
    | FillRecovered
    | OptionExercised
    | OptionAssigned
    | OptionExpired
    | UnapprovedOrderRefused
)


@runtime_checkable
class Broker(Protocol):
    """A broker connection. One instance serves one account."""

    async def connect(self, *, timeout: float) -> None:
        """Open the connection; idempotent when already connected."""

    async def disconnect(self, *, timeout: float) -> None:
        """Close the connection. Working orders stay at the broker (they are not cancelled)."""

    def is_connected(self) -> bool:
        """True while orders can be sent."""

    async def qualify(self, instrument: Instrument, *, timeout: float) -> Instrument:
        """Resolve an instrument with the broker; raises `BrokerRejected` if it is unknown."""

    async def submit(self, order: ApprovedOrder, *, timeout: float) -> BrokerOrderId:
        """Send one approved order; returns the broker's id once the broker has it."""

    async def submit_list(
        self, orders: tuple[ApprovedOrder, ...], *, timeout: float
    ) -> tuple[BrokerOrderId, ...]:
        """Send a bracket (parent first, children by `parent_id`) or an OCA group atomically."""

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
        """Ask the broker to change a working order (a trailing stop's amount or percent too);
        confirmation arrives as UPDATED. Works on an order not yet acknowledged."""

    async def cancel(self, client_order_id: ClientOrderId, *, timeout: float) -> None:
        """Ask the broker to cancel a working order; confirmation arrives as CANCELED."""

    async def cancel_all(self, *, timeout: float) -> None:
        """Ask the broker to cancel every working order of this account, whoever placed it;
        returns once the broker has the request (see the module docstring)."""

    async def order_status(self, client_order_id: ClientOrderId, *, timeout: float) -> OrderView:
        """The broker's current view of one order; `UnknownOrder` if it has none."""

    async def open_orders(self, *, timeout: float) -> list[OrderView]:
        """Every working order of this account."""

    async def positions(self, *, timeout: float) -> list[BrokerPosition]:
        """Every non-zero position of this account."""

    async def executions(self, since: datetime, *, timeout: float) -> list[ExecutionFill]:
        """Executions at or after `since`, with commissions where known, in execution order."""

    async def account_summary(self, *, timeout: float) -> AccountSummary:
        """Cash, net liquidation, available funds and buying power."""

    def events(self) -> AsyncIterator[BrokerEvent]:
        """A new subscription: every event the broker emits from now on, in broker order."""
