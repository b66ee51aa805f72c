"""Answers to the contract and market-data requests: contract details, option chain parameters,
snapshot and streaming quotes, historical bars.

Unknown or ambiguous contracts are answered with error 200 and the request's id (the client ends
the request with no result); historical problems with error 162, which the client also treats as
the end of the request. Must never import `ib_async`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import attrs

from ordergate.adapters.calendar.xnys import xnys_calendar
from ordergate.adapters.gateway_sim import messages as m
from ordergate.adapters.gateway_sim import requests as rq
from ordergate.adapters.gateway_sim.cursor import WireContract
from ordergate.adapters.gateway_sim.engine import EngineRefusal, RefusalReason
from ordergate.adapters.gateway_sim.engine_types import (
    BarRequest,
    ContractQuery,
    ContractSpec,
    SecType,
)
from ordergate.adapters.gateway_sim.session import ClientSession
from ordergate.adapters.gateway_sim.translate import (
    TranslationError,
    bar_size,
    bar_source,
    check_bar_count,
    contract_query,
    duration,
    end_date_time,
)
from ordergate.domain.instruments import OptionContract
from ordergate.domain.market import Bar

if TYPE_CHECKING:
    from ordergate.adapters.gateway_sim.server import GatewayServer

__all__ = ["HANDLERS", "resolve"]

_NO_DEFINITION = "No security definition has been found for the request"
_HMDS = "Historical Market Data Service error message:"


_NO_EXCHANGE = "Error validating request.-'bW' : cause - Please enter exchange"


def _missing_exchange(
    server: GatewayServer, session: ClientSession, req_id: int, wire: WireContract
) -> bool:
    """True after answering 321 (as IB) for contract details asked without conId and exchange.
    ib_async takes 321 for a warning that ends nothing, so contractDetailsEnd follows: the
    request completes empty instead of waiting forever."""
    if wire.con_id or wire.exchange.strip():
        return False
    server.send(session, m.error(req_id, 321, f"{_NO_EXCHANGE} (contract {wire.symbol!r} "
                                 f"{wire.sec_type or 'STK'} has no exchange; use SMART)"))
    server.send(session, m.contract_details_end(req_id))
    return True


def resolve(
    server: GatewayServer, session: ClientSession, req_id: int, wire: WireContract
) -> ContractSpec | None:
    """The one contract `wire` names, or None after answering error 200 with `req_id`."""
    try:
        found = list(server.engine.qualify(contract_query(wire)))
    except TranslationError as exc:
        server.send(session, m.error(req_id, 200, f"{_NO_DEFINITION}: {exc}"))
        return None
    if len(found) == 1:
        return found[0]
    detail = "no such contract" if not found else f"{len(found)} contracts match; be more specific"
    server.send(session, m.error(req_id, 200, f"{_NO_DEFINITION}: {detail}"))
    return None


def _contract_details(
    server: GatewayServer, session: ClientSession, req: rq.ReqContractDetails
) -> None:
    if _missing_exchange(server, session, req.req_id, req.contract):
        return
    try:
        found = list(server.engine.qualify(contract_query(req.contract)))
    except TranslationError as exc:
        server.send(session, m.error(req.req_id, 200, f"{_NO_DEFINITION}: {exc}"))
        return
    if not found:
        server.send(session, m.error(req.req_id, 200, _NO_DEFINITION))
        return
    now = server.engine.now()
    for spec in found:
        server.send(session, m.contract_details(req.req_id, spec, now))
    server.send(session, m.contract_details_end(req.req_id))


def _sec_def_opt_params(
    server: GatewayServer, session: ClientSession, req: rq.ReqSecDefOptParams
) -> None:
    query = ContractQuery(symbol=req.underlying_symbol, sec_type=SecType.OPTION)
    options = [s.instrument for s in server.engine.qualify(query)]
    chain = [o for o in options if isinstance(o, OptionContract)]
    if chain:
        server.send(session, m.sec_def_opt_params(
            req.req_id,
            exchange="SMART",
            under_con_id=req.underlying_con_id,
            trading_class=req.underlying_symbol,
            multiplier=chain[0].multiplier,
            expirations=sorted({f"{o.expiry:%Y%m%d}" for o in chain}),
            strikes=sorted({o.strike for o in chain}),
        ))
    server.send(session, m.sec_def_opt_params_end(req.req_id))


def _market_data(server: GatewayServer, session: ClientSession, req: rq.ReqMktData) -> None:
    spec = resolve(server, session, req.req_id, req.contract)
    if spec is None:
        return
    quote = server.engine.snapshot(spec.con_id)
    if quote is None:
        server.send(session, m.error(req.req_id, 354, "Requested market data is not subscribed."))
        return
    for message in m.snapshot_ticks(req.req_id, quote, session.market_data_type):
        server.send(session, message)
    if req.snapshot or req.regulatory_snapshot:
        server.send(session, m.tick_snapshot_end(req.req_id))
    else:
        session.subscriptions.market_data[req.req_id] = spec.con_id


def _cancel_market_data(server: GatewayServer, session: ClientSession, req: Any) -> None:
    session.subscriptions.market_data.pop(req.req_id, None)


_PERIODS = {timedelta(weeks=1): "week", timedelta(days=30): "month"}


def _sessions_span(text: str, end: datetime, zone: str, span: timedelta) -> timedelta:
    """For daily bars the engine counts `span.days` sessions back. IB counts `N D` in sessions
    but `W`, `M` and `Y` in calendar time (1 M is about 21 sessions, 1 Y about 252): turn those
    into the XNYS sessions of that calendar window."""
    count, unit = int(text.split(maxsplit=1)[0]), text.split()[1].upper()
    if unit not in {"W", "M", "Y"}:
        return span
    last = end.astimezone(ZoneInfo(zone)).date()
    if unit == "W":
        first = last - timedelta(weeks=count)
    else:
        months = count * (12 if unit == "Y" else 1)
        year, month = divmod(last.year * 12 + last.month - 1 - months, 12)
        first = last.replace(year=year, month=month + 1, day=min(last.day, 28))
    return timedelta(days=max(1, xnys_calendar().sessions_between(first, last)))


def _bid_ask(bid: Bar, ask: Bar, tick: Decimal) -> Bar:
    """IB's BID_ASK bar: open the time-average bid, high the highest ask, low the lowest bid,
    close the time-average ask (averages of the bar's open and close, on the tick); no volume."""
    def mean(bar: Bar) -> Decimal:
        return ((bar.open + bar.close) / 2 / tick).to_integral_value() * tick

    return attrs.evolve(bid, open=mean(bid), high=max(ask.high, mean(bid), mean(ask)),
                        low=min(bid.low, mean(bid), mean(ask)), close=mean(ask),
                        volume=Decimal(0))


def _aggregate(bars: list[Bar], period: str, size: timedelta, zone: str) -> list[Bar]:
    """Daily bars folded into weekly (ISO week) or monthly bars: first open, highest high, lowest
    low, last close, summed volume, dated by the first session of the period."""
    groups: dict[tuple[int, int], list[Bar]] = {}
    tz = ZoneInfo(zone)
    for bar in bars:
        day = bar.ts.astimezone(tz).date()
        key = day.isocalendar()[:2] if period == "week" else (day.year, day.month)
        groups.setdefault(key, []).append(bar)
    return [
        attrs.evolve(
            group[0], high=max(b.high for b in group), low=min(b.low for b in group),
            close=group[-1].close, volume=sum((b.volume for b in group), Decimal(0)),
            duration=size,
        )
        for group in groups.values()
    ]


def _historical(server: GatewayServer, session: ClientSession, req: rq.ReqHistoricalData) -> None:
    if server.faults.take("historical_pacing"):
        server.send(session, m.error(req.req_id, 162,
                                     f"{_HMDS}Historical data request pacing violation"))
        return
    spec = resolve(server, session, req.req_id, req.contract)
    if spec is None:
        return
    try:
        end = end_date_time(req.end_date_time, server.engine.now())
        span = duration(req.duration)
        size = bar_size(req.bar_size)
        check_bar_count(span, size)
        period = _PERIODS.get(size)
        daily = timedelta(days=1) if period else size
        if daily >= timedelta(days=1):
            span = _sessions_span(req.duration, end, spec.instrument.time_zone, span)
        what = req.what_to_show.strip().upper()
        if what == "ADJUSTED_LAST" and req.end_date_time.strip():
            raise TranslationError("whatToShow ADJUSTED_LAST requires an empty endDateTime "
                                   f"(got {req.end_date_time!r})")
        source = {"ADJUSTED_LAST": "TRADES", "BID_ASK": "BID"}.get(what, what)
        request = BarRequest(spec.con_id, end, span, daily, bar_source(source), req.use_rth)
        bars = list(server.engine.bars(request))
        if what == "BID_ASK":
            asks = server.engine.bars(attrs.evolve(request, source=bar_source("ASK")))
            bars = [_bid_ask(bid, ask, spec.instrument.tick_size)
                    for bid, ask in zip(bars, asks, strict=True)]
        if period is not None:
            bars = _aggregate(bars, period, size, spec.instrument.time_zone)
    except TranslationError as exc:
        server.send(session, m.error(req.req_id, 162, f"{_HMDS}{exc}"))
        return
    except EngineRefusal as exc:
        code = 200 if exc.reason is RefusalReason.UNKNOWN_CONTRACT else 162
        server.send(session, m.error(req.req_id, code, f"{_HMDS}{exc.detail}"))
        return
    if not bars:
        server.send(session, m.error(req.req_id, 162, f"{_HMDS}HMDS query returned no data"))
        return
    format_date = 1 if request.bar_size >= timedelta(days=1) else req.format_date
    server.send(session, m.historical_data(
        req.req_id, bars, start=end - span, end=end, format_date=format_date,
        zone=spec.instrument.time_zone,
    ))


HANDLERS: dict[type, Callable[[GatewayServer, ClientSession, Any], None]] = {
    rq.ReqContractDetails: _contract_details,
    rq.ReqSecDefOptParams: _sec_def_opt_params,
    rq.ReqMktData: _market_data,
    rq.CancelMktData: _cancel_market_data,
    rq.ReqHistoricalData: _historical,
    rq.CancelHistoricalData: lambda server, session, req: None,
}
"""Request class → answer, for the requests this module owns."""
