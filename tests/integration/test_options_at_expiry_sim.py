"""Options held through expiry on the simulated broker, through the whole gate: an in-the-money
AAPL call is exercised (100 shares bought at the strike), an out-of-the-money put expires, and
the portfolio, the broker and the audit log agree afterwards. AAPL closed at 460.16 on
2013-02-15, the contracts' expiry (bundled real bars)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.sim.engine import MatchingEngine
from ordergate.adapters.sim.session import DAILY_BAR, SimSession
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.results import OrderResultStatus
from ordergate.domain.events import OptionAssigned, OptionExercised, OptionExpired
from ordergate.domain.instruments import NEW_YORK, OptionContract, OptionRight, Stock
from ordergate.domain.orders import ExecutionFill, OrderRequest, OrderType
from ordergate.domain.values import ClientOrderId, InstrumentId, Side

EXPIRY = date(2013, 2, 15)
CLOSE = Decimal("460.16")
CALL = OptionContract("AAPL", EXPIRY, Decimal(440), OptionRight.CALL)  # 20.16 in the money
PUT = OptionContract("AAPL", EXPIRY, Decimal(430), OptionRight.PUT)  # out of the money
D = Decimal


async def hold_through_expiry(
    *contracts: tuple[OptionContract, Side],
) -> tuple[SimSession, OrderGate, InMemoryAuditLog]:
    sim = SimSession.build(["AAPL"], bars=14, warmup=5, seed=7)
    audit = InMemoryAuditLog(clock=sim.clock)
    gate = OrderGate(
        Ports(sim.broker, sim.market_data, audit, sim.clock, InMemoryPublisher()),
        GateOptions(
            operator_id="EXPIRY",
            snapshot_window=timedelta(days=30),
            snapshot_bar_size=DAILY_BAR,
            staleness_seconds=3 * 86_400,
        ),
    )
    async with gate:
        for contract, side in contracts:
            sim.list_option(contract)
            result = await gate.submit_request(
                OrderRequest(ClientOrderId(f"OPEN-{contract.right.value}"), contract, side, D(1),
                             OrderType.MARKET)
            )
            assert result.status in (OrderResultStatus.SUBMITTED, OrderResultStatus.FILLED), result
        await gate.settle()
        while (day := sim.pacer.upcoming_day()) is not None and day <= date(2013, 2, 20):
            await sim.pacer.next_cycle()
            await gate.settle()
        assert (await gate.verify_audit()).ok
    return sim, gate, audit


async def test_itm_call_is_exercised_and_otm_put_expires_in_the_sim() -> None:
    sim, gate, audit = await hold_through_expiry((CALL, Side.BUY), (PUT, Side.BUY))
    portfolio = gate.portfolio
    # The portfolio: both contracts gone, 100 AAPL bought at the strike.
    assert D(0) == portfolio.position_qty(CALL.id)
    assert D(0) == portfolio.position_qty(PUT.id)
    assert D(100) == portfolio.position_qty(InstrumentId("AAPL"))
    stock = portfolio.position(InstrumentId("AAPL"))
    assert stock is not None
    assert D(440) == stock.avg_open_price
    # The broker agrees: one position, the stock, and the same cash.
    positions = sim.engine.positions()
    assert [(InstrumentId("AAPL"), D(100))] == [(p.instrument.id, p.quantity) for p in positions]
    assert sim.engine.ledger.cash == portfolio.cash
    premiums = sum(
        (e.price * 100 for e in sim.engine.executions(sim.engine.now - timedelta(days=400))
         if isinstance(e, ExecutionFill)),
        D(0),
    )
    assert D(100_000) - premiums - portfolio.total_commissions - D(44_000) == portfolio.cash
    assert portfolio.cash + portfolio.market_value() == (
        portfolio.starting_cash
        + portfolio.realized_pnl()
        + portfolio.unrealized_pnl()
        - portfolio.total_commissions
    )
    # The audit: one exercise, one lapse, recorded at the expiry session's close.
    records = [entry.record for entry in await InMemoryAuditLog(audit.store).query()]
    exercised = [r for r in records if r.kind == "broker.option_exercised"]
    expired = [r for r in records if r.kind == "broker.option_expired"]
    assert [CALL.id.value] == [r.payload["instrument"] for r in exercised]
    assert [PUT.id.value] == [r.payload["instrument"] for r in expired]
    assert "100" == exercised[0].payload["shares"]
    assert str(CLOSE) == D(exercised[0].payload["underlying_price"]).normalize().to_eng_string()
    assert "2013-02-15T21:00:00+00:00" == exercised[0].payload["ts_event"]  # the 16:00 close
    assert not [r for r in records if r.kind == "broker.event_error"]


async def test_short_itm_call_is_assigned_in_the_sim() -> None:
    sim, gate, audit = await hold_through_expiry((CALL, Side.SELL))
    portfolio = gate.portfolio
    assert D(0) == portfolio.position_qty(CALL.id)
    assert D(-100) == portfolio.position_qty(InstrumentId("AAPL"))
    assert [(InstrumentId("AAPL"), D(-100))] == [
        (p.instrument.id, p.quantity) for p in sim.engine.positions()
    ]
    assert sim.engine.ledger.cash == portfolio.cash
    kinds = [entry.record.kind for entry in await InMemoryAuditLog(audit.store).query()]
    assert 1 == kinds.count("broker.option_assigned")


def _engine_holding(contract: OptionContract, close: str, threshold: str = "0.01") -> list[object]:
    """A bare engine: one contract bought, then the underlying's expiry-day bar closes at
    `close`; the settlement events it reports."""
    from datetime import UTC, datetime, time

    from ordergate.adapters.sim.bars import SimBar, to_units

    start = datetime.combine(EXPIRY, time(9, 30), tzinfo=NEW_YORK).astimezone(UTC)
    engine = MatchingEngine(start=start, exercise_threshold=D(threshold))
    engine.add_instrument(Stock("AAPL"))
    engine.add_instrument(contract)
    engine.on_tick(contract.id, D("1.00"), ts=start)
    engine.submit(OrderRequest(ClientOrderId("B"), contract, Side.BUY, D(2), OrderType.MARKET))
    end = datetime.combine(EXPIRY, time(16), tzinfo=NEW_YORK).astimezone(UTC)
    units = to_units(D(close))
    bar = SimBar(InstrumentId("AAPL"), start, end, units, units, units, units, 1_000_000)
    return [
        e for e in engine.on_sim_bar(bar)
        if isinstance(e, OptionExercised | OptionAssigned | OptionExpired)
    ]


@pytest.mark.parametrize(
    ("strike", "right", "close", "expected"),
    [
        ("460.15", OptionRight.CALL, "460.16", OptionExercised),  # one cent in: exercised
        ("460.16", OptionRight.CALL, "460.16", OptionExpired),  # at the money: lapses
        ("460.17", OptionRight.PUT, "460.16", OptionExercised),
        ("460.16", OptionRight.PUT, "460.16", OptionExpired),
    ],
)
def test_exercise_threshold_is_one_cent_in_the_money(
    strike: str, right: OptionRight, close: str, expected: type
) -> None:
    contract = OptionContract("AAPL", EXPIRY, D(strike), right)
    events = _engine_holding(contract, close)
    assert [expected] == [type(e) for e in events]
    assert D(2) == events[0].quantity  # type: ignore[attr-defined]


def test_exercise_threshold_is_configurable() -> None:
    contract = OptionContract("AAPL", EXPIRY, D("460.00"), OptionRight.CALL)
    assert [OptionExpired] == [type(e) for e in _engine_holding(contract, "460.16", "0.25")]
    assert [OptionExercised] == [type(e) for e in _engine_holding(contract, "460.16", "0.16")]


async def run_with_strategy_c(*, halted: bool) -> tuple[SimSession, OrderGate, list[str]]:
    """The ITM call bought, then Strategy C reviewed after every replayed day; with `halted`,
    the broker rejects every closing order (the option is halted: the rule cannot close it)."""
    sim = SimSession.build(["AAPL"], bars=14, warmup=5, seed=7)
    audit = InMemoryAuditLog(clock=sim.clock)
    gate = OrderGate(
        Ports(sim.broker, sim.market_data, audit, sim.clock, InMemoryPublisher()),
        GateOptions(operator_id="EXPIRY", snapshot_window=timedelta(days=30),
                    snapshot_bar_size=DAILY_BAR, staleness_seconds=3 * 86_400),
    )
    async with gate:
        sim.list_option(CALL)
        await gate.submit_request(
            OrderRequest(ClientOrderId("OPEN"), CALL, Side.BUY, D(1), OrderType.MARKET)
        )
        await gate.settle()
        while (day := sim.pacer.upcoming_day()) is not None and day <= date(2013, 2, 20):
            await sim.pacer.next_cycle()
            await gate.settle()
            if gate.portfolio.position_qty(CALL.id):
                if halted:
                    sim.engine.reject_next("[201] Order rejected - reason: trading is halted")
                await gate.monitor()
                await gate.settle()
    kinds = [entry.record.kind for entry in await InMemoryAuditLog(audit.store).query()]
    return sim, gate, kinds


async def test_strategy_c_closes_at_three_days_to_expiry_before_any_settlement() -> None:
    sim, gate, kinds = await run_with_strategy_c(halted=False)
    assert D(0) == gate.portfolio.position_qty(CALL.id)
    assert D(0) == gate.portfolio.position_qty(InstrumentId("AAPL"))  # sold, not exercised
    assert "broker.option_exercised" not in kinds
    closes = [
        o for o in gate.portfolio.orders.values() if o.request.closure_reason is not None
    ]
    assert 1 == len(closes)
    assert [] == sim.engine.positions()


async def test_a_position_strategy_c_could_not_close_is_settled_at_expiry() -> None:
    sim, gate, kinds = await run_with_strategy_c(halted=True)
    assert D(0) == gate.portfolio.position_qty(CALL.id)
    assert D(100) == gate.portfolio.position_qty(InstrumentId("AAPL"))
    assert 1 == kinds.count("broker.option_exercised")
    rejected = [o for o in gate.portfolio.orders.values() if o.request.closure_reason is not None]
    assert rejected  # Strategy C tried at 3 days to expiry (and after), and was refused
    assert all(o.status.value == "REJECTED" for o in rejected)
    assert [(InstrumentId("AAPL"), D(100))] == [
        (p.instrument.id, p.quantity) for p in sim.engine.positions()
    ]
    assert sim.engine.ledger.cash == gate.portfolio.cash
