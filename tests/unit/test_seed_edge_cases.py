"""Every edge case of seed 001 §8, at the application level on fakes (one test per row).

§8.5 (alpha learnings) is covered against the real ib_async client and the gateway emulator in
`tests/integration/test_ibkr_alpha_learnings.py`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.results import OrderResultStatus
from ordergate.domain.errors import BrokerError, InsufficientDataError, PositionNotFound
from ordergate.domain.indicators import ema
from ordergate.domain.indicators.snapshot import compute_snapshot
from ordergate.domain.instruments import OptionContract, OptionRight, Stock
from ordergate.domain.market import Bar
from ordergate.domain.orders import ClosureReason, OrderType
from ordergate.domain.risk.decision import RiskCode
from ordergate.domain.risk.limits import RiskLimits
from ordergate.domain.signals import Signal
from ordergate.domain.values import Side, SignalId

T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)
AAPL = Stock("AAPL")
MSFT = Stock("MSFT")
ZERO_DTE = OptionContract("AAPL", date(2024, 1, 8), Decimal(150), OptionRight.CALL)
UNKNOWN = Stock("NOPE")


class Rig:
    def __init__(self, **limits: object) -> None:
        self.clock = FakeClock(T0)
        self.broker = FakeBroker(self.clock, [AAPL, MSFT, ZERO_DTE])
        self.market = FakeMarketData(self.clock, [AAPL, MSFT, ZERO_DTE])
        self.audit = InMemoryAuditLog(clock=self.clock)
        self.gate = OrderGate(
            Ports(self.broker, self.market, self.audit, self.clock, InMemoryPublisher()),
            GateOptions(limits=RiskLimits(**limits), timeout=0.2),  # type: ignore[arg-type]
        )
        for instrument, px in ((AAPL, "100"), (MSFT, "200"), (ZERO_DTE, "2.00")):
            self.broker.set_price(instrument, Decimal(px))
            self.market.set_price(instrument, Decimal(px))


def buy(sid: str, instrument: Stock | OptionContract = AAPL, qty: int = 10) -> Signal:
    return Signal(SignalId(sid), instrument, Side.BUY, T0, quantity=Decimal(qty))


def bars(count: int) -> list[Bar]:
    start = T0 - timedelta(minutes=count)
    return [
        Bar(
            AAPL.id,
            start + timedelta(minutes=i),
            Decimal(100),
            Decimal(103),
            Decimal(99),
            Decimal(100) + Decimal(i % 3),
            Decimal(1000),
        )
        for i in range(count)
    ]


# -- 8.1 connection failures ------------------------------------------------------------------
async def test_gateway_not_running_gives_a_typed_error() -> None:
    rig = Rig()
    rig.broker.drop_connection()
    with pytest.raises(BrokerError):
        await rig.gate.start()
    await rig.gate.stop()


async def test_disconnect_mid_operation_fails_the_order_without_crashing() -> None:
    rig = Rig()
    async with rig.gate as gate:
        rig.broker.drop_connection()
        [result] = await gate.submit_signal(buy("S1"))
        assert result.status is OrderResultStatus.FAILED
        rig.broker.restore_connection()
        [again] = await gate.submit_signal(buy("S2"))
        assert again.ok


async def test_network_timeout_gives_timeout_not_a_hang() -> None:
    rig = Rig()
    async with rig.gate as gate:
        await gate.submit_signal(buy("S0", MSFT, 1))  # qualifies MSFT first
        rig.broker.stall(1.0)
        [result] = await gate.submit_signal(buy("S1", MSFT, 1))
        assert result.status is OrderResultStatus.TIMEOUT
        assert "timeout" in result.reason


# -- 8.2 data quality -----------------------------------------------------------------------
async def test_stale_data_is_flagged_and_blocks_new_risk() -> None:
    rig = Rig()
    async with rig.gate as gate:
        rig.market.make_stale(AAPL, timedelta(minutes=10))
        rig.market.set_bars(AAPL, bars(60))
        snapshot = await gate.market_snapshot(AAPL)
        assert snapshot.quality.is_stale
        [result] = await gate.submit_signal(buy("S1"))
        assert result.decision is not None
        assert RiskCode.STALE_DATA in result.decision.codes


async def test_missing_bid_and_ask_are_listed() -> None:
    rig = Rig()
    async with rig.gate as gate:
        rig.market.set_quote(AAPL, last=Decimal(100), volume=Decimal(5))
        rig.market.set_bars(AAPL, bars(60))
        snapshot = await gate.market_snapshot(AAPL)
        assert {"bid", "ask"} <= set(snapshot.quality.missing_fields)
        assert snapshot.quality.score < 1


def test_insufficient_bars_for_indicators_raise_insufficient_data() -> None:
    with pytest.raises(InsufficientDataError, match="needs at least 21"):
        ema([1.0] * 5, 21)


async def test_indicators_that_cannot_be_computed_are_flagged_missing() -> None:
    rig = Rig()
    async with rig.gate as gate:
        rig.market.set_bars(AAPL, bars(10))  # too few for EMA(21), RSI(14), Bollinger(20)
        snapshot = await gate.market_snapshot(AAPL)
        assert snapshot.indicators.ema_slow is None
        assert "ema_slow" in snapshot.quality.missing_fields
    quote = snapshot.quote
    assert compute_snapshot(quote, [], T0).indicators.rsi is None


# -- 8.3 order execution failures -------------------------------------------------------------
async def test_risk_rejection_is_denied_with_reasons() -> None:
    rig = Rig(max_order_quantity=Decimal(5))
    async with rig.gate as gate:
        [result] = await gate.submit_signal(buy("S1", qty=10))
        assert result.status is OrderResultStatus.DENIED
        assert "max_order_quantity" in result.reason
        assert rig.broker.calls_to("submit") == []


async def test_contract_qualification_failure_is_failed_and_nothing_is_sent() -> None:
    rig = Rig()
    async with rig.gate as gate:
        [result] = await gate.submit_signal(buy("S1", UNKNOWN))
        assert result.status is OrderResultStatus.FAILED
        assert rig.broker.calls_to("submit") == []


async def test_partial_fill_is_partial() -> None:
    rig = Rig()
    async with rig.gate as gate:
        rig.broker.set_fill_limit(Decimal(4))
        limit_signal = Signal(
            SignalId("S1"),
            AAPL,
            Side.BUY,
            T0,
            quantity=Decimal(10),
            order_type=OrderType.LIMIT,
            limit_price=Decimal(99),
        )
        [result] = await gate.submit_signal(limit_signal)
        rig.broker.set_price(AAPL, Decimal("98.50"))
        await gate.settle()
        status = gate.order_status(result.client_order_id)
        assert status.status is OrderResultStatus.PARTIAL
        assert status.fill_quantity == Decimal(4)


async def test_broker_rejection_is_rejected() -> None:
    rig = Rig()
    async with rig.gate as gate:
        rig.broker.reject_next("201 order rejected")
        [result] = await gate.submit_signal(buy("S1"))
        await gate.settle()
        assert gate.order_status(result.client_order_id).status is OrderResultStatus.REJECTED


# -- 8.4 position management ------------------------------------------------------------------
async def test_no_open_positions_is_an_empty_list() -> None:
    rig = Rig()
    async with rig.gate as gate:
        assert gate.positions() == []
        assert await gate.close_all(ClosureReason.MANUAL) == []


async def test_closing_an_unknown_position_raises_position_not_found() -> None:
    rig = Rig()
    async with rig.gate as gate:
        with pytest.raises(PositionNotFound, match="MSFT"):
            await gate.close_position(MSFT.id, ClosureReason.MANUAL)


async def test_close_failure_is_reported_failed() -> None:
    rig = Rig()
    async with rig.gate as gate:
        await gate.submit_signal(buy("S1"))
        await gate.settle()
        rig.broker.drop_connection()
        result = await gate.close_position(AAPL.id, ClosureReason.MANUAL)
        assert result.status is OrderResultStatus.FAILED
        rig.broker.restore_connection()


async def test_close_all_attempts_every_position() -> None:
    rig = Rig()
    async with rig.gate as gate:
        await gate.submit_signal(buy("S1"))
        await gate.submit_signal(buy("S2", MSFT, 5))
        await gate.settle()
        results = await gate.close_all(ClosureReason.DAILY_LOSS_LIMIT)
        await gate.settle()
        assert len(results) == 2
        assert gate.positions() == []


async def test_option_expiring_today_is_closed_by_the_3_dte_rule() -> None:
    rig = Rig()
    async with rig.gate as gate:
        await gate.submit_signal(buy("O1", ZERO_DTE, 1))
        await gate.settle()
        report = await gate.monitor()
        assert [flag.reason for flag in report.review.flags] == [ClosureReason.THREE_DTE]
