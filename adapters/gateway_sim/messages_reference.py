"""Encoders for the reference-data answers: scanner parameters, market-depth exchanges, news
providers, market rules, matching symbols, head timestamps, histograms, historical ticks and
positions-multi. Each mirrors how ib_async's `Decoder` unpacks that message id. Must never import
`ib_async`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from ordergate.adapters.gateway_sim.engine_types import ContractSpec, PositionView
from ordergate.adapters.gateway_sim.messages import fields
from ordergate.adapters.gateway_sim.translate import contract_fields
from ordergate.domain.market import Bar

__all__ = [
    "head_timestamp",
    "histogram_data",
    "historical_ticks",
    "market_rule",
    "mkt_depth_exchanges",
    "news_providers",
    "position_multi",
    "position_multi_end",
    "scanner_parameters",
    "symbol_samples",
]


def scanner_parameters(xml: str) -> list[str]:
    """scannerParameters (19): version, the XML document."""
    return fields(19, 1, xml)


def mkt_depth_exchanges(rows: Sequence[tuple[str, str, str, str, int]]) -> list[str]:
    """mktDepthExchanges (80): count, then exchange, secType, listingExch, serviceDataType,
    aggGroup per exchange."""
    return fields(80, len(rows), *(value for row in rows for value in row))


def news_providers(rows: Sequence[tuple[str, str]]) -> list[str]:
    """newsProviders (85): count, then code and name per provider."""
    return fields(85, len(rows), *(value for row in rows for value in row))


def market_rule(rule_id: int, increments: Sequence[tuple[Decimal, Decimal]]) -> list[str]:
    """marketRule (93): rule id, count, then lowEdge and increment per price band."""
    return fields(93, rule_id, len(increments), *(v for band in increments for v in band))


def symbol_samples(req_id: int, specs: Sequence[ContractSpec], version: int) -> list[str]:
    """symbolSamples (79): per stock conId, symbol, secType, primaryExchange, currency, the
    derivative security types, then description and issuerId from version 176."""
    out: list[object] = [79, req_id, len(specs)]
    for spec in specs:
        inst = spec.instrument
        out += [spec.con_id, spec.symbol, "STK", getattr(inst, "primary_exchange", ""),
                inst.currency, 1, "OPT"]
        if version >= 176:
            out += [spec.long_name, ""]
    return fields(*out)


def head_timestamp(req_id: int, stamp: str) -> list[str]:
    """headTimestamp (88): reqId, the earliest data point (as formatDate asked)."""
    return fields(88, req_id, stamp)


def histogram_data(req_id: int, rows: Sequence[tuple[Decimal, int]]) -> list[str]:
    """histogramData (89): reqId, count, then price and count per row."""
    return fields(89, req_id, len(rows), *(v for row in rows for v in row))


def historical_ticks(req_id: int, what: str, bars: Sequence[Bar], exchange: str) -> list[str]:
    """One tick per second-bar, `done` set: historicalTicks (96, MIDPOINT), historicalTicksBidAsk
    (97, BID_ASK: the bar's low as bid, high as ask) or historicalTicksLast (98, TRADES)."""
    out: list[object]
    if what == "BID_ASK":
        out = [97, req_id, len(bars)]
        for bar in bars:
            out += [_epoch(bar.ts), 0, bar.low, bar.high, bar.volume, bar.volume]
    elif what == "MIDPOINT":
        out = [96, req_id, len(bars)]
        for bar in bars:
            out += [_epoch(bar.ts), "", bar.close, 0]
    else:
        out = [98, req_id, len(bars)]
        for bar in bars:
            out += [_epoch(bar.ts), 0, bar.close, bar.volume, exchange, ""]
    return fields(*out, 1)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def position_multi(req_id: int, pos: PositionView, model_code: str) -> list[str]:
    """positionMulti (71): version, reqId, account, the 11-field contract, position, avgCost,
    modelCode."""
    return fields(71, 1, req_id, pos.account, *contract_fields(pos.contract), pos.quantity,
                  pos.avg_cost.quantize(Decimal("1e-8")), model_code)


def position_multi_end(req_id: int) -> list[str]:
    """positionMultiEnd (72)."""
    return fields(72, 1, req_id)
