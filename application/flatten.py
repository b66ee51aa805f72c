"""Flatten the account: cancel every working order at the broker, then close the net positions.

`Flattener.flatten()` is what `ordergate flatten`, `ordergate kill` and `OrderGate.flatten` /
`OrderGate.kill` run:
1. it asks the broker for every working order of the account — this process's and any other's
   (another client id, a previous run, a person at the broker's terminal) — and, if there are
   any, records `broker.cancel_all` (durable first) and asks the broker to cancel them all;
2. it waits (within `timeout`) until the broker reports none working, then lets the event pump
   apply the cancellations and learns what this session missed (`resync`: orders the broker
   ended unheard are ended, then positions are moved to the broker's), so a working order the
   gate still believes in cannot shrink the closure;
3. it sends one gated FLATTEN market order per net position, for the position net of whatever
   is still working on the closing side (own orders through the portfolio, other orders from
   the broker's list), so a late fill of an order that did not cancel in time cannot leave the
   account short of flat: flatten never over-closes.

In dry-run mode nothing is sent: the working orders are listed (and recorded with
`dry_run: true`) and the closures are SIMULATED by the gate. This module reaches the broker only
through `open_orders`, `cancel_all` and the gate; it never submits an order itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal

import attrs

from ordergate.application.audit_records import broker_call_record
from ordergate.application.desk import TradingDesk
from ordergate.application.results import ExecutionMode, OrderResult, OrderResultStatus
from ordergate.domain.account import OrderView
from ordergate.domain.orders.enums import OrderIntent, OrderType
from ordergate.domain.orders.request import ClosureReason, OrderRequest
from ordergate.domain.sizing import round_down
from ordergate.domain.strategy_c import closing_quantity, closure_id_factory
from ordergate.domain.values import ClientOrderId, CorrelationId, InstrumentId, Side
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.broker import Broker
from ordergate.ports.clock import Clock

__all__ = ["FlattenReport", "Flattener"]

_SENT = frozenset(
    {
        OrderResultStatus.SUBMITTED,
        OrderResultStatus.PARTIAL,
        OrderResultStatus.FILLED,
        OrderResultStatus.SIMULATED,
    }
)
_POLL = 0.05  # seconds between looks at the broker's open orders while cancels take effect


@attrs.frozen
class FlattenReport:
    """What a flatten did: the working orders it asked the broker to cancel, those still
    working when it stopped waiting, and one result per closure."""

    cancelled: tuple[OrderView, ...]
    still_working: tuple[OrderView, ...]
    closures: tuple[OrderResult, ...]

    @property
    def unsent(self) -> tuple[OrderResult, ...]:
        """The closures that were not sent (denied, rejected or failed)."""
        return tuple(r for r in self.closures if r.status not in _SENT)

    @property
    def ok(self) -> bool:
        """True when no order is left working and every closure was sent (or simulated)."""
        return not self.still_working and not self.unsent


class Flattener:
    """The flatten use case of one account (see the module docstring)."""

    def __init__(
        self,
        *,
        broker: Broker,
        desk: TradingDesk,
        submit: Callable[[OrderRequest], Awaitable[OrderResult]],
        settle: Callable[[], Awaitable[None]],
        resync: Callable[[], Awaitable[object]],
        audit: AuditLog,
        clock: Clock,
        mode: ExecutionMode,
        operator_id: str,
        timeout: float,
    ) -> None:
        self._broker = _CancelOnly(broker)
        self._desk = desk
        self._submit = submit
        self._settle = settle
        self._resync = resync
        self._audit = audit
        self._clock = clock
        self._mode = mode
        self._operator_id = operator_id
        self._timeout = timeout

    async def flatten(self, reason: ClosureReason = ClosureReason.MANUAL) -> FlattenReport:
        """Cancel everything working, then close every net position (see the module docs)."""
        working = await self._broker.open_orders(timeout=self._timeout)
        still: list[OrderView] = []
        if working:
            still = await self._cancel_all(working)
        await self._settle()
        await self._resync()
        closures = []
        for position in list(self._desk.portfolio.open_positions()):
            result = await self._close(position.instrument_id, reason, still)
            if result is not None:
                closures.append(result)
        return FlattenReport(tuple(working), tuple(still), tuple(closures))

    async def _cancel_all(self, working: Sequence[OrderView]) -> list[OrderView]:
        """Record, then ask the broker to cancel everything; the orders still working after
        `timeout` (all of them in dry-run, where nothing is sent)."""
        dry_run = self._mode is ExecutionMode.DRY_RUN
        await self._audit.append(
            broker_call_record(
                "cancel_all",
                self._clock.now(),
                None,
                dry_run=dry_run,
                working=[_describe(view) for view in working],
            )
        )
        if dry_run:
            return list(working)
        await self._broker.cancel_all(timeout=self._timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        while True:
            left = await self._broker.open_orders(timeout=self._timeout)
            if not left or loop.time() >= deadline:
                break
            await asyncio.sleep(_POLL)
        await self._audit.append(
            broker_call_record(
                "cancel_all_result",
                self._clock.now(),
                None,
                still_working=[_describe(view) for view in left],
            )
        )
        return left

    async def _close(
        self, instrument_id: InstrumentId, reason: ClosureReason, still: Sequence[OrderView]
    ) -> OrderResult | None:
        portfolio = self._desk.portfolio
        position = portfolio.position(instrument_id)
        if position is None or position.is_flat:
            return None
        side = Side.SELL if position.quantity > 0 else Side.BUY
        # The portfolio nets the working orders it knows (this gate's); the broker's list adds
        # the ones it does not (placed elsewhere) that did not cancel in time.
        foreign = sum(
            (
                v.leaves_qty
                for v in still
                if v.instrument_id == instrument_id
                and v.side is side
                and v.client_order_id not in portfolio.orders
            ),
            Decimal(0),
        )
        quantity = closing_quantity(portfolio, instrument_id) - foreign
        quantity = round_down(max(quantity, Decimal(0)), position.instrument.size_increment)
        cid = await self._fresh_id(instrument_id, reason)
        if quantity <= 0:
            return OrderResult(
                cid,
                OrderResultStatus.FAILED,
                self._clock.now(),
                self._mode,
                None,
                reason=f"{instrument_id}: the position is covered by orders still working "
                "at the broker; nothing sent (it would over-close)",
            )
        return await self._submit(
            OrderRequest(
                client_order_id=cid,
                instrument=position.instrument,
                side=side,
                quantity=quantity,
                order_type=OrderType.MARKET,
                intent=OrderIntent.FLATTEN,
                closure_reason=reason,
                correlation_id=CorrelationId(cid.value),
                operator_id=self._operator_id,
            )
        )


    async def _fresh_id(self, instrument_id: InstrumentId, reason: ClosureReason) -> ClientOrderId:
        """`FL-<reason>-<instrument>-<time>`, free in this session and in the audit log: a
        restarted process flattening at the same instant must not reuse an earlier id (the
        broker would refuse it as a duplicate and the position would stay open)."""
        taken = set(self._desk.seen_client_order_ids)
        while True:
            cid = closure_id_factory("FL", self._clock.now(), taken)(instrument_id, reason)
            if not await self._audit.query(correlation_id=CorrelationId(cid.value), limit=1):
                return cid
            taken.add(cid)


def _describe(view: OrderView) -> dict[str, str | None]:
    return {
        "client_order_id": view.client_order_id.value,
        "broker_order_id": None if view.broker_order_id is None else view.broker_order_id.value,
        "instrument": view.instrument_id.value,
        "side": view.side.value,
        "leaves": str(view.leaves_qty),
    }


class _CancelOnly:
    """The broker seen through its open orders and its global cancel: no submit here."""

    def __init__(self, broker: Broker) -> None:
        self.open_orders = broker.open_orders
        self.cancel_all = broker.cancel_all
