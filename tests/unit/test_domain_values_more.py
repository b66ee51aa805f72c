"""Brackets, OCA groups, signals, audit records, account views, events and errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from ordergate.domain.account import AccountSummary, BrokerPosition, OrderView
from ordergate.domain.audit import AuditRecord, VerifyResult
from ordergate.domain.errors import (
    BrokerRejected,
    BrokerTimeout,
    InsufficientDataError,
    InvalidValue,
    RiskLimitExceeded,
)
from ordergate.domain.events import ConnectionState, ConnectionStateChanged, FillRecovered
from ordergate.domain.instruments import OptionContract, OptionRight, Stock
from ordergate.domain.market import Bar, Quote
from ordergate.domain.orders import (
    BracketRequest,
    ClosureReason,
    ExecutionFill,
    OcaGroup,
    OrderIntent,
    OrderRequest,
    OrderStatus,
    OrderType,
)
from ordergate.domain.risk.decision import ApprovedOrder, Denial, RiskCode, RiskDecision
from ordergate.domain.signals import Signal
from ordergate.domain.values import (
    ClientOrderId,
    ExecutionId,
    InstrumentId,
    Side,
    SignalId,
)

NOW = datetime(2024, 1, 5, 15, 0, tzinfo=UTC)
AAPL = Stock("AAPL")


def req(cid: str, side: Side, order_type: OrderType, **kw: object) -> OrderRequest:
    return OrderRequest(
        client_order_id=ClientOrderId(cid),
        instrument=AAPL,
        side=side,
        quantity=Decimal(10),
        order_type=order_type,
        **kw,  # type: ignore[arg-type]
    )


def bracket(**tp_kw: object) -> BracketRequest:
    entry = req("E", Side.BUY, OrderType.LIMIT, limit_price=Decimal(100))
    tp_args: dict[str, object] = {
        "limit_price": Decimal(110),
        "parent_id": ClientOrderId("E"),
        "oca_group": "G",
    }
    tp_args.update(tp_kw)
    tp = req("TP", Side.SELL, OrderType.LIMIT, **tp_args)
    sl = req(
        "SL",
        Side.SELL,
        OrderType.STOP,
        stop_price=Decimal(95),
        parent_id=ClientOrderId("E"),
        oca_group="G",
    )
    return BracketRequest(entry, tp, sl)


def test_valid_bracket_lists_orders_parent_first() -> None:
    b = bracket()
    assert [o.client_order_id.value for o in b.orders] == ["E", "TP", "SL"]


def test_bracket_take_profit_on_the_wrong_side_of_the_stop_is_refused() -> None:
    with pytest.raises(InvalidValue, match="profit side of the stop 95"):
        bracket(limit_price=Decimal(90))


def test_bracket_children_must_share_an_oca_group() -> None:
    with pytest.raises(InvalidValue, match="oca_group"):
        bracket(oca_group="OTHER")


def test_bracket_child_must_point_at_the_entry() -> None:
    with pytest.raises(InvalidValue, match="parent_id"):
        bracket(parent_id=ClientOrderId("X"))


def test_bracket_child_side_must_be_opposite() -> None:
    entry = req("E", Side.BUY, OrderType.MARKET)
    same_side = req(
        "TP",
        Side.BUY,
        OrderType.LIMIT,
        limit_price=Decimal(1),
        parent_id=ClientOrderId("E"),
        oca_group="G",
    )
    sl = req(
        "SL",
        Side.SELL,
        OrderType.STOP,
        stop_price=Decimal(1),
        parent_id=ClientOrderId("E"),
        oca_group="G",
    )
    with pytest.raises(InvalidValue, match="opposite"):
        BracketRequest(entry, same_side, sl)


def test_oca_group_needs_two_members_with_its_name() -> None:
    a = req("A", Side.SELL, OrderType.LIMIT, limit_price=Decimal(1), oca_group="G")
    b = req("B", Side.SELL, OrderType.STOP, stop_price=Decimal(1), oca_group="G")
    assert len(OcaGroup("G", (a, b)).orders) == 2
    with pytest.raises(InvalidValue, match="at least two"):
        OcaGroup("G", (a,))
    c = req("C", Side.SELL, OrderType.STOP, stop_price=Decimal(1), oca_group="H")
    with pytest.raises(InvalidValue, match="must be 'G'"):
        OcaGroup("G", (a, c))


def test_closure_needs_a_reason_and_reports_risk_reducing_intent() -> None:
    with pytest.raises(InvalidValue, match="closure_reason"):
        req("X", Side.SELL, OrderType.MARKET, intent=OrderIntent.CLOSE)
    close = req(
        "X",
        Side.SELL,
        OrderType.MARKET,
        intent=OrderIntent.CLOSE,
        closure_reason=ClosureReason.THREE_DTE,
    )
    assert close.is_risk_reducing_intent
    assert close.signed_quantity == Decimal(-10)
    assert close.reference_price is None
    assert ClosureReason.THREE_DTE.value == "3_DTE_RULE"


def test_trailing_percent_must_be_below_100_and_trail_fields_only_for_trailing() -> None:
    with pytest.raises(InvalidValue, match="must be < 100"):
        req("T", Side.SELL, OrderType.TRAILING_STOP, trail_percent=Decimal(100))
    with pytest.raises(InvalidValue, match="only for TRAILING_STOP"):
        req("T", Side.SELL, OrderType.MARKET, trail_amount=Decimal(1))
    with pytest.raises(InvalidValue, match="must be None for LIMIT"):
        req("T", Side.SELL, OrderType.LIMIT, limit_price=Decimal(1), stop_price=Decimal(1))


def test_approved_order_requires_an_approving_decision_for_the_same_order() -> None:
    request = req("A", Side.BUY, OrderType.MARKET)
    ok = RiskDecision(ClientOrderId("A"), True, NOW)
    assert ApprovedOrder(request, ok).request is request
    denied = RiskDecision(
        ClientOrderId("A"), False, NOW, denials=(Denial(RiskCode.MAX_POSITION, "too big"),)
    )
    assert denied.codes == (RiskCode.MAX_POSITION,)
    assert denied.explain() == "MAX_POSITION: too big"
    with pytest.raises(ValueError, match="was denied"):
        ApprovedOrder(request, denied)
    with pytest.raises(ValueError, match="cannot approve"):
        ApprovedOrder(request, RiskDecision(ClientOrderId("B"), True, NOW))
    with pytest.raises(ValueError, match="exactly when"):
        RiskDecision(ClientOrderId("A"), False, NOW)


def test_signal_confidence_is_bounded() -> None:
    signal = Signal(SignalId("S1"), AAPL, Side.BUY, NOW, confidence=Decimal("0.7"))
    assert signal.order_type is OrderType.MARKET
    with pytest.raises(InvalidValue, match="confidence"):
        Signal(SignalId("S1"), AAPL, Side.BUY, NOW, confidence=Decimal("1.5"))


def test_audit_record_payload_must_be_json_without_floats() -> None:
    record = AuditRecord("risk.decision", NOW, {"qty": "10", "ok": True, "codes": ["A"], "n": None})
    assert record.payload["qty"] == "10"
    with pytest.raises(InvalidValue, match=r"payload\.px.*floats are not allowed"):
        AuditRecord("x", NOW, {"px": 1.5})
    with pytest.raises(InvalidValue, match="keys must be strings"):
        AuditRecord("x", NOW, {"nested": {1: "a"}})
    with pytest.raises(InvalidValue, match="JSON-compatible"):
        AuditRecord("x", NOW, {"when": NOW})
    with pytest.raises(InvalidValue, match="must be a mapping"):
        AuditRecord("x", NOW, ["a"])  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match=r"payload\.list\[1\]"):
        AuditRecord("x", NOW, {"list": ["ok", 2.0]})
    assert not VerifyResult(False, 3, 2, "hash mismatch").ok


def test_account_views() -> None:
    view = OrderView(
        ClientOrderId("A"),
        None,
        AAPL.id,
        Side.BUY,
        OrderType.MARKET,
        OrderStatus.ACCEPTED,
        Decimal(10),
        Decimal(4),
    )
    assert view.leaves_qty == Decimal(6)
    assert BrokerPosition(AAPL, Decimal(-5), Decimal(100)).instrument_id == AAPL.id
    summary = AccountSummary("DU1", NOW, Decimal(1), Decimal(2), Decimal(1), Decimal(4))
    assert summary.currency == "USD"
    with pytest.raises(InvalidValue, match="avg_cost"):
        BrokerPosition(AAPL, Decimal(1), Decimal(-1))


def test_quote_reference_price_and_age() -> None:
    quote = Quote(AAPL.id, NOW, bid=Decimal(10), ask=Decimal(12))
    assert quote.mid == Decimal(11)
    assert quote.reference_price == Decimal(11)
    assert Quote(AAPL.id, NOW, last=Decimal(3), bid=Decimal(1)).reference_price == Decimal(3)
    assert Quote(AAPL.id, NOW).reference_price is None
    assert quote.age(NOW + timedelta(seconds=5)) == timedelta(seconds=5)
    bar = Bar(AAPL.id, NOW, Decimal(10), Decimal(12), Decimal(9), Decimal(11), Decimal(100))
    assert bar.end == NOW + timedelta(minutes=1)
    assert bar.typical_price == Decimal(32) / 3


def test_events_carry_times_and_versions() -> None:
    fill = ExecutionFill(
        ClientOrderId("A"),
        ExecutionId("E"),
        InstrumentId("AAPL"),
        Side.BUY,
        Decimal(1),
        Decimal(1),
        NOW,
        NOW,
    )
    assert fill.same_execution(fill)
    recovered = FillRecovered(fill, NOW, NOW)
    assert recovered.version == 1
    change = ConnectionStateChanged(
        ConnectionState.DEGRADED, ConnectionState.CONNECTED, NOW, NOW, code=1100
    )
    assert change.code == 1100


def test_error_messages_name_what_failed() -> None:
    assert "needs at least 21 values; got 5" in str(InsufficientDataError("EMA(21)", 21, 5))
    assert "denied the order: MAX_POSITION" in str(RiskLimitExceeded("MAX_POSITION"))
    assert str(BrokerRejected("rejected", 201)) == "[201] rejected"
    assert str(BrokerRejected("plain")) == "plain"
    timeout = BrokerTimeout("submit", 2.5)
    assert "timeout=2.5s" in str(timeout)
    assert isinstance(timeout, TimeoutError)


def test_instrument_validation_messages() -> None:
    with pytest.raises(InvalidValue, match="IANA zone"):
        Stock("AAPL", time_zone="Mars/Olympus")
    with pytest.raises(InvalidValue, match="IANA zone"):
        Stock("AAPL", time_zone=5)  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match="must be a date"):
        OptionContract("AAPL", NOW, Decimal(1), OptionRight.CALL)  # type: ignore[arg-type]
    assert OptionContract("AAPL", date(2024, 1, 19), Decimal(1), OptionRight.PUT).zone.key == (
        "America/New_York"
    )
