"""Answers to the reference-data requests IB answers for every account: scanner parameters,
market-depth exchanges and news providers (no request id: answered by message type), market rules
(keyed by rule id), matching symbols, head timestamps, histograms, historical ticks and
positions-multi (each with its reqId, or IB's error for that request). Data comes from the
engine: the catalogue for symbols, its bars for timestamps, histograms and ticks, its positions.
Must never import `ib_async`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ordergate.adapters.gateway_sim import messages as m
from ordergate.adapters.gateway_sim import messages_reference as mr
from ordergate.adapters.gateway_sim import requests as rq
from ordergate.adapters.gateway_sim.engine import EngineRefusal
from ordergate.adapters.gateway_sim.engine_types import BarRequest, ContractQuery, SecType
from ordergate.adapters.gateway_sim.handlers_market import resolve
from ordergate.adapters.gateway_sim.session import ClientSession
from ordergate.adapters.gateway_sim.translate import (
    MARKET_RULES,
    TranslationError,
    bar_source,
    parse_ib_time,
)
from ordergate.domain.market import Bar

if TYPE_CHECKING:
    from ordergate.adapters.gateway_sim.server import GatewayServer

__all__ = ["HANDLERS"]

_HMDS = "Historical Market Data Service error message:"

MAX_MATCHING_SYMBOLS = 16
"""reqMatchingSymbols returns at most this many contracts (as IB)."""

MAX_HISTORICAL_TICKS = 1000
"""reqHistoricalTicks returns at most this many ticks per request (as IB)."""

_HEAD_SPAN = timedelta(days=365 * 20)
_DEPTH_EXCHANGES = (
    ("NASDAQ", "STK", "", "Deep2", 1),
    ("ARCA", "STK", "", "Deep", 1),
    ("NYSE", "STK", "", "Deep", 1),
    ("CBOE", "OPT", "", "Deep", 2),
)
_SCANNER_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<ScanParameterResponse>'
    "<InstrumentList><Instrument><name>US Stocks</name><type>STK</type>"
    "<filters>PRICE,VOLUME</filters></Instrument></InstrumentList>"
    "<LocationTree><Location><displayName>US Stocks</displayName>"
    "<locationCode>STK.US</locationCode><instruments>STK</instruments></Location></LocationTree>"
    "<ScanTypeList><ScanType><displayName>Top % Gainers</displayName>"
    "<scanCode>TOP_PERC_GAIN</scanCode><instruments>STK</instruments></ScanType>"
    "</ScanTypeList></ScanParameterResponse>"
)


def _scanner_parameters(server: GatewayServer, session: ClientSession, req: Any) -> None:
    server.send(session, mr.scanner_parameters(_SCANNER_XML))


def _depth_exchanges(server: GatewayServer, session: ClientSession, req: Any) -> None:
    server.send(session, mr.mkt_depth_exchanges(_DEPTH_EXCHANGES))


def _news_providers(server: GatewayServer, session: ClientSession, req: Any) -> None:
    server.send(session, mr.news_providers(()))  # the emulator's accounts subscribe to no news


def _market_rule(server: GatewayServer, session: ClientSession, req: rq.ReqMarketRule) -> None:
    bands = MARKET_RULES.get(req.market_rule_id)
    if bands is None:
        known = ", ".join(str(r) for r in sorted(MARKET_RULES))
        server.send(session, m.error(-1, 321, f"Error validating request:-'market rule' : cause "
                                     f"- market rule id {req.market_rule_id} is not defined "
                                     f"(known: {known})"))
        return
    server.send(session, mr.market_rule(req.market_rule_id, bands))


def _matching_symbols(server: GatewayServer, session: ClientSession,
                      req: rq.ReqMatchingSymbols) -> None:
    pattern = req.pattern.strip().upper()
    stocks = server.engine.qualify(ContractQuery(sec_type=SecType.STOCK)) if pattern else []
    by_symbol = [s for s in stocks if s.symbol.startswith(pattern)]
    by_name = [s for s in stocks if s not in by_symbol and pattern in s.long_name.upper()]
    found = (sorted(by_symbol, key=lambda s: (s.symbol != pattern, s.symbol)) + by_name)
    server.send(session, mr.symbol_samples(req.req_id, found[:MAX_MATCHING_SYMBOLS],
                                           session.version))


def _bars(server: GatewayServer, request: BarRequest) -> list[Bar]:
    return list(server.engine.bars(request))


def _head_timestamp(server: GatewayServer, session: ClientSession,
                    req: rq.ReqHeadTimeStamp) -> None:
    spec = resolve(server, session, req.req_id, req.contract)
    if spec is None:
        return
    try:
        request = BarRequest(spec.con_id, server.engine.now(), _HEAD_SPAN, timedelta(days=1),
                             bar_source(req.what_to_show), req.use_rth)
        bars = _bars(server, request)
    except (TranslationError, EngineRefusal) as exc:
        server.send(session, m.error(req.req_id, 162, f"{_HMDS}{exc}"))
        return
    if not bars:
        server.send(session, m.error(req.req_id, 162, f"{_HMDS}No head time stamp"))
        return
    first = bars[0].ts.astimezone(UTC)
    stamp = str(int(first.timestamp())) if req.format_date == 2 else f"{first:%Y%m%d-%H:%M:%S}"
    server.send(session, mr.head_timestamp(req.req_id, stamp))


_PERIOD = re.compile(r"\s*(\d+)\s*(day|week|month)s?\s*", re.IGNORECASE)
_PERIOD_UNITS = {"day": timedelta(days=1), "week": timedelta(weeks=1),
                 "month": timedelta(days=30)}


def _histogram(server: GatewayServer, session: ClientSession, req: rq.ReqHistogramData) -> None:
    match = _PERIOD.fullmatch(req.period)
    if match is None or int(match.group(1)) <= 0:
        server.send(session, m.error(req.req_id, 162, f"{_HMDS}period {req.period!r} is not "
                                     "'<n> days', '<n> weeks' or '<n> months'"))
        return
    span = int(match.group(1)) * _PERIOD_UNITS[match.group(2).lower()]
    if span > timedelta(days=31):
        server.send(session, m.error(req.req_id, 162, f"{_HMDS}Time length exceed max. "
                                     f"(histogram period {req.period!r}; at most 1 month)"))
        return
    spec = resolve(server, session, req.req_id, req.contract)
    if spec is None:
        return
    try:
        bars = _bars(server, BarRequest(spec.con_id, server.engine.now(), span,
                                        timedelta(minutes=30), bar_source("TRADES"), req.use_rth))
    except (TranslationError, EngineRefusal) as exc:
        server.send(session, m.error(req.req_id, 162, f"{_HMDS}{exc}"))
        return
    volume: Counter[Decimal] = Counter()
    for bar in bars:
        volume[bar.close] += int(bar.volume)
    server.send(session, mr.histogram_data(req.req_id, sorted(volume.items())))


def _historical_ticks(server: GatewayServer, session: ClientSession,
                      req: rq.ReqHistoricalTicks) -> None:
    what = req.what_to_show.upper()
    if what not in {"TRADES", "MIDPOINT", "BID_ASK"}:
        server.send(session, m.error(req.req_id, 162, f"{_HMDS}whatToShow {req.what_to_show!r} "
                                     "is not TRADES, MIDPOINT or BID_ASK"))
        return
    if bool(req.start.strip()) == bool(req.end.strip()):
        server.send(session, m.error(req.req_id, 162, f"{_HMDS}exactly one of startDateTime "
                                     "and endDateTime must be given"))
        return
    if not 0 < req.number_of_ticks <= MAX_HISTORICAL_TICKS:
        server.send(session, m.error(req.req_id, 162, f"{_HMDS}numberOfTicks "
                                     f"{req.number_of_ticks} is not 1..{MAX_HISTORICAL_TICKS}"))
        return
    spec = resolve(server, session, req.req_id, req.contract)
    if spec is None:
        return
    span = timedelta(seconds=req.number_of_ticks)
    source = "BID" if what == "BID_ASK" else what
    try:
        end = (parse_ib_time(req.end) if req.end.strip()
               else parse_ib_time(req.start) + span)
        bars = _bars(server, BarRequest(spec.con_id, end, span, timedelta(seconds=1),
                                        bar_source(source), req.use_rth))
    except (TranslationError, EngineRefusal) as exc:
        server.send(session, m.error(req.req_id, 162, f"{_HMDS}{exc}"))
        return
    exchange = getattr(spec.instrument, "primary_exchange", "") or spec.instrument.exchange
    server.send(session, mr.historical_ticks(req.req_id, what, bars, exchange))


def _positions_multi(server: GatewayServer, session: ClientSession,
                     req: rq.ReqPositionsMulti) -> None:
    accounts = list(server.engine.accounts())
    if req.account and req.account not in accounts:
        server.send(session, m.error(req.req_id, 321, f"Error validating request:-'account' : "
                                     f"cause - account {req.account!r} is not managed here "
                                     f"({', '.join(accounts)})"))
        return
    for account in [req.account] if req.account else accounts:
        for position in server.engine.positions(account):
            server.send(session, mr.position_multi(req.req_id, position, req.model_code))
    server.send(session, mr.position_multi_end(req.req_id))


HANDLERS: dict[type, Callable[[GatewayServer, ClientSession, Any], None]] = {
    rq.ReqScannerParameters: _scanner_parameters,
    rq.ReqMktDepthExchanges: _depth_exchanges,
    rq.ReqNewsProviders: _news_providers,
    rq.ReqMarketRule: _market_rule,
    rq.ReqMatchingSymbols: _matching_symbols,
    rq.ReqHeadTimeStamp: _head_timestamp,
    rq.ReqHistogramData: _histogram,
    rq.ReqHistoricalTicks: _historical_ticks,
    rq.ReqPositionsMulti: _positions_multi,
}
"""Request class -> answer, for the requests this module owns."""
