"""The application under any interleaving: a `RuleBasedStateMachine` drives the `OrderGate` facade
on fakes (broker, market data, clock, audit, publisher) through signals, fills, duplicate fills,
commissions before fills, price moves, clock advances, stale data, halts and closures, broker
connectivity lost and restored (IB 1100/2110, then 1101/1102) and outages with fills while the
link is down, and checks SPEC §9's invariants after every step with a shadow ledger of what the
broker reported and of the trading state (a lost link means REDUCING until a matching resync).

Hypothesis does not run async rules: the machine owns an event loop and runs each step on it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.results import OrderResult, OrderResultStatus
from ordergate.domain.instruments import OptionContract, OptionRight, Stock
from ordergate.domain.orders import ClosureReason, OrderIntent
from ordergate.domain.risk.decision import RiskCode, TradingState
from ordergate.domain.risk.limits import RiskLimits
from ordergate.domain.signals import Signal
from ordergate.domain.values import Side, SignalId

T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)  # Monday 10:00 New York
AAPL = Stock("AAPL")
MSFT = Stock("MSFT")
CALL = OptionContract("AAPL", date(2024, 2, 16), Decimal(150), OptionRight.CALL)
INSTRUMENTS = (AAPL, MSFT, CALL)
LIMITS = RiskLimits(
    max_order_quantity=Decimal(50),
    max_position=Decimal(80),
    max_gross_notional=Decimal(60_000),
    max_leverage=Decimal("1.5"),
)
NEW_RISK_CODES = {c for c in RiskCode if c not in (RiskCode.OVER_CLOSE,)}


class GateMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock(T0)
        self.broker = FakeBroker(self.clock, INSTRUMENTS, starting_cash=Decimal(100_000))
        self.market = FakeMarketData(self.clock, INSTRUMENTS)
        self.audit = InMemoryAuditLog(clock=self.clock)
        self.gate = OrderGate(
            Ports(self.broker, self.market, self.audit, self.clock, InMemoryPublisher()),
            GateOptions(operator_id="CSATSPRIM", limits=LIMITS, starting_cash=Decimal(100_000)),
        )
        self.prices = {AAPL: Decimal(100), MSFT: Decimal(200), CALL: Decimal("3.00")}
        for instrument, price in self.prices.items():
            self._set_price(instrument, price)
        self.run(self.gate.start())
        self.counter = 0
        self.state = TradingState.ACTIVE
        self.held = False  # REDUCING because the link went, nobody having decided since
        self.degraded = False
        self.gate_breakers_open_before = False
        self.closures: list[OrderResult] = []
        self.results: list[OrderResult] = []

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.gate.stop())
        self.run(self.broker.close())
        self.loop.close()

    def _set_price(self, instrument: Stock | OptionContract, price: Decimal) -> None:
        self.market.set_price(instrument, price)
        self.broker.set_price(instrument, price)

    # -- rules -------------------------------------------------------------------------------
    @rule(
        instrument=st.sampled_from(INSTRUMENTS),
        side=st.sampled_from(Side),
        qty=st.integers(1, 70),
        bracket=st.booleans(),
    )
    def signal(
        self, instrument: Stock | OptionContract, side: Side, qty: int, bracket: bool
    ) -> None:
        self.counter += 1
        self.gate_breakers_open_before = bool(self.gate._desk.breakers.open_breakers)
        price = self.prices[instrument]
        extra: dict[str, Decimal] = {}
        if bracket and side is Side.BUY:
            extra = {
                "stop_loss": (price * Decimal("0.95")).quantize(Decimal("0.01")),
                "take_profit": (price * Decimal("1.05")).quantize(Decimal("0.01")),
            }
        signal = Signal(
            SignalId(f"S{self.counter}"),
            instrument,
            side,
            self.clock.now(),
            quantity=Decimal(qty),
            **extra,
        )
        results = self.run(self.gate.submit_signal(signal))
        self.results.extend(results)
        # The broker's answers (the fake fills market orders at once) are applied first: the
        # worst case counts every working order, so a bracket's children would otherwise count
        # against a position their still-unapplied entry fill has already changed.
        self.run(self.gate.settle())
        entry = results[0]
        decision = entry.decision
        if decision is not None and decision.approved and not decision.reducing:
            # Shadow ledger of the trading state: no new risk outside ACTIVE or with a breaker open.
            assert self.state is TradingState.ACTIVE, (self.state, decision)
            assert not self.gate_breakers_open_before, decision
            long_most, short_most = self.gate.portfolio.worst_case_position(instrument.id)
            assert max(abs(long_most), abs(short_most)) <= LIMITS.max_position

    @rule(instrument=st.sampled_from(INSTRUMENTS), move=st.integers(-15, 15))
    def move_price(self, instrument: Stock | OptionContract, move: int) -> None:
        step = Decimal("0.10") if instrument is CALL else Decimal(1)
        price = max(step, self.prices[instrument] + step * move)
        self.prices[instrument] = price
        self._set_price(instrument, price)
        self.run(self.gate.settle())

    @rule()
    def duplicate_next_fill(self) -> None:
        self.broker.duplicate_next_fill()

    @rule(enabled=st.booleans())
    def commissions_before_fills(self, enabled: bool) -> None:
        self.broker.commission_before_fill(enabled)

    @rule(seconds=st.sampled_from([1, 60, 400, 3600, 86_400]))
    def advance_clock(self, seconds: int) -> None:
        self.clock.advance(seconds)
        self.run(self.gate.settle())

    @rule(instrument=st.sampled_from(INSTRUMENTS))
    def make_data_stale(self, instrument: Stock | OptionContract) -> None:
        self.market.make_stale(instrument, timedelta(seconds=900))

    @rule(state=st.sampled_from(["halt", "reduce", "resume"]))
    def trading_state(self, state: str) -> None:
        self.run(getattr(self.gate, state)(f"machine {state}"))
        self.state = {
            "halt": TradingState.HALTED,
            "reduce": TradingState.REDUCING,
            "resume": TradingState.ACTIVE,
        }[state]
        self.held = False  # the operator decided: a restored link does not undo it
        assert self.gate.trading_state is self.state

    def _link_lost(self) -> None:
        self.run(self.gate.settle())
        if self.state is TradingState.ACTIVE:
            self.state, self.held = TradingState.REDUCING, True
        assert self.gate.trading_state is self.state

    def _link_back(self) -> None:
        mismatches = len(self.run(self.audit.query(kind="broker.resync_mismatch")))
        self.run(self.gate.settle())
        if not self.held:
            assert self.gate.trading_state is self.state
            return
        if self.gate.trading_state is TradingState.REDUCING:  # the resync did not match
            assert len(self.run(self.audit.query(kind="broker.resync_mismatch"))) > mismatches
            return
        assert self.gate.trading_state is TradingState.ACTIVE
        self.state, self.held = TradingState.ACTIVE, False

    @precondition(lambda self: not self.degraded)
    @rule(code=st.sampled_from([1100, 2110]))
    def lose_connectivity(self, code: int) -> None:
        self.broker.lose_connectivity(code)
        self.degraded = True
        self._link_lost()

    @precondition(lambda self: self.degraded)
    @rule(data_lost=st.booleans())
    def restore_connectivity(self, data_lost: bool) -> None:
        self.broker.restore_connectivity(data_lost=data_lost)
        self.degraded = False
        self._link_back()
        if self.held:  # events kept flowing while degraded: the resync must match
            raise AssertionError("a resync after 1101/1102 did not match the broker")

    @rule(instrument=st.sampled_from(INSTRUMENTS), move=st.integers(-15, 15))
    def outage(self, instrument: Stock | OptionContract, move: int) -> None:
        """The socket drops, the market moves (fills nobody hears), the link comes back."""
        self.broker.drop_connection()
        self.degraded = False
        self._link_lost()
        step = Decimal("0.10") if instrument is CALL else Decimal(1)
        self.prices[instrument] = max(step, self.prices[instrument] + step * move)
        self._set_price(instrument, self.prices[instrument])
        self.broker.restore_connection()
        self._link_back()

    @precondition(lambda self: any(True for _ in self.gate.portfolio.open_positions()))
    @rule(data=st.data())
    def close_a_position(self, data: st.DataObject) -> None:
        positions = list(self.gate.portfolio.open_positions())
        position = data.draw(st.sampled_from(positions))
        before = position.quantity
        result = self.run(self.gate.close_position(position.instrument_id, ClosureReason.MANUAL))
        self.closures.append(result)
        self.run(self.gate.settle())
        after = self.gate.portfolio.position_qty(position.instrument_id)
        assert after == 0 or (after > 0) == (before > 0), "a closure flipped the position"

    @rule()
    def strategy_c_cycle(self) -> None:
        report = self.run(self.gate.monitor())
        self.closures.extend(report.closures)
        self.run(self.gate.settle())

    # -- invariants --------------------------------------------------------------------------
    @invariant()
    def every_submit_was_preceded_by_an_audited_approving_decision(self) -> None:
        entries = self.run(self.audit.query())
        approved_at: dict[str, int] = {}
        sent_at: dict[str, int] = {}
        for entry in entries:
            payload = entry.record.payload
            if entry.record.kind == "risk.decision" and payload["approved"]:
                approved_at.setdefault(payload["request"]["client_order_id"], entry.sequence)
            if entry.record.kind == "broker.submit":
                for cid in payload["client_order_ids"]:
                    sent_at.setdefault(cid, entry.sequence)
        for call in self.broker.calls:
            if call.method == "submit":
                orders = (call.argument("order"),)
            elif call.method == "submit_list":
                orders = call.argument("orders")
            else:
                continue
            for order in orders:
                cid = order.request.client_order_id.value
                assert cid in approved_at, f"{cid} reached the broker without an approval"
                assert approved_at[cid] < sent_at[cid], f"{cid} sent before its decision"

    @invariant()
    def closures_are_never_blocked_by_new_risk_rules(self) -> None:
        for result in self.closures:
            if result.status is OrderResultStatus.DENIED and result.decision is not None:
                assert set(result.decision.codes) <= {RiskCode.OVER_CLOSE}, result.decision

    @invariant()
    def orders_keep_filled_plus_leaves(self) -> None:
        for order in self.gate.portfolio.orders.values():
            assert order.filled_qty + order.leaves_qty == order.quantity
            assert order.filled_qty <= order.quantity

    @invariant()
    def positions_match_the_broker_and_the_sum_of_fills(self) -> None:
        self.run(self.gate.settle())
        broker_positions = {
            p.instrument_id: p.quantity for p in self.run(self.broker.positions(timeout=5))
        }
        for instrument in INSTRUMENTS:
            ours = self.gate.portfolio.position_qty(instrument.id)
            assert ours == broker_positions.get(instrument.id, Decimal(0))
            position = self.gate.portfolio.position(instrument.id)
            if position is not None:
                fills = [
                    f.quantity * o.request.side.sign
                    for o in self.gate.portfolio.orders.values()
                    if o.request.instrument.id == instrument.id
                    for f in o.fills
                ]
                assert sum(fills, Decimal(0)) == ours

    @invariant()
    def cash_reconciles_with_pnl(self) -> None:
        p = self.gate.portfolio
        assert p.cash + p.market_value() == (
            p.starting_cash + p.realized_pnl() + p.unrealized_pnl() - p.total_commissions
        )

    @invariant()
    def position_limits_hold_for_approved_new_risk(self) -> None:
        for result in self.results:
            decision = result.decision
            if decision is None or not decision.approved or decision.reducing:
                continue
            request = self.gate.portfolio.orders[result.client_order_id].request
            if request.intent is not OrderIntent.OPEN:
                continue
            assert request.quantity <= LIMITS.max_order_quantity

    @invariant()
    def the_audit_chain_verifies(self) -> None:
        assert self.run(self.audit.verify()).ok


GateMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=20, deadline=None)
TestGateMachine = GateMachine.TestCase
