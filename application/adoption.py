"""Adoption: a gate that starts (or reconnects) takes the broker's truth as its own.

A restarted process knows nothing but the audit log. `Adopter.adopt()` rebuilds what it trades
from the broker, the source of truth, and what the audit log says this operator decided:

1. **Open orders.** Every working order the broker lists is either this operator's — the
   broker names it by the client order id this gate gave it (IB: the `orderRef` carries the
   operator id and the client order id) and the audit log holds the approving `risk.decision`
   of that id for this operator — or foreign (another client, another operator, a person at
   the terminal). Ours is rebuilt as an `Order` from the latest decided request of that id,
   with the broker's quantity and prices (a modify the broker confirmed wins), and tracked by
   the portfolio: from then on it is managed (modify, cancel, its OCO group) like one placed in
   this process. Foreign orders are never touched except by `cancel_all`/flatten; they are
   recorded (`adoption.foreign_order`) and the flattener and the reconciler know them as such.
2. **Executions.** Every execution the broker reports for today's session is applied once to
   the portfolio: one the audit log already knows (`broker.fill` / `broker.fill_recovered`)
   is re-applied quietly (it is how the earlier process built its position); one it does not
   know was missed while no process listened and goes through the event processor as a
   `FillRecovered` (audited, published, applied once).
3. **Positions.** Whatever the executions do not explain (a position older than the broker's
   execution report, a transfer) is taken from the broker's positions at its average cost
   (`OrderGate.resync_from_broker`, audited as `portfolio.resync`).

Nothing is ever sent to the broker from here. The result is audited as `adoption.report`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs

from ordergate.application.desk import TradingDesk
from ordergate.application.events import BrokerEventProcessor
from ordergate.domain.account import OrderView
from ordergate.domain.audit import AuditRecord
from ordergate.domain.events import FillRecovered
from ordergate.domain.instruments import Instrument, Stock
from ordergate.domain.orders import Order
from ordergate.domain.orders.enums import OrderIntent, TimeInForce
from ordergate.domain.orders.events import ExecutionFill, OrderEventKind, OrderLifecycleEvent
from ordergate.domain.orders.request import ClosureReason, OrderRequest
from ordergate.domain.values import ClientOrderId, CorrelationId, SignalId
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.broker import Broker
from ordergate.ports.clock import Clock

__all__ = ["Adopter", "AdoptionReport", "known_execution_ids"]

_EPOCH = datetime(1970, 1, 2, tzinfo=UTC)
FILL_RECORDS = ("broker.fill", "broker.fill_recovered")


@attrs.frozen
class AdoptionReport:
    """What one adoption found: our orders adopted, foreign ones seen, fills re-applied from
    the audit's knowledge, fills recovered (missed), and position corrections."""

    adopted: tuple[ClientOrderId, ...] = ()
    foreign: tuple[ClientOrderId, ...] = ()
    unadoptable: tuple[ClientOrderId, ...] = ()
    reapplied: int = 0
    recovered: int = 0
    resynced: int = 0

    def payload(self) -> dict[str, Any]:
        return {
            "adopted": [c.value for c in self.adopted],
            "foreign": [c.value for c in self.foreign],
            "unadoptable": [c.value for c in self.unadoptable],
            "reapplied_fills": self.reapplied,
            "recovered_fills": self.recovered,
            "resynced_positions": self.resynced,
        }


async def known_execution_ids(audit: AuditLog) -> frozenset[str]:
    """Execution ids applied by any earlier process (from the audit log)."""
    ids = set()
    for kind in FILL_RECORDS:
        for entry in await audit.query(kind=kind):
            payload = entry.record.payload
            execution_id = payload.get("execution_id")
            if not isinstance(execution_id, str):
                fill = payload.get("fill")
                if isinstance(fill, Mapping):
                    execution_id = fill.get("execution_id")
            if isinstance(execution_id, str):
                ids.add(execution_id)
    return frozenset(ids)


class Adopter:
    """Rebuilds the desk's orders and positions from the broker (see the module docstring)."""

    def __init__(
        self,
        *,
        broker: Broker,
        desk: TradingDesk,
        processor: BrokerEventProcessor,
        audit: AuditLog,
        clock: Clock,
        operator_id: str,
        timeout: float,
        resync_positions: Callable[[], Awaitable[tuple[ExecutionFill, ...]]],
    ) -> None:
        self._broker = broker
        self._desk = desk
        self._processor = processor
        self._audit = audit
        self._clock = clock
        self._operator_id = operator_id
        self._timeout = timeout
        self._resync = resync_positions
        self.foreign: set[ClientOrderId] = set()
        self.reports: list[AdoptionReport] = []

    def is_foreign(self, client_order_id: ClientOrderId) -> bool:
        """True for a working order of the account that this operator did not place."""
        return client_order_id in self.foreign

    async def adopt(self) -> AdoptionReport:
        """Adopt open orders, executions and positions; audited as `adoption.report`."""
        portfolio = self._desk.portfolio
        timeout = self._timeout
        positions = await self._broker.positions(timeout=timeout)
        for position in positions:
            portfolio.register_instrument(position.instrument)
        views = await self._broker.open_orders(timeout=timeout)
        unknown = [v for v in views if v.client_order_id not in portfolio.orders]
        requests = await self._decided_requests({v.client_order_id for v in unknown})
        adopted: list[ClientOrderId] = []
        foreign: list[ClientOrderId] = []
        unadoptable: list[ClientOrderId] = []
        for view in unknown:
            cid = view.client_order_id
            payload = requests.get(cid)
            if payload is None:
                self.foreign.add(cid)
                foreign.append(cid)
                continue
            request = self._request(payload, view)
            if request is None:
                unadoptable.append(cid)
                self.foreign.add(cid)  # never ours to manage without its instrument
                continue
            self._track(request, view)
            adopted.append(cid)
        reapplied, recovered = await self._executions()
        resynced = await self._resync()
        report = AdoptionReport(
            tuple(adopted),
            tuple(foreign),
            tuple(unadoptable),
            reapplied,
            recovered,
            len(resynced),
        )
        await self._audit.append(
            AuditRecord("adoption.report", self._clock.now(), report.payload())
        )
        self.reports.append(report)
        return report

    # -- orders ------------------------------------------------------------------------------
    async def _decided_requests(
        self, wanted: set[ClientOrderId]
    ) -> dict[ClientOrderId, Mapping[str, Any]]:
        """The latest approved request of each wanted id this operator decided on."""
        found: dict[ClientOrderId, Mapping[str, Any]] = {}
        if not wanted:
            return found
        names = {c.value for c in wanted}
        for entry in await self._audit.query(kind="risk.decision"):
            payload = entry.record.payload
            request = payload.get("request")
            if not isinstance(request, Mapping) or request.get("client_order_id") not in names:
                continue
            if request.get("operator_id", self._operator_id) != self._operator_id:
                continue
            if not _approved(payload) or "instrument" not in request:
                continue
            correlation = entry.record.correlation_id
            found[ClientOrderId(str(request["client_order_id"]))] = {
                **request,
                "correlation_id": None if correlation is None else correlation.value,
            }
        return found

    def _instrument(self, instrument_id: str) -> Instrument | None:
        for instrument in self._desk.portfolio.instruments():
            if instrument.id.value == instrument_id:
                return instrument
        if " " not in instrument_id:
            return Stock(instrument_id)  # a stock's id is its symbol
        return None  # an option the broker holds no position in: its terms are not known here

    def _request(self, payload: Mapping[str, Any], view: OrderView) -> OrderRequest | None:
        instrument = self._instrument(str(payload["instrument"]))
        if instrument is None:
            return None
        return OrderRequest(
            client_order_id=view.client_order_id,
            instrument=instrument,
            side=view.side,
            quantity=view.quantity,
            order_type=view.order_type,
            limit_price=view.limit_price,
            stop_price=view.stop_price,
            trail_amount=_decimal(payload.get("trail_amount")),
            trail_percent=_decimal(payload.get("trail_percent")),
            time_in_force=TimeInForce(payload.get("time_in_force") or TimeInForce.DAY.value),
            intent=OrderIntent(payload.get("intent") or OrderIntent.OPEN.value),
            closure_reason=(
                ClosureReason(payload["closure_reason"]) if payload.get("closure_reason") else None
            ),
            signal_id=SignalId(payload["signal_id"]) if payload.get("signal_id") else None,
            correlation_id=CorrelationId(
                str(
                    payload.get("correlation_id")
                    or payload.get("signal_id")
                    or view.client_order_id
                )
            ),
            parent_id=ClientOrderId(payload["parent_id"]) if payload.get("parent_id") else None,
            oca_group=payload.get("oca_group"),
            operator_id=self._operator_id,
        )

    def _track(self, request: OrderRequest, view: OrderView) -> None:
        now = self._clock.now()
        order = Order.from_request(request)
        order.apply(
            OrderLifecycleEvent(
                request.client_order_id,
                OrderEventKind.SUBMITTED,
                now,
                now,
                broker_order_id=view.broker_order_id,
                correlation_id=request.correlation_id,
            )
        )
        order.apply(
            OrderLifecycleEvent(
                request.client_order_id,
                OrderEventKind.ACCEPTED,
                now,
                now,
                broker_order_id=view.broker_order_id,
                reason="adopted from the broker",
                correlation_id=request.correlation_id,
            )
        )
        self._desk.portfolio.add_order(order)
        self._desk.seen_client_order_ids.add(request.client_order_id)

    # -- executions --------------------------------------------------------------------------
    async def _executions(self) -> tuple[int, int]:
        known = await known_execution_ids(self._audit)
        portfolio = self._desk.portfolio
        fills = await self._broker.executions(_EPOCH, timeout=self._timeout)
        reapplied = recovered = 0
        now = self._clock.now()
        for fill in fills:
            if portfolio.has_execution(fill.execution_id):
                continue
            if not _instrument_known(portfolio.instruments(), fill):
                instrument = self._instrument(fill.instrument_id.value)
                if instrument is None:
                    continue  # its position comes from the broker's positions instead
                portfolio.register_instrument(instrument)
            if fill.execution_id.value in known:
                if portfolio.apply(fill):
                    reapplied += 1
            else:
                await self._processor.handle(FillRecovered(fill, now, now, fill.correlation_id))
                recovered += 1
        return reapplied, recovered


def _instrument_known(instruments: Iterable[Instrument], fill: ExecutionFill) -> bool:
    return any(i.id == fill.instrument_id for i in instruments)


def _approved(payload: Mapping[str, Any]) -> bool:
    return payload.get("approved") is True


def _decimal(value: object) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))

