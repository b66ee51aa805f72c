"""The one place ib_async's types meet the domain's: contracts ↔ instruments, order requests →
IB orders, IB status strings → lifecycle kinds, and fills, commissions, positions, quotes, bars and
account values → domain values.

Floats come in from ib_async and leave this module only as `Decimal`s quantised to the
instrument's tick size or size increment (money is taken at the precision IB wrote it); times
leave as aware UTC `datetime`s. This module does no I/O and must never let an ib_async object, a
float or IB's `UNSET_DOUBLE` escape into a domain value.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

import attrs
from ib_async import Contract, Option, Order
from ib_async import Stock as IbStock
from ib_async.objects import AccountValue, BarData, Fill, Position
from ib_async.objects import CommissionReport as IbCommission
from ib_async.ticker import Ticker

from ordergate.domain.account import AccountSummary, BrokerPosition, OrderView
from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import (
    Instrument,
    OptionContract,
    OptionRight,
    Stock,
    quantize_price,
)
from ordergate.domain.market import Bar, Quote
from ordergate.domain.orders import (
    CommissionReport,
    ExecutionFill,
    OrderEventKind,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from ordergate.domain.values import (
    BrokerOrderId,
    ClientOrderId,
    CorrelationId,
    ExecutionId,
    Side,
)

__all__ = [
    "MAX_DAILY_HISTORY",
    "MAX_HISTORY",
    "RTH_OPEN",
    "account_summary",
    "bar_from_ib",
    "bar_size_text",
    "broker_position",
    "commission_of",
    "commission_report",
    "contract_for",
    "decimal_or_none",
    "execution_fill",
    "ib_order",
    "ib_time",
    "instrument_from_contract",
    "kind_for_status",
    "order_ref",
    "order_view",
    "parse_order_ref",
    "price",
    "quantity",
    "quote_from_ticker",
]

MAX_HISTORY = timedelta(hours=1)
"""Alpha learning: one historical request of intraday bars covers at most one hour of RTH."""
MAX_DAILY_HISTORY = timedelta(days=366)
"""Daily bars (IB's pacing limits concern small bars): at most a year per request."""
RTH_OPEN = time(9, 30)
"""The regular session's open in exchange time (US equities and options)."""

_UNSET = 1.7976931348623157e308
_IB_TYPES = {
    OrderType.MARKET: "MKT",
    OrderType.LIMIT: "LMT",
    OrderType.STOP: "STP",
    OrderType.STOP_LIMIT: "STP LMT",
}
_FROM_IB_TYPES = {
    "MKT": OrderType.MARKET,
    "LMT": OrderType.LIMIT,
    "STP": OrderType.STOP,
    "STP LMT": OrderType.STOP_LIMIT,
    "TRAIL": OrderType.TRAILING_STOP,
    "TRAIL LIMIT": OrderType.TRAILING_STOP,
}
_ACCEPTED = frozenset({"PreSubmitted", "Submitted"})
_CANCELLED = frozenset({"Cancelled", "ApiCancelled"})
_BAR_SIZES = {
    **{timedelta(seconds=n): f"{n} secs" for n in (1, 5, 10, 15, 30)},
    **{timedelta(minutes=n): f"{n} min{'s' * (n > 1)}" for n in (1, 2, 3, 5, 10, 15, 20, 30)},
    timedelta(hours=1): "1 hour",
    timedelta(days=1): "1 day",
}


# -- numbers and times ---------------------------------------------------------------------------
def decimal_or_none(value: object) -> Decimal | None:
    """IB's number (float, int, str or Decimal) as a Decimal at the precision IB wrote it; None
    for unset, NaN, infinite or empty values."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value) or value >= _UNSET:
            return None
        return Decimal(repr(value))
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return result if result.is_finite() and result < Decimal(_UNSET) else None


def price(value: object, instrument: Instrument) -> Decimal | None:
    """A price quantised to the instrument's tick; None when unset or not positive."""
    number = decimal_or_none(value)
    if number is None or number <= 0:
        return None
    return quantize_price(number, instrument.tick_size)


def quantity(value: object, instrument: Instrument) -> Decimal:
    """A quantity quantised to the instrument's size increment (0 when unset)."""
    number = decimal_or_none(value)
    if number is None:
        return Decimal(0)
    return quantize_price(number, instrument.size_increment)


def _wire(value: Decimal) -> Decimal:
    """A Decimal ib_async writes as plain digits (never exponent notation)."""
    return Decimal(format(value, "f"))


def ib_time(moment: datetime) -> str:
    """IB's UTC form of an aware datetime, `YYYYMMDD-HH:MM:SS` (whole seconds)."""
    return moment.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S")


def _utc(moment: object, fallback: datetime) -> datetime:
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        return moment.astimezone(UTC)
    if isinstance(moment, datetime):
        return moment.replace(tzinfo=UTC)
    return fallback


# -- instruments and contracts ---------------------------------------------------------------------
def contract_for(instrument: Instrument) -> Contract:
    """The IB contract that names `instrument` (to qualify before any order)."""
    if isinstance(instrument, OptionContract):
        return Option(
            instrument.underlying,
            instrument.expiry.strftime("%Y%m%d"),
            float(instrument.strike),
            instrument.right.value,
            instrument.exchange,
            format(instrument.multiplier.normalize(), "f"),
            instrument.currency,
        )
    return IbStock(
        instrument.symbol,
        instrument.exchange,
        instrument.currency,
        primaryExchange=instrument.primary_exchange,
    )


def instrument_from_contract(
    contract: Contract, known: Instrument | None = None, *, min_tick: object = None
) -> Instrument:
    """The domain instrument of an IB contract: `known` (with IB's tick when it gives one) if the
    caller qualified it, else one built from the contract's fields."""
    tick = decimal_or_none(min_tick)
    if known is not None:
        if tick is not None and tick > 0 and tick != known.tick_size:
            return attrs.evolve(known, tick_size=tick)
        return known
    options: dict[str, object] = {"currency": contract.currency or "USD"}
    if tick is not None and tick > 0:
        options["tick_size"] = tick
    if contract.secType == "OPT":
        expiry = datetime.strptime(contract.lastTradeDateOrContractMonth[:8], "%Y%m%d").date()
        multiplier = decimal_or_none(contract.multiplier) or Decimal(100)
        return OptionContract(
            underlying=contract.symbol,
            expiry=expiry,
            strike=decimal_or_none(contract.strike) or Decimal(0),
            right=OptionRight(contract.right[:1].upper()),
            multiplier=multiplier,
            **options,  # type: ignore[arg-type]
        )
    return Stock(contract.symbol, primary_exchange=contract.primaryExchange,
                 **options)  # type: ignore[arg-type]


# -- orders ----------------------------------------------------------------------------------------
def order_ref(operator_id: str, client_order_id: ClientOrderId) -> str:
    """`Order.orderRef`: the operator id and our client order id (SPEC §12: never in `account`)."""
    return f"{operator_id}:{client_order_id}"


def parse_order_ref(text: str) -> tuple[str, ClientOrderId] | None:
    """(operator id, client order id) from an `orderRef` we wrote; None for anyone else's."""
    operator, sep, cid = (text or "").partition(":")
    if not sep or not operator or not cid.strip():
        return None
    try:
        return operator, ClientOrderId(cid)
    except InvalidValue:  # not an id we could have written (too long, control characters)
        return None


def refuse_nul(*objects: object) -> None:
    """Raise `InvalidValue` naming the field if a string field of these ib_async objects (a
    `Contract`, an `Order`, and the objects in their lists) holds a NUL: the TWS API ends every
    field with one, so a NUL inside a value would shift every field after it on the wire."""
    for obj in objects:
        for field in dataclasses.fields(obj):  # type: ignore[arg-type]
            value = getattr(obj, field.name)
            if isinstance(value, str) and "\0" in value:
                raise InvalidValue(
                    f"{type(obj).__name__}.{field.name}", value, "must not contain NUL"
                )
            if isinstance(value, list):
                refuse_nul(*(item for item in value if dataclasses.is_dataclass(item)))


def _good_till(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d %H:%M:%S UTC")


def ib_order(
    request: OrderRequest,
    *,
    operator_id: str,
    account: str = "",
    parent_order_id: int = 0,
    transmit: bool | None = None,
) -> Order:
    """The IB order for `request`: every type of SPEC §4.3, the time in force, OCA group and
    bracket linkage. Prices are quantised to the instrument's tick and sent as Decimals;
    `account` is the IB account code (or empty), never the operator id."""
    inst = request.instrument
    tick = inst.tick_size

    def px(value: Decimal | None) -> Decimal | None:
        return None if value is None else _wire(quantize_price(value, tick))

    order = Order(
        action=request.side.value,
        totalQuantity=_wire(quantize_price(request.quantity, inst.size_increment)),  # type: ignore[arg-type]
        tif=request.time_in_force.value,
        orderRef=order_ref(operator_id, request.client_order_id),
        account=account,
        transmit=request.transmit if transmit is None else transmit,
        parentId=parent_order_id,
    )
    kind = request.order_type
    if kind is OrderType.TRAILING_STOP:
        order.orderType = "TRAIL" if request.trail_limit_offset is None else "TRAIL LIMIT"
        if request.trail_percent is not None:
            order.trailingPercent = _wire(request.trail_percent)
        else:
            order.auxPrice = px(request.trail_amount)
        if request.stop_price is not None:
            order.trailStopPrice = px(request.stop_price)  # type: ignore[assignment]
        if request.trail_limit_offset is not None:
            order.lmtPriceOffset = px(request.trail_limit_offset)  # type: ignore[assignment]
    else:
        order.orderType = _IB_TYPES[kind]
        order.lmtPrice = px(request.limit_price)
        order.auxPrice = px(request.stop_price)
    if request.time_in_force is TimeInForce.GTD and request.expire_at is not None:
        order.goodTillDate = _good_till(request.expire_at)
    if request.oca_group:
        order.ocaGroup = request.oca_group
        order.ocaType = request.oca_type.value
    return order


def request_from_ib(
    client_order_id: ClientOrderId, instrument: Instrument, order: Order, *, operator_id: str
) -> OrderRequest | None:
    """The request `ib_order` turned into `order` (the inverse, for an order an earlier process
    placed and this one adopts), or None when IB's order has a type or time in force ordergate
    does not send."""
    kind = _FROM_IB_TYPES.get(order.orderType)
    try:
        tif = TimeInForce(order.tif or TimeInForce.DAY.value)
    except ValueError:
        return None
    expire_at = None
    if tif is TimeInForce.GTD:
        try:
            expire_at = datetime.strptime(order.goodTillDate, "%Y%m%d %H:%M:%S UTC").replace(
                tzinfo=UTC)
        except ValueError:
            return None
    if kind is None:
        return None
    prices: dict[str, Decimal | None] = {}
    if kind is OrderType.TRAILING_STOP:
        percent = decimal_or_none(order.trailingPercent)
        prices["trail_percent"] = percent or None
        prices["trail_amount"] = None if percent else price(order.auxPrice, instrument)
        prices["stop_price"] = price(order.trailStopPrice, instrument) or None
        if order.orderType == "TRAIL LIMIT":
            prices["trail_limit_offset"] = price(order.lmtPriceOffset, instrument)
    else:
        if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            prices["limit_price"] = price(order.lmtPrice, instrument)
        if kind in (OrderType.STOP, OrderType.STOP_LIMIT):
            prices["stop_price"] = price(order.auxPrice, instrument)
    try:
        return OrderRequest(
            client_order_id=client_order_id,
            instrument=instrument,
            side=Side.BUY if order.action.upper() == "BUY" else Side.SELL,
            quantity=quantity(order.totalQuantity, instrument),
            order_type=kind,
            time_in_force=tif,
            expire_at=expire_at,
            correlation_id=CorrelationId(str(client_order_id)),
            oca_group=order.ocaGroup or None,
            operator_id=operator_id,
            **prices,  # type: ignore[arg-type]
        )
    except InvalidValue:  # IB holds what no request of ours could have produced
        return None


def kind_for_status(status: str) -> OrderEventKind | None:
    """The lifecycle kind an IB order status announces (fills, not `Filled`, drive FILLED)."""
    if status in _ACCEPTED:
        return OrderEventKind.ACCEPTED
    if status in _CANCELLED:
        return OrderEventKind.CANCELED
    if status == "Inactive":
        return OrderEventKind.REJECTED
    return None


def _view_status(status: str, filled: Decimal) -> OrderStatus:
    if status in _ACCEPTED:
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED
    return {
        "Filled": OrderStatus.FILLED,
        "Cancelled": OrderStatus.CANCELED,
        "ApiCancelled": OrderStatus.CANCELED,
        "Inactive": OrderStatus.REJECTED,
        "PendingCancel": OrderStatus.PENDING_CANCEL,
    }.get(status, OrderStatus.SUBMITTED)


def order_view(
    client_order_id: ClientOrderId,
    instrument: Instrument,
    order: Order,
    status: str,
    filled: object,
    *,
    avg_px: Decimal | None = None,
    override: OrderStatus | None = None,
) -> OrderView:
    """The broker's view of one order, from IB's order and status."""
    done = quantity(filled, instrument)
    kind = _FROM_IB_TYPES.get(order.orderType, OrderType.LIMIT)
    limit = price(order.lmtPrice, instrument) if kind in (
        OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP) else None
    stop = price(order.auxPrice, instrument) if kind in (
        OrderType.STOP, OrderType.STOP_LIMIT) else price(order.trailStopPrice, instrument)
    return OrderView(
        client_order_id=client_order_id,
        broker_order_id=BrokerOrderId(str(order.permId)) if order.permId else None,
        instrument_id=instrument.id,
        side=Side.BUY if order.action.upper() == "BUY" else Side.SELL,
        order_type=kind,
        status=override or _view_status(status, done),
        quantity=quantity(order.totalQuantity, instrument),
        filled_qty=done,
        limit_price=limit,
        stop_price=stop,
        avg_px=avg_px,
    )


# -- executions, commissions, positions ----------------------------------------------------------
def commission_of(report: IbCommission, exec_id: str) -> Decimal | None:
    """The commission of a fill, or None while IB has not reported it."""
    if report.execId != exec_id:
        return None
    value = decimal_or_none(report.commission)
    return None if value is None or value < 0 else value


def execution_fill(
    fill: Fill,
    client_order_id: ClientOrderId,
    instrument: Instrument,
    now: datetime,
    *,
    commission: Decimal | None = None,
) -> ExecutionFill:
    """One IB execution as a domain fill (time from the execution, not from when we read it)."""
    ex = fill.execution
    found = commission if commission is not None else commission_of(
        fill.commissionReport, ex.execId)
    return ExecutionFill(
        client_order_id=client_order_id,
        execution_id=ExecutionId(ex.execId),
        instrument_id=instrument.id,
        side=Side.BUY if ex.side.upper() in ("BOT", "BUY") else Side.SELL,
        quantity=quantity(ex.shares, instrument),
        price=price(ex.price, instrument) or Decimal(0),
        ts_event=_utc(ex.time, now),
        ts_init=now,
        commission=found,
        broker_order_id=BrokerOrderId(str(ex.permId)) if ex.permId else None,
    )


def commission_report(report: IbCommission, now: datetime) -> CommissionReport | None:
    """A domain commission report, or None when IB sent no usable amount."""
    value = decimal_or_none(report.commission)
    if not report.execId or value is None or value < 0:
        return None
    return CommissionReport(
        ExecutionId(report.execId), value, now, now, currency=report.currency or "USD"
    )


def broker_position(position: Position, instrument: Instrument) -> BrokerPosition:
    """IB's position (avgCost per contract) as a domain position (avg cost per unit)."""
    avg = decimal_or_none(position.avgCost) or Decimal(0)
    return BrokerPosition(
        instrument=instrument,
        quantity=quantity(position.position, instrument),
        avg_cost=abs(avg / instrument.multiplier),
    )


def account_summary(
    values: Iterable[AccountValue], account: str, now: datetime
) -> AccountSummary:
    """Balances from IB's account values (`TotalCashValue`, `NetLiquidation`, ...)."""
    found: dict[str, Decimal] = {}
    currency = "USD"
    for value in values:
        if value.account not in (account, "All") or value.tag in found:
            continue
        number = decimal_or_none(value.value)
        if number is not None:
            found[value.tag] = number
            currency = value.currency or currency
    missing = [t for t in ("TotalCashValue", "NetLiquidation") if t not in found]
    if missing:
        raise InvalidValue("account summary", account, f"IB sent no {', '.join(missing)}")
    return AccountSummary(
        account_id=account,
        ts=now,
        cash=found["TotalCashValue"],
        net_liquidation=found["NetLiquidation"],
        available_funds=found.get("AvailableFunds", found["TotalCashValue"]),
        buying_power=found.get("BuyingPower", found["TotalCashValue"]),
        realized_pnl=found.get("RealizedPnL", Decimal(0)),
        unrealized_pnl=found.get("UnrealizedPnL", Decimal(0)),
        currency=currency,
    )


# -- market data -----------------------------------------------------------------------------------
def quote_from_ticker(ticker: Ticker, instrument: Instrument, now: datetime) -> Quote:
    """A snapshot ticker as a quote; `ts` is IB's last-trade time when sent, else `now`."""
    stamp = getattr(ticker, "lastTimestamp", None)
    volume = decimal_or_none(ticker.volume)
    return Quote(
        instrument_id=instrument.id,
        ts=_utc(stamp, now),
        bid=price(ticker.bid, instrument),
        ask=price(ticker.ask, instrument),
        last=price(ticker.last, instrument),
        volume=None if volume is None or volume < 0 else volume,
    )


def bar_size_text(size: timedelta) -> str:
    """IB's bar size setting for `size`; `InvalidValue` for sizes IB has no name for."""
    text = _BAR_SIZES.get(size)
    if text is None:
        raise InvalidValue(
            "bar_size", size, "must be one of IB's bar sizes from 1 s to 1 h, or 1 day"
        )
    return text


def bar_from_ib(bar: BarData, instrument: Instrument, size: timedelta) -> Bar:
    """An IB bar (dated by its start) as a domain bar with Decimal prices."""
    start = bar.date
    if isinstance(start, date) and not isinstance(start, datetime):
        # A daily bar is dated by its session: it starts at the regular open, exchange time.
        start = datetime.combine(start, RTH_OPEN, ZoneInfo(instrument.time_zone))
    values = [price(v, instrument) for v in (bar.open, bar.high, bar.low, bar.close)]
    if any(v is None for v in values):
        raise InvalidValue("bar", bar, "IB sent a bar without a positive open/high/low/close")
    open_, high, low, close = (v for v in values if v is not None)
    return Bar(
        instrument.id,
        ts=_utc(start, datetime.now(UTC)),
        open=open_,
        high=max(high, open_, close),
        low=min(low, open_, close),
        close=close,
        volume=max(decimal_or_none(bar.volume) or Decimal(0), Decimal(0)),
        duration=size,
    )
