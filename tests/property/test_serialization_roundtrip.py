"""Every lifecycle event class and `Signal` survive the JSON edge unchanged (Hypothesis).

The strategies below build arbitrary *valid* domain values — full-precision Decimals, microsecond
UTC datetimes, any text — so the round trip is tested on more than the happy sample.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ordergate.adapters.serialization import (
    canonical_record_json,
    decode_event,
    decode_signal,
    encode_event,
    encode_signal,
    record_from_canonical,
)
from ordergate.domain.audit import AuditRecord
from ordergate.domain.events import (
    BreakerReset,
    BreakerTripped,
    CommissionReport,
    ConnectionState,
    ConnectionStateChanged,
    ExecutionFill,
    FillRecovered,
    LifecycleEvent,
    OptionAssigned,
    OptionExercised,
    OptionExpired,
    OrderEventKind,
    OrderLifecycleEvent,
    PnLSnapshot,
    PositionSnapshot,
    ReconciliationDiff,
    RiskDecisionMade,
    TradingStateChanged,
)
from ordergate.domain.instruments import OptionContract, OptionRight, Stock
from ordergate.domain.orders.enums import OrderType, TimeInForce
from ordergate.domain.risk.decision import (
    BreakerState,
    Denial,
    RiskCode,
    RiskDecision,
    TradingState,
)
from ordergate.domain.signals import Signal
from ordergate.domain.values import (
    BrokerOrderId,
    ClientOrderId,
    CorrelationId,
    ExecutionId,
    InstrumentId,
    Side,
    SignalId,
)

utc = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
# Identifiers obey their types' rule: printable, no surrounding whitespace (values.check_text).
ident = st.text(
    st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")),
    min_size=1,
    max_size=16,
).filter(lambda s: s.isprintable() and s == s.strip() != "")
signal_ids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64)
text = st.text(max_size=40)
decimals = st.decimals(allow_nan=False, allow_infinity=False, places=6, max_value=10**9)
positive = st.decimals(min_value=Decimal("0.000001"), max_value=10**9, places=6)
non_negative = st.decimals(min_value=0, max_value=10**9, places=6)
nonzero = st.decimals(min_value=-(10**6), max_value=10**6, places=0).filter(lambda d: d != 0)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


correlations = optional(ident.map(CorrelationId))
symbols = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=5)
stocks = st.builds(Stock, symbols, primary_exchange=st.sampled_from(["", "NASDAQ"]))
options = st.builds(
    OptionContract,
    symbols,
    st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    st.decimals(min_value=Decimal("0.5"), max_value=5000, places=2),
    st.sampled_from(OptionRight),
    last_trade_time=st.times(),
)
common = {"ts_event": utc, "ts_init": utc, "correlation_id": correlations}

fills = st.builds(
    ExecutionFill,
    ident.map(ClientOrderId),
    ident.map(ExecutionId),
    ident.map(InstrumentId),
    st.sampled_from(Side),
    positive,
    positive,
    commission=optional(non_negative),
    broker_order_id=optional(ident.map(BrokerOrderId)),
    **common,
)
denials = st.builds(Denial, st.sampled_from(RiskCode), text, text, text)


@st.composite
def decisions(draw: st.DrawFn) -> RiskDecision:
    denied = draw(st.lists(denials, max_size=3).map(tuple))
    return RiskDecision(
        client_order_id=draw(ident.map(ClientOrderId)),
        approved=not denied,
        ts=draw(utc),
        denials=denied,
        inputs=draw(st.lists(st.tuples(text, text), max_size=3).map(tuple)),
        correlation_id=draw(correlations),
        reducing=draw(st.booleans()),
    )


events: st.SearchStrategy[LifecycleEvent] = st.one_of(
    st.builds(
        OrderLifecycleEvent,
        ident.map(ClientOrderId),
        st.sampled_from(OrderEventKind),
        broker_order_id=optional(ident.map(BrokerOrderId)),
        reason=text,
        quantity=optional(positive),
        limit_price=optional(positive),
        stop_price=optional(positive),
        **common,
    ),
    fills,
    st.builds(CommissionReport, ident.map(ExecutionId), non_negative, currency=text, **common),
    st.builds(PositionSnapshot, ident.map(InstrumentId), decimals, optional(positive), **common),
    st.builds(PnLSnapshot, decimals, decimals, non_negative, decimals, **common),
    st.builds(RiskDecisionMade, decisions(), **common),
    st.builds(BreakerTripped, text, text, st.sampled_from(BreakerState), **common),
    st.builds(
        BreakerReset, text, st.sampled_from(BreakerState), st.sampled_from(BreakerState), **common
    ),
    st.builds(
        TradingStateChanged,
        st.sampled_from(TradingState),
        st.sampled_from(TradingState),
        text,
        **common,
    ),
    st.builds(
        ConnectionStateChanged,
        st.sampled_from(ConnectionState),
        st.sampled_from(ConnectionState),
        detail=text,
        code=optional(st.integers(0, 10_000)),
        **common,
    ),
    st.builds(ReconciliationDiff, text, text, text, text, **common),
    st.builds(FillRecovered, fills, **common),
    st.builds(
        OptionExercised, ident, options, nonzero, stocks, nonzero, optional(positive), **common
    ),
    st.builds(
        OptionAssigned, ident, options, nonzero, stocks, nonzero, optional(positive), **common
    ),
    st.builds(OptionExpired, ident, options, nonzero, optional(positive), **common),
)

# A signal's numbers lie on its instrument's grid (whole shares, cent ticks: the defaults).
shares = st.integers(1, 10**9).map(Decimal)
on_tick = st.decimals(min_value=Decimal("0.01"), max_value=10**9, places=2)
signals = st.builds(
    Signal,
    signal_ids.map(SignalId),
    stocks | options,
    st.sampled_from(Side),
    utc,
    strategy=ident,
    confidence=st.decimals(min_value=0, max_value=1, places=4),
    quantity=optional(shares),
    order_type=st.sampled_from(OrderType),
    limit_price=optional(on_tick),
    stop_price=optional(on_tick),
    stop_loss=optional(on_tick),
    take_profit=optional(on_tick),
    time_in_force=st.sampled_from(TimeInForce),
    correlation_id=correlations,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
records = st.builds(
    AuditRecord,
    text,
    utc,
    st.dictionaries(text, json_values, max_size=5),
    correlations,
)


@given(events)
def test_every_event_class_round_trips(event: LifecycleEvent) -> None:
    assert event == decode_event(encode_event(event))


@given(events)
def test_encoded_event_is_tagged_with_its_class_and_version(event: LifecycleEvent) -> None:
    document = json.loads(encode_event(event))
    assert (type(event).__name__, event.version) == (document["_type"], document["version"])


@given(signals)
def test_signals_round_trip(signal: Signal) -> None:
    assert signal == decode_signal(encode_signal(signal))


@given(records)
def test_audit_records_read_back_from_their_canonical_bytes(record: AuditRecord) -> None:
    assert record == record_from_canonical(canonical_record_json(record))


@given(records)
def test_canonical_bytes_are_the_sorted_compact_json_of_the_record(record: AuditRecord) -> None:
    body = canonical_record_json(record)
    document = json.loads(body)
    again = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert again.encode() == body


@given(st.times())
def test_option_last_trade_time_survives_in_signals(moment: time) -> None:
    contract = OptionContract(
        "SPY", date(2025, 1, 17), Decimal(500), OptionRight.PUT, last_trade_time=moment
    )
    signal = Signal(SignalId("s"), contract, Side.BUY, datetime(2024, 1, 2, tzinfo=UTC))
    assert signal == decode_signal(encode_signal(signal))
