"""The one place IB wire vocabulary meets the engine's typed values, in both directions.

Inbound: a `WireContract` becomes a `ContractQuery`, a `WireOrder` an `OrderSpec`, duration and
bar-size strings `timedelta`s, `endDateTime` an aware datetime. Outbound: engine enums become IB's
strings (`Submitted`, `STP LMT`, `BOT`), contracts their wire fields, datetimes IB's formats.
Inbound problems raise `TranslationError` with a message a user can act on. Must never import
`ib_async`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ordergate.adapters.gateway_sim.cursor import WireContract
from ordergate.adapters.gateway_sim.engine_types import (
    BarSource,
    ContractQuery,
    ContractSpec,
    OrderSpec,
    OrderStatus,
    OrderType,
    SecType,
    TimeInForce,
)
from ordergate.adapters.gateway_sim.order_request import WireOrder
from ordergate.domain.instruments import OptionContract, OptionRight
from ordergate.domain.values import Side

__all__ = [
    "DEFAULT_ZONE",
    "MARKET_RULES",
    "TranslationError",
    "bar_size",
    "bar_source",
    "check_bar_count",
    "contract_fields",
    "contract_query",
    "duration",
    "end_date_time",
    "format_bar_time",
    "ib_time",
    "market_rule_id",
    "order_spec",
    "order_type_text",
    "status_text",
    "tif_text",
]

DEFAULT_ZONE = ZoneInfo("America/New_York")
"""The zone assumed for wire times that name none (IB would use the TWS login zone)."""


class TranslationError(ValueError):
    """A request is well-formed but asks for something the emulator cannot represent."""


_SEC_TYPES = {"STK": SecType.STOCK, "OPT": SecType.OPTION}
_ORDER_TYPES = {
    "MKT": OrderType.MARKET,
    "LMT": OrderType.LIMIT,
    "STP": OrderType.STOP,
    "STP LMT": OrderType.STOP_LIMIT,
    "TRAIL": OrderType.TRAILING_STOP,
    "TRAIL LIMIT": OrderType.TRAILING_STOP_LIMIT,
}
_ORDER_TYPE_TEXT = {v: k for k, v in _ORDER_TYPES.items()}
_TIFS = {"": TimeInForce.DAY, "DAY": TimeInForce.DAY, "GTC": TimeInForce.GTC,
         "IOC": TimeInForce.IOC, "GTD": TimeInForce.GTD}
_STATUS_TEXT = {
    OrderStatus.HELD: "PreSubmitted",
    OrderStatus.WORKING: "Submitted",
    OrderStatus.PENDING_CANCEL: "PendingCancel",
    OrderStatus.CANCELLED: "Cancelled",
    OrderStatus.FILLED: "Filled",
    OrderStatus.INACTIVE: "Inactive",
}
_RIGHTS = {"C": OptionRight.CALL, "CALL": OptionRight.CALL, "P": OptionRight.PUT,
           "PUT": OptionRight.PUT}
_UNITS = {"S": timedelta(seconds=1), "D": timedelta(days=1), "W": timedelta(weeks=1),
          "M": timedelta(days=30), "Y": timedelta(days=365)}
_BAR_UNITS = {"sec": timedelta(seconds=1), "min": timedelta(minutes=1),
              "hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1),
              "month": timedelta(days=30)}
_SOURCES = {"TRADES": BarSource.TRADES, "MIDPOINT": BarSource.MIDPOINT, "BID": BarSource.BID,
            "ASK": BarSource.ASK}


def contract_query(wire: WireContract) -> ContractQuery:
    """What the client asked for, typed; `TranslationError` for security types not listed."""
    sec_type = None
    if wire.sec_type:
        sec_type = _SEC_TYPES.get(wire.sec_type.upper())
        if sec_type is None:
            raise TranslationError(
                f"security type {wire.sec_type!r} is not listed by the emulator (STK and OPT are)"
            )
    expiry, month = _expiry(wire.last_trade_date_or_contract_month)
    right = None
    if wire.right and wire.right != "?":
        right = _RIGHTS.get(wire.right.upper())
        if right is None:
            raise TranslationError(f"option right {wire.right!r} is not C, CALL, P or PUT")
    return ContractQuery(
        con_id=wire.con_id,
        symbol=wire.symbol,
        sec_type=sec_type,
        expiry=expiry,
        contract_month=month,
        strike=wire.strike if wire.strike else None,
        right=right,
        multiplier=Decimal(wire.multiplier) if _is_number(wire.multiplier) else None,
        exchange=wire.exchange,
        primary_exchange=wire.primary_exchange,
        currency=wire.currency,
        local_symbol=wire.local_symbol,
        trading_class=wire.trading_class,
    )


def _is_number(text: str) -> bool:
    return bool(re.fullmatch(r"\d+(\.\d+)?", text))


def _expiry(text: str) -> tuple[date | None, str]:
    text = text.strip()
    if not text:
        return None, ""
    if re.fullmatch(r"\d{6}", text):
        return None, text
    if re.fullmatch(r"\d{8}", text):
        return datetime.strptime(text, "%Y%m%d").date(), ""
    raise TranslationError(f"expiry {text!r} is neither YYYYMM nor YYYYMMDD")


def order_spec(order: WireOrder) -> OrderSpec:
    """The typed order; `TranslationError` for order types, TIFs or sides the emulator lacks."""
    kind = _ORDER_TYPES.get(order.order_type.upper())
    if kind is None:
        supported = ", ".join(_ORDER_TYPES)
        raise TranslationError(f"order type {order.order_type!r} is not supported ({supported})")
    tif = _TIFS.get(order.tif.upper())
    if tif is None:
        raise TranslationError(f"time in force {order.tif!r} is not supported (DAY/GTC/IOC/GTD)")
    action = order.action.upper()
    if action not in {"BUY", "SELL", "SSHORT"}:
        raise TranslationError(f"action {order.action!r} is not BUY or SELL")
    if order.total_quantity is None or order.total_quantity <= 0:
        raise TranslationError(f"total quantity {order.total_quantity} must be > 0")
    trailing = kind in {OrderType.TRAILING_STOP, OrderType.TRAILING_STOP_LIMIT}
    return OrderSpec(
        side=Side.BUY if action == "BUY" else Side.SELL,
        quantity=order.total_quantity,
        order_type=kind,
        limit_price=order.lmt_price,
        stop_price=None if trailing else order.aux_price,
        trailing_amount=order.aux_price if trailing and not order.trailing_percent else None,
        trailing_percent=order.trailing_percent if trailing else None,
        trail_stop_price=order.trail_stop_price if trailing else None,
        limit_price_offset=order.lmt_price_offset,
        tif=tif,
        good_till=parse_ib_time(order.good_till_date) if order.good_till_date else None,
        oca_group=order.oca_group,
        oca_type=order.oca_type,
        order_ref=order.order_ref,
        account=order.account,
        outside_rth=order.outside_rth,
        parent_id=order.parent_id,
        transmit=order.transmit,
    )


def parse_ib_time(text: str, zone: ZoneInfo = DEFAULT_ZONE) -> datetime:
    """Parse `YYYYMMDD HH:MM:SS [Zone]`, `YYYYMMDD-HH:MM:SS` (UTC) or `YYYYMMDD`, to aware UTC."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{8}-\d{2}:\d{2}:\d{2}", text):
            return datetime.strptime(text, "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
        if re.fullmatch(r"\d{8}", text):
            return datetime.strptime(text, "%Y%m%d").replace(tzinfo=zone).astimezone(UTC)
        parts = text.split(" ", 2)
        stamp = datetime.strptime(f"{parts[0]} {parts[1]}", "%Y%m%d %H:%M:%S")
        tz = ZoneInfo(parts[2].strip()) if len(parts) == 3 and parts[2].strip() else zone
        return stamp.replace(tzinfo=tz).astimezone(UTC)
    except (ValueError, IndexError, ZoneInfoNotFoundError):
        raise TranslationError(
            f"time {text!r} is not 'YYYYMMDD HH:MM:SS Zone', 'YYYYMMDD-HH:MM:SS' or 'YYYYMMDD'"
        ) from None


def end_date_time(text: str, now: datetime) -> datetime:
    """reqHistoricalData's endDateTime: empty means now."""
    return now if not text.strip() else parse_ib_time(text)


def duration(text: str) -> timedelta:
    """`'3600 S'`, `'2 D'`, `'1 W'`, `'1 M'`, `'1 Y'` as a timedelta (months 30 days, years 365)."""
    match = re.fullmatch(r"\s*(\d+)\s+([SDWMY])\s*", text.upper())
    if match is None or int(match.group(1)) <= 0:
        raise TranslationError(f"duration {text!r} is not '<positive integer> <S|D|W|M|Y>'")
    return int(match.group(1)) * _UNITS[match.group(2)]


def bar_size(text: str) -> timedelta:
    """`'1 secs'`, `'5 mins'`, `'1 hour'`, `'1 day'`, ... as a timedelta."""
    match = re.fullmatch(r"\s*(\d+)\s+(sec|min|hour|day|week|month)s?\s*", text.lower())
    if match is None or int(match.group(1)) <= 0:
        raise TranslationError(f"bar size {text!r} is not like '1 min', '5 mins', '1 day'")
    return int(match.group(1)) * _BAR_UNITS[match.group(2)]


_LONGEST_SPAN = (
    # IB's duration step sizes: the smallest bar size allowed for each request duration.
    (timedelta(seconds=1), timedelta(seconds=1800)),
    (timedelta(seconds=5), timedelta(seconds=3600)),
    (timedelta(seconds=10), timedelta(seconds=14400)),
    (timedelta(seconds=30), timedelta(seconds=28800)),
    (timedelta(minutes=1), timedelta(days=1)),
    (timedelta(minutes=2), timedelta(days=2)),
    (timedelta(minutes=3), timedelta(weeks=1)),
    (timedelta(minutes=30), timedelta(days=31)),
)


MARKET_RULES: dict[int, tuple[tuple[Decimal, Decimal], ...]] = {
    26: ((Decimal(0), Decimal("0.01")),),
    239: ((Decimal(0), Decimal("0.05")),),
    110: ((Decimal(0), Decimal("0.25")),),
    67: ((Decimal(0), Decimal("0.00005")),),
}
"""Market rule id -> price bands (lowEdge, increment), IB's ids for those flat increments."""


def market_rule_id(tick_size: Decimal) -> int:
    """The market rule of a contract whose increment is `tick_size` everywhere."""
    for rule_id, bands in MARKET_RULES.items():
        if len(bands) == 1 and bands[0][1] == tick_size:
            return rule_id
    raise ValueError(f"no market rule for tick size {tick_size}")


def check_bar_count(span: timedelta, bar: timedelta) -> None:
    """Refuse a request longer than IB serves for its bar size (IB's step-size table: 1 sec bars
    for at most 1800 S, 1 min for 1 D, 30 mins for 1 M, ...; daily bars for any span), so no bar
    of a request too large to serve is ever built. Raises `TranslationError` with IB's text."""
    if bar >= timedelta(days=1):
        return
    longest = max((limit for smallest, limit in _LONGEST_SPAN if smallest <= bar),
                  default=timedelta(0))
    if span > longest:
        raise TranslationError(
            f"Time length exceed max. ({span.total_seconds():.0f} S of "
            f"{bar.total_seconds():.0f}-second bars asked; at most "
            f"{longest.total_seconds():.0f} S for that bar size)"
        )


def bar_source(text: str) -> BarSource:
    """whatToShow as a `BarSource`."""
    source = _SOURCES.get(text.upper())
    if source is None:
        raise TranslationError(f"whatToShow {text!r} is not supported ({', '.join(_SOURCES)})")
    return source


def order_type_text(kind: OrderType) -> str:
    """IB's name of an order type."""
    return _ORDER_TYPE_TEXT[kind]


def tif_text(tif: TimeInForce) -> str:
    """IB's name of a time in force."""
    return tif.name


def status_text(status: OrderStatus) -> str:
    """IB's order status string."""
    return _STATUS_TEXT[status]


def ib_time(moment: datetime) -> str:
    """`YYYYmmdd HH:MM:SS UTC`, the form the client parses with its zone."""
    return moment.astimezone(UTC).strftime("%Y%m%d %H:%M:%S UTC")


def format_bar_time(moment: datetime, daily: bool, format_date: int, zone: str) -> str:
    """A bar's date as reqHistoricalData's formatDate asks: 1 text, 2 epoch seconds."""
    local = moment.astimezone(ZoneInfo(zone))
    if daily:
        return local.strftime("%Y%m%d")
    if format_date == 2:
        return str(int(moment.timestamp()))
    return local.strftime("%Y%m%d %H:%M:%S ") + zone


def contract_fields(spec: ContractSpec, *, primary_exchange: bool = False) -> list[object]:
    """conId, symbol, secType, lastTradeDate, strike, right, multiplier, exchange (or primary
    exchange), currency, localSymbol, tradingClass — the 11-field block of orders, executions,
    positions and portfolio updates."""
    inst = spec.instrument
    option = isinstance(inst, OptionContract)
    exchange = getattr(inst, "primary_exchange", "") if primary_exchange else inst.exchange
    return [
        spec.con_id,
        spec.symbol,
        "OPT" if option else "STK",
        inst.expiry.strftime("%Y%m%d") if isinstance(inst, OptionContract) else "",
        inst.strike if isinstance(inst, OptionContract) else 0,
        inst.right.value if isinstance(inst, OptionContract) else "",
        inst.multiplier if option else "",
        exchange,
        inst.currency,
        spec.local_symbol,
        spec.symbol,
    ]
