"""Encoders of the server→client messages for the session, errors, contracts and market data.

Each function returns one message's fields, rendered as strings, message id first, laid out as
the client's decoder unpacks them at the negotiated server version (the decoder unpacks fixed
tuples: a missing or extra field makes it drop the message). Order, execution and account
messages live in `messages_orders.py` and `messages_account.py`. Must never import `ib_async`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from ordergate.adapters.calendar.xnys import xnys_calendar
from ordergate.adapters.gateway_sim.catalogue import OPTION_PRIMARY_EXCHANGE, isin
from ordergate.adapters.gateway_sim.engine_types import ContractSpec, MarketSnapshot
from ordergate.adapters.gateway_sim.framing import encode_field
from ordergate.adapters.gateway_sim.translate import format_bar_time, market_rule_id
from ordergate.domain.instruments import OptionContract
from ordergate.domain.market import Bar

__all__ = [
    "contract_details",
    "contract_details_end",
    "current_time",
    "error",
    "fields",
    "historical_data",
    "managed_accounts",
    "market_data_type",
    "next_valid_id",
    "sec_def_opt_params",
    "sec_def_opt_params_end",
    "server_hello",
    "snapshot_ticks",
    "tick_price",
    "tick_size",
    "tick_snapshot_end",
    "tick_string",
]

_WAP_PLACES = Decimal("0.0001")
_LIVE_TICKS = {"bid": 1, "ask": 2, "last": 4, "high": 6, "low": 7, "close": 9, "open": 14,
               "bid_size": 0, "ask_size": 3, "last_size": 5, "volume": 8}
_DELAYED_TICKS = {"bid": 66, "ask": 67, "last": 68, "high": 72, "low": 73, "close": 75,
                  "open": 76, "bid_size": 69, "ask_size": 70, "last_size": 71, "volume": 74}


def fields(*values: object) -> list[str]:
    """Render values as wire fields."""
    return [encode_field(v) for v in values]


def server_hello(version: int, now: datetime) -> list[str]:
    """The handshake reply: exactly two fields, server version and connection time."""
    return fields(version, now.strftime("%Y%m%d %H:%M:%S ") + "UTC")


def next_valid_id(order_id: int) -> list[str]:
    """nextValidId (9)."""
    return fields(9, 1, order_id)


def managed_accounts(accounts: Sequence[str]) -> list[str]:
    """managedAccounts (15): comma-separated account codes (never empty: the client waits)."""
    return fields(15, 1, ",".join(accounts))


def current_time(now: datetime) -> list[str]:
    """currentTime (49): epoch seconds."""
    return fields(49, 1, int(now.timestamp()))


def error(req_id: int, code: int, text: str, advanced_reject_json: str = "") -> list[str]:
    """error (4): reqId (-1 when not tied to a request), code, text and the advanced-reject JSON
    field that servers send from version 166 on."""
    return fields(4, 2, req_id, code, text, advanced_reject_json)


_VALID_EXCHANGES = "SMART,ARCA,NASDAQ,NYSE"


def contract_details(req_id: int, spec: ContractSpec, now: datetime) -> list[str]:
    """contractDetails (10): 40 fields, plus a stock's ISIN in secIdList (options carry none; their
    primaryExchange is CBOE)."""
    inst = spec.instrument
    option = isinstance(inst, OptionContract)
    zone = inst.time_zone
    last_times = ""
    if isinstance(inst, OptionContract):
        last_times = f"{inst.expiry:%Y%m%d} {inst.last_trade_time:%H:%M:%S} {zone}"
    return fields(
        10, req_id, spec.symbol, "OPT" if option else "STK", last_times,
        inst.strike if isinstance(inst, OptionContract) else 0,
        inst.right.value if isinstance(inst, OptionContract) else "",
        inst.exchange, inst.currency, spec.local_symbol,
        spec.symbol,  # marketName
        spec.symbol,  # tradingClass
        spec.con_id, inst.tick_size,
        inst.multiplier if option else "",
        "ACTIVETIM,GTC,GTD,IOC,LMT,MKT,STP,STPLMT,TRAIL,TRAILLMT",  # orderTypes
        _VALID_EXCHANGES,
        1,  # priceMagnifier
        spec.under_con_id, spec.long_name,
        OPTION_PRIMARY_EXCHANGE if option else getattr(inst, "primary_exchange", ""),
        inst.expiry.strftime("%Y%m") if isinstance(inst, OptionContract) else "",  # contractMonth
        "", "", "",  # industry, category, subcategory
        zone, _sessions(now, zone, extended=True), _sessions(now, zone, extended=False),
        "", "",  # evRule, evMultiplier
        *([0] if option else [1, "ISIN", isin(spec.symbol)]),  # secIdList
        1,  # aggGroup
        spec.symbol if option else "", "STK" if option else "",  # underSymbol, underSecType
        _market_rule(inst.tick_size),  # marketRuleIds, one per valid exchange
        inst.expiry.strftime("%Y%m%d") if isinstance(inst, OptionContract) else "",
        "" if option else "COMMON",  # stockType
        inst.size_increment, inst.size_increment, inst.size_increment,
    )


def _market_rule(tick_size: Decimal) -> str:
    return ",".join([str(market_rule_id(tick_size))] * len(_VALID_EXCHANGES.split(",")))


def _sessions(now: datetime, zone: str, *, extended: bool) -> str:
    """IB's tradingHours (`extended`: 04:00–20:00, closing four hours after the regular close)
    or liquidHours for the five days from `now`, from the XNYS calendar: `CLOSED` on weekends and
    holidays, the early close (13:00) where there is one."""
    calendar = xnys_calendar()
    tz = ZoneInfo(zone)
    local = now.astimezone(tz).date()
    days = []
    for offset in range(5):
        day = local + timedelta(days=offset)
        stamp = f"{day:%Y%m%d}"
        session = calendar.session(day)
        if session is None:
            days.append(f"{stamp}:CLOSED")
            continue
        opened = session.open.astimezone(tz)
        closed = session.close.astimezone(tz)
        if extended:
            opened = opened.replace(hour=4, minute=0)
            closed = closed + timedelta(hours=4)
        days.append(f"{stamp}:{opened:%H%M}-{stamp}:{closed:%H%M}")
    return ";".join(days)


def contract_details_end(req_id: int) -> list[str]:
    """contractDetailsEnd (52)."""
    return fields(52, 1, req_id)


def sec_def_opt_params(
    req_id: int,
    *,
    exchange: str,
    under_con_id: int,
    trading_class: str,
    multiplier: Decimal,
    expirations: Sequence[str],
    strikes: Sequence[Decimal],
) -> list[str]:
    """securityDefinitionOptionParameter (75): one exchange's expirations and strikes."""
    return fields(
        75, req_id, exchange, under_con_id, trading_class, multiplier,
        len(expirations), *expirations, len(strikes), *strikes,
    )


def sec_def_opt_params_end(req_id: int) -> list[str]:
    """securityDefinitionOptionParameterEnd (76)."""
    return fields(76, req_id)


def market_data_type(req_id: int, data_type: int) -> list[str]:
    """marketDataType (58): 1 live, 2 frozen, 3 delayed, 4 delayed-frozen."""
    return fields(58, 1, req_id, data_type)


def tick_price(req_id: int, tick_type: int, price: Decimal, size: Decimal) -> list[str]:
    """tickPrice (1): exactly 7 fields, the attribute mask last."""
    return fields(1, 6, req_id, tick_type, price, size, 0)


def tick_size(req_id: int, tick_type: int, size: Decimal) -> list[str]:
    """tickSize (2)."""
    return fields(2, 6, req_id, tick_type, size)


def tick_string(req_id: int, tick_type: int, value: str) -> list[str]:
    """tickString (46), e.g. the last trade timestamp (tick type 45)."""
    return fields(46, 6, req_id, tick_type, value)


def tick_snapshot_end(req_id: int) -> list[str]:
    """tickSnapshotEnd (57): a snapshot request is complete."""
    return fields(57, 1, req_id)


def snapshot_ticks(req_id: int, quote: MarketSnapshot, data_type: int = 1) -> list[list[str]]:
    """marketDataType then the price and size ticks of `quote` (delayed tick ids for types 3/4).

    Bid and ask go out only with a non-zero size: the client treats a zero-size bid or ask as
    "no quote"."""
    ids = _DELAYED_TICKS if data_type in {3, 4} else _LIVE_TICKS
    out = [market_data_type(req_id, data_type)]
    if quote.bid is not None and quote.bid_size > 0:
        out.append(tick_price(req_id, ids["bid"], quote.bid, quote.bid_size))
    if quote.ask is not None and quote.ask_size > 0:
        out.append(tick_price(req_id, ids["ask"], quote.ask, quote.ask_size))
    if quote.last is not None:
        out.append(tick_price(req_id, ids["last"], quote.last, quote.last_size))
    if quote.volume is not None:
        out.append(tick_size(req_id, ids["volume"], quote.volume))
    if quote.close is not None:
        out.append(tick_price(req_id, ids["close"], quote.close, Decimal(0)))
    out.append(tick_string(req_id, 45, str(int(quote.ts.timestamp()))))
    return out


def historical_data(
    req_id: int,
    bars: Sequence[Bar],
    *,
    start: datetime,
    end: datetime,
    format_date: int,
    zone: str,
) -> list[str]:
    """historicalData (17): all bars in one message; the client treats it as the end too."""
    values: list[object] = [17, req_id, _range_stamp(start, zone), _range_stamp(end, zone),
                            len(bars)]
    for bar in bars:
        daily = bar.duration >= timedelta(days=1)
        values += [
            format_bar_time(bar.ts, daily, format_date, zone),
            bar.open, bar.high, bar.low, bar.close, bar.volume,
            bar.typical_price.quantize(_WAP_PLACES),
            -1 if bar.volume == 0 else max(1, int(bar.volume / 100)),  # trades; -1 for quotes
        ]
    return fields(*values)


def _range_stamp(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y%m%d %H:%M:%S ") + zone
