"""Order use cases: submit a signal, modify, cancel, order status, positions, close, close all.

Every path that sends an order goes through `ExecutionGate`; this module never holds a broker
method that submits. Instruments are qualified with the broker before their first order, and a
fresh snapshot quote is taken before sizing and deciding.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from ordergate.application.audit_records import broker_call_record
from ordergate.application.desk import TradingDesk
from ordergate.application.execution import ExecutionGate
from ordergate.application.results import OrderResult, OrderResultStatus
from ordergate.domain.audit import AuditRecord
from ordergate.domain.errors import BrokerError, InvalidValue, OrdergateError, PositionNotFound
from ordergate.domain.instruments import Instrument
from ordergate.domain.orders.change import OrderChange
from ordergate.domain.orders.enums import OrderIntent, OrderType
from ordergate.domain.orders.request import ClosureReason, OrderRequest
from ordergate.domain.signals import Signal
from ordergate.domain.sizing import cap_quantity, fixed_fraction_size, round_down
from ordergate.domain.strategy_c import closing_quantity, closure_id_factory
from ordergate.domain.values import ClientOrderId, CorrelationId, InstrumentId, Side
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.broker import Broker
from ordergate.ports.clock import Clock
from ordergate.ports.market_data import MarketData

__all__ = ["AuditUnavailable", "OrderService", "SizingPolicy"]


class AuditUnavailable(OrdergateError):
    """The audit log refused a write: the operation stopped and nothing was sent."""


@attrs.frozen
class SizingPolicy:
    """How a signal without a quantity is sized.

    With a stop-loss: fixed fraction — risk `risk_fraction` of equity between entry and stop.
    Without one: commit `allocation_fraction` × confidence of equity at the entry price.
    Both are capped by the max-order limits and rounded down to the size increment.
    """

    risk_fraction: Decimal = Decimal("0.01")
    allocation_fraction: Decimal = Decimal("0.05")


class OrderService:
    """The order use cases of one account."""

    def __init__(
        self,
        *,
        gate: ExecutionGate,
        broker_queries: Broker,
        market_data: MarketData,
        audit: AuditLog,
        clock: Clock,
        desk: TradingDesk,
        operator_id: str,
        timeout: float,
        sizing: SizingPolicy | None = None,
    ) -> None:
        self._gate = gate
        self._broker = _Queries(broker_queries)
        self._market = market_data
        self._audit = audit
        self._clock = clock
        self._desk = desk
        self._operator_id = operator_id
        self._timeout = timeout
        self._sizing = sizing or SizingPolicy()
        self._qualified: dict[InstrumentId, Instrument] = {}

    # -- submission ---------------------------------------------------------------------
    async def submit_signal(self, signal: Signal) -> list[OrderResult]:
        """Signal → qualify → quote → size → request(s) → gate → audit → broker.

        A signal with both stop-loss and take-profit becomes a bracket; the list has one result
        per order. A signal that sizes to zero is denied without reaching the gate.
        """
        correlation = signal.correlation_id or CorrelationId(signal.signal_id.value)
        try:
            instrument = await self._qualify(signal.instrument, correlation)
        except (BrokerError, AuditUnavailable) as exc:
            return [self._failed(ClientOrderId(f"{signal.signal_id}-E"), correlation, str(exc))]
        await self.refresh_quote(instrument)
        quantity = self._size(signal, instrument)
        entry_id = ClientOrderId(f"{signal.signal_id}-E")
        if quantity <= 0:
            return [self._failed(entry_id, correlation, "signal sized to zero quantity")]
        entry = OrderRequest(
            client_order_id=entry_id,
            instrument=instrument,
            side=signal.side,
            quantity=quantity,
            order_type=signal.order_type,
            limit_price=signal.limit_price,
            stop_price=signal.stop_price,
            time_in_force=signal.time_in_force,
            signal_id=signal.signal_id,
            correlation_id=correlation,
            operator_id=self._operator_id,
        )
        if signal.stop_loss is None or signal.take_profit is None:
            return [await self._gate.submit(entry)]
        return await self._gate.submit_list(self._bracket(entry, signal))

    async def submit_request(self, request: OrderRequest) -> OrderResult:
        """Send a ready-made request through the gate (after qualifying its instrument)."""
        try:
            await self._qualify(request.instrument, request.correlation_id)
        except (BrokerError, AuditUnavailable) as exc:
            return self._failed(request.client_order_id, request.correlation_id, str(exc))
        await self.refresh_quote(request.instrument)
        if not request.operator_id:
            request = attrs.evolve(request, operator_id=self._operator_id)
        return await self._gate.submit(request)

    def _bracket(self, entry: OrderRequest, signal: Signal) -> tuple[OrderRequest, ...]:
        if signal.stop_loss is None or signal.take_profit is None:
            raise InvalidValue("Signal.stop_loss/take_profit", signal, "a bracket needs both")
        group = f"OCA-{signal.signal_id}"
        common = {
            "instrument": entry.instrument,
            "side": entry.side.opposite,
            "quantity": entry.quantity,
            "parent_id": entry.client_order_id,
            "oca_group": group,
            # The legs protect the position until it is closed (GTC unless the signal says
            # otherwise), whatever the entry's own time in force.
            "time_in_force": signal.protection_time_in_force,
            "signal_id": None,
            "correlation_id": entry.correlation_id,
            "operator_id": self._operator_id,
        }
        take_profit = OrderRequest(
            client_order_id=ClientOrderId(f"{signal.signal_id}-TP"),
            order_type=OrderType.LIMIT,
            limit_price=signal.take_profit,
            **common,  # type: ignore[arg-type]
        )
        stop_loss = OrderRequest(
            client_order_id=ClientOrderId(f"{signal.signal_id}-SL"),
            order_type=OrderType.STOP,
            stop_price=signal.stop_loss,
            **common,  # type: ignore[arg-type]
        )
        return (entry, take_profit, stop_loss)

    def _size(self, signal: Signal, instrument: Instrument) -> Decimal:
        if signal.quantity is not None:
            return signal.quantity
        quote = self._desk.quotes.get(instrument.id)
        price = signal.limit_price or (quote.reference_price if quote else None)
        if price is None:
            return Decimal(0)
        equity = self._desk.portfolio.equity()
        if signal.stop_loss is not None:
            return fixed_fraction_size(
                equity=equity,
                risk_fraction=self._sizing.risk_fraction,
                entry_price=price,
                stop_price=signal.stop_loss,
                instrument=instrument,
                limits=self._desk.limits,
            )
        budget = equity * self._sizing.allocation_fraction * signal.confidence
        raw = round_down(budget / (price * instrument.multiplier), instrument.size_increment)
        return cap_quantity(raw, price, instrument, self._desk.limits) if raw > 0 else raw

    # -- closures -------------------------------------------------------------------------
    async def close_position(
        self, instrument_id: InstrumentId, reason: ClosureReason, *, flatten: bool = False
    ) -> OrderResult:
        """Close the open position net of closing orders already working (never over-closes)."""
        position = self._desk.portfolio.position(instrument_id)
        if position is None or position.is_flat:
            raise PositionNotFound(f"no open position in {instrument_id} to close")
        quantity = closing_quantity(self._desk.portfolio, instrument_id)
        quantity = round_down(quantity, position.instrument.size_increment)
        now = self._clock.now()
        # Deterministic, but a second closure at the same instant gets a free suffix rather
        # than being taken for a duplicate of the first.
        make_id = closure_id_factory("CL", now, taken=self._desk.seen_client_order_ids)
        cid = make_id(instrument_id, reason)
        if quantity <= 0:
            return self._failed(cid, None, "position already covered by working closing orders")
        request = OrderRequest(
            client_order_id=cid,
            instrument=position.instrument,
            side=Side.SELL if position.quantity > 0 else Side.BUY,
            quantity=quantity,
            order_type=OrderType.MARKET,
            intent=OrderIntent.FLATTEN if flatten else OrderIntent.CLOSE,
            closure_reason=reason,
            correlation_id=CorrelationId(cid.value),
            operator_id=self._operator_id,
        )
        return await self.submit_request(request)

    async def close_all(self, reason: ClosureReason, *, flatten: bool = False) -> list[OrderResult]:
        """Close every open position; every attempt is made and every result returned."""
        results = []
        for position in list(self._desk.portfolio.open_positions()):
            try:
                results.append(
                    await self.close_position(position.instrument_id, reason, flatten=flatten)
                )
            except PositionNotFound:
                continue
        return results

    # -- modify / cancel / status ---------------------------------------------------------------
    async def modify(
        self,
        client_order_id: ClientOrderId,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        trail_amount: Decimal | None = None,
        trail_percent: Decimal | None = None,
    ) -> OrderResult:
        """Change a working order through the gate (`ExecutionGate.modify`): a fresh quote, the
        decision on the order as it would stand, durable before the broker is asked.

        `UnknownOrder` for an id this session never placed; `InvalidValue` for a change that
        does not fit the order; any state of a known order gets a result.
        """
        order = self._desk.portfolio.order(client_order_id)
        change = OrderChange(quantity, limit_price, stop_price, trail_amount, trail_percent)
        if not order.status.is_terminal:
            await self.refresh_quote(order.request.instrument)
        return await self._gate.modify(order, change)

    async def cancel(self, client_order_id: ClientOrderId) -> OrderResult:
        """Cancel a working order through the gate (`ExecutionGate.cancel`); an order this
        session does not hold (found in the broker's open orders) is cancelled all the same."""
        order = self._desk.portfolio.orders.get(client_order_id)
        return await self._gate.cancel(client_order_id, order)

    def order_status(self, client_order_id: ClientOrderId) -> OrderResult:
        """The order as the event stream has built it."""
        order = self._desk.portfolio.order(client_order_id)
        return OrderResult.from_order(order, self._clock.now(), self._gate.mode)

    # -- helpers -----------------------------------------------------------------------------
    async def refresh_quote(self, instrument: Instrument) -> None:
        """Take a snapshot quote and keep it for the gate (a failure leaves no quote)."""
        try:
            quote = await self._market.quote(instrument, timeout=self._timeout)
        except BrokerError:
            self._desk.quotes.pop(instrument.id, None)
            return
        self._desk.update_quote(quote)

    async def _qualify(
        self, instrument: Instrument, correlation: CorrelationId | None
    ) -> Instrument:
        known = self._qualified.get(instrument.id)
        if known is not None:
            return known
        now = self._clock.now()
        try:
            qualified = await self._broker.qualify(instrument, timeout=self._timeout)
        except BrokerError as exc:
            await self._record(
                broker_call_record(
                    "qualify", now, correlation, instrument=instrument.id.value, error=str(exc)
                )
            )
            raise
        await self._record(
            broker_call_record("qualify", now, correlation, instrument=instrument.id.value)
        )
        self._qualified[instrument.id] = qualified
        self._desk.portfolio.register_instrument(qualified)
        return qualified

    async def _record(self, record: AuditRecord) -> None:
        """Append to the audit log; any failure becomes `AuditUnavailable` (stop, send nothing)."""
        try:
            await self._audit.append(record)
        except Exception as exc:  # the store's own error types vary; all of them stop the order
            raise AuditUnavailable(
                f"audit log failed ({type(exc).__name__}: {exc}); nothing was sent"
            ) from exc

    def _failed(
        self, cid: ClientOrderId, correlation: CorrelationId | None, reason: str
    ) -> OrderResult:
        return OrderResult(
            cid,
            OrderResultStatus.FAILED,
            self._clock.now(),
            self._gate.mode,
            correlation,
            reason=reason,
        )


class _Queries:
    """The broker seen through `qualify` only: this service sends, modifies and cancels
    nothing itself (all of that goes through the `ExecutionGate`)."""

    def __init__(self, broker: Broker) -> None:
        self._qualify = broker.qualify

    async def qualify(self, instrument: Instrument, *, timeout: float) -> Instrument:
        return await self._qualify(instrument, timeout=timeout)
