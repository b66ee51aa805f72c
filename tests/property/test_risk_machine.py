"""A stateful test of the portfolio behind the risk gate, checked against a shadow ledger.

Rules submit random order requests through the gate (approved ones become working orders), fill
them fully or partially (with duplicate executions, and commissions before and after their
fills), cancel them, move prices, advance the clock, change the trading state, trip breakers and
request Strategy C closures and flattens. The machine keeps its own expected positions, cash and
commissions and checks, after every step, the domain invariants of SPEC §9: no worst case above
its limit, gross notional and leverage under their caps when approved, nothing risk-increasing
while HALTED/REDUCING/breaker open, closures never blocked and never over-closing, each
execution applied once, position == Σ signed fills, filled + leaves == quantity, and
cash + positions reconciling with PnL, exactly, in Decimal.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from ordergate.domain.instruments import Instrument, OptionContract, OptionRight, Stock
from ordergate.domain.market import Quote
from ordergate.domain.orders import (
    CommissionReport,
    ExecutionFill,
    Order,
    OrderEventKind,
    OrderIntent,
    OrderLifecycleEvent,
    OrderRequest,
    OrderType,
)
from ordergate.domain.portfolio import Portfolio
from ordergate.domain.risk import (
    BreakerBoard,
    BreakerConfig,
    BreakerKind,
    ExposureBook,
    RiskContext,
    RiskDecision,
    RiskLimits,
    TradingState,
    TradingStateMachine,
    evaluate,
)
from ordergate.domain.strategy_c import (
    StrategyCConfig,
    closing_quantity,
    closure_id_factory,
    closure_requests,
    review_positions,
)
from ordergate.domain.values import ZERO, ClientOrderId, ExecutionId, InstrumentId, Side, SignalId

T0 = datetime(2024, 1, 16, 14, 35, tzinfo=UTC)  # Tuesday, just after the New York open
START_CASH = Decimal(24_000)  # under the pattern-day-trader threshold on purpose
INSTRUMENTS: tuple[Instrument, ...] = (
    Stock("AAPL"),
    Stock("MSFT"),
    OptionContract("AAPL", date(2024, 1, 19), Decimal(150), OptionRight.CALL),
)
START_PRICES = (Decimal(100), Decimal(50), Decimal("2.50"))
LIMITS = RiskLimits(
    max_order_quantity=Decimal(150),
    max_order_notional=Decimal(15_000),
    max_position=Decimal(200),
    max_gross_notional=Decimal(20_000),  # binds before affordability; leverage after losses
    max_leverage=Decimal(1),
    max_open_orders=6,
    max_submit_rate=4,
)
CENT = Decimal("0.01")


class RiskMachine(RuleBasedStateMachine):
    """Portfolio + gate + breakers + trading state, against a shadow ledger."""

    orders = Bundle("orders")
    executions = Bundle("executions")

    def __init__(self) -> None:
        super().__init__()
        self.portfolio = Portfolio(START_CASH)
        self.now = T0
        self.prices: dict[InstrumentId, Decimal] = {}
        self.quotes: dict[InstrumentId, Quote] = {}
        for instrument, price in zip(INSTRUMENTS, START_PRICES, strict=True):
            self.portfolio.register_instrument(instrument)
            self._set_price(instrument.id, price)
        self.portfolio.start_session(T0)
        self.trading = TradingStateMachine()
        self.board = BreakerBoard(BreakerConfig(cooldown=timedelta(seconds=30)))
        self.seen_orders: set[ClientOrderId] = set()
        self.seen_signals: set[SignalId] = set()
        self.submits: list[datetime] = []
        self.ids = itertools.count()
        # The shadow ledger.
        self.expected_qty: dict[InstrumentId, Decimal] = defaultdict(lambda: ZERO)
        self.expected_cash = START_CASH
        self.expected_commissions = ZERO
        self.filled_by_order: dict[ClientOrderId, Decimal] = defaultdict(lambda: ZERO)
        self.fills: dict[ExecutionId, ExecutionFill] = {}
        self.charged: set[ExecutionId] = set()
        self.announced: dict[ExecutionId, Decimal] = {}  # commissions that came before the fill
        self.approvals = 0

    # -- helpers --------------------------------------------------------------------------
    def _set_price(self, iid: InstrumentId, price: Decimal) -> None:
        self.prices[iid] = price
        self.portfolio.mark(iid, price, self.now)
        self.quotes[iid] = Quote(iid, self.now, bid=price, ask=price, last=price)

    def _context(self, instrument: Instrument) -> RiskContext:
        return RiskContext(
            portfolio=self.portfolio,
            now=self.now,
            limits=LIMITS,
            quote=self.quotes[instrument.id],
            trading_state=self.trading.state,
            open_breakers=self.board.open_breakers,
            seen_client_order_ids=self.seen_orders,
            seen_signal_ids=self.seen_signals,
            recent_submits=self.submits,
        )

    def _send(self, request: OrderRequest) -> None:
        self.portfolio.add_order(Order.from_request(request))
        for kind in (OrderEventKind.SUBMITTED, OrderEventKind.ACCEPTED):
            event = OrderLifecycleEvent(request.client_order_id, kind, self.now, self.now)
            self.portfolio.apply(event)
        self.seen_orders.add(request.client_order_id)
        if request.signal_id is not None:
            self.seen_signals.add(request.signal_id)
        self.submits.append(self.now)
        self.approvals += 1

    def _closable(self, iid: InstrumentId, side: Side) -> Decimal:
        qty = self.portfolio.position_qty(iid)
        if qty == 0 or (qty > 0) == (side is Side.BUY):
            return ZERO
        return abs(qty) - self.portfolio.working_qty(iid, side)

    def _check_approval(self, request: OrderRequest, decision: RiskDecision) -> None:
        """What must hold of an approval, checked before the order joins the portfolio."""
        iid = request.instrument.id
        state, breakers = self.trading.state, self.board.open_breakers
        if request.intent is OrderIntent.OPEN:
            assert state is not TradingState.HALTED
            if state is TradingState.REDUCING or breakers:
                assert decision.reducing
                assert request.quantity <= self._closable(iid, request.side)
            if not decision.reducing:
                assert self.now - self.quotes[iid].ts <= LIMITS.max_quote_age
        else:
            assert request.quantity <= self._closable(iid, request.side)  # never over-closes
        before = ExposureBook.of(self.portfolio)
        self._send(request)
        after = ExposureBook.of(self.portfolio)
        if after.gross_notional > before.gross_notional:
            assert after.gross_notional <= LIMITS.max_gross_notional
            assert after.gross_notional <= LIMITS.max_leverage * self.portfolio.equity()

    # -- rules ------------------------------------------------------------------------------
    @rule(
        target=orders,
        instrument=st.sampled_from(INSTRUMENTS),
        side=st.sampled_from(Side),
        qty=st.integers(1, 220),
        offset=st.one_of(st.none(), st.integers(-12, 12)),
        reuse_signal=st.integers(0, 9).map(lambda n: n == 0),
    )
    def submit(
        self,
        instrument: Instrument,
        side: Side,
        qty: int,
        offset: int | None,
        reuse_signal: bool,
    ) -> object:
        cid = self._submit(instrument, side, qty, offset, reuse_signal)
        return multiple() if cid is None else cid

    @rule(
        target=orders,
        batch=st.lists(
            st.tuples(st.sampled_from(INSTRUMENTS), st.sampled_from(Side), st.integers(1, 30)),
            min_size=1,
            max_size=3,
        ),
    )
    def submit_small(self, batch: list[tuple[Instrument, Side, int]]) -> object:
        """The common case, drawn as often again: a burst of small market orders."""
        sent = [self._submit(instrument, side, qty, None, False) for instrument, side, qty in batch]
        return multiple(*(cid for cid in sent if cid is not None))

    def _submit(
        self,
        instrument: Instrument,
        side: Side,
        qty: int,
        offset: int | None,
        reuse_signal: bool,
    ) -> ClientOrderId | None:
        n = next(self.ids)
        limit = None
        if offset is not None:
            limit = (self.prices[instrument.id] * (100 + offset) / 100).quantize(CENT)
        signal = SignalId("S0" if reuse_signal else f"S{n}")
        request = OrderRequest(
            ClientOrderId(f"O{n}"),
            instrument,
            side,
            Decimal(qty),
            OrderType.MARKET if limit is None else OrderType.LIMIT,
            limit_price=limit,
            signal_id=signal,
        )
        decision = evaluate(request, self._context(instrument))
        if reuse_signal and signal in self.seen_signals:
            assert not decision.approved
        for code in decision.codes:
            event(f"denied {code.value}")
        if not decision.approved:
            return None
        event(f"approved while {self.trading.state.value}, reducing={decision.reducing}")
        self._check_approval(request, decision)
        return request.client_order_id

    @initialize(
        target=orders,
        book=st.lists(
            st.tuples(
                st.sampled_from(INSTRUMENTS),
                st.sampled_from(Side),
                st.integers(1, 40),
                st.integers(0, 100),  # percent filled at once
            ),
            min_size=1,
            max_size=4,
        ),
    )
    def open_book(self, book: list[tuple[Instrument, Side, int, int]]) -> object:
        """Every run starts with orders through the gate, some of them (partly) filled."""
        working = []
        for instrument, side, qty, filled in book:
            cid = self._submit(instrument, side, qty, None, False)
            if cid is None:
                continue
            if filled:
                self._fill(cid, filled, None)
            working.append(cid)
        return multiple(*working)

    @rule(
        target=executions,
        cid=orders,
        fraction=st.integers(1, 100),
        commission=st.one_of(st.none(), st.integers(0, 300)),
    )
    def fill(self, cid: ClientOrderId, fraction: int, commission: int | None) -> object:
        exec_id = self._fill(cid, fraction, commission)
        return multiple() if exec_id is None else exec_id

    def _fill(
        self, cid: ClientOrderId, fraction: int, commission: int | None
    ) -> ExecutionId | None:
        order = self.portfolio.order(cid)
        leaves = order.working_qty
        if leaves == 0:
            return None
        qty = max(Decimal(1), (leaves * fraction / 100).to_integral_value(rounding="ROUND_DOWN"))
        request = order.request
        price = order.limit_price or self.prices[request.instrument.id]
        exec_id = ExecutionId(f"X{next(self.ids)}")
        if self.announced and commission is None:
            exec_id = next(iter(self.announced))  # a fill whose commission came first
        fee = None if commission is None else Decimal(commission) / 100
        fill = ExecutionFill(
            cid, exec_id, request.instrument.id, request.side, qty, price, self.now, self.now, fee
        )
        assert self.portfolio.apply(fill)
        event("fill" if qty == leaves else "partial fill")
        self.fills[exec_id] = fill
        self.expected_qty[request.instrument.id] += fill.signed_quantity
        self.expected_cash -= fill.signed_quantity * price * request.instrument.multiplier
        self.filled_by_order[cid] += qty
        early = self.announced.pop(exec_id, None)
        self._charge(exec_id, fee if fee is not None else early)
        return exec_id

    def _charge(self, exec_id: ExecutionId, fee: Decimal | None) -> None:
        if fee is None or exec_id in self.charged:
            return
        self.charged.add(exec_id)
        self.expected_cash -= fee
        self.expected_commissions += fee

    @rule(exec_id=executions, with_fee=st.booleans())
    def duplicate_fill(self, exec_id: ExecutionId, with_fee: bool) -> None:
        original = self.fills[exec_id]
        fee = Decimal("0.35") if with_fee else None
        replay = ExecutionFill(
            original.client_order_id,
            exec_id,
            original.instrument_id,
            original.side,
            original.quantity,
            original.price,
            self.now,
            self.now,
            fee if original.commission is None else original.commission,
        )
        changed = self.portfolio.apply(replay)
        fresh_fee = replay.commission is not None and exec_id not in self.charged
        assert changed == fresh_fee
        if fresh_fee:
            self._charge(exec_id, replay.commission)

    @rule(exec_id=executions, cents=st.integers(0, 500))
    def late_commission(self, exec_id: ExecutionId, cents: int) -> None:
        fee = Decimal(cents) / 100
        report = CommissionReport(exec_id, fee, self.now, self.now)
        assert self.portfolio.apply(report) == (exec_id not in self.charged)
        self._charge(exec_id, fee)

    @rule(cents=st.integers(0, 500))
    def early_commission(self, cents: int) -> None:
        exec_id = ExecutionId(f"X{next(self.ids)}")
        fee = Decimal(cents) / 100
        assert self.portfolio.apply(CommissionReport(exec_id, fee, self.now, self.now))
        self.announced[exec_id] = fee

    @rule(cid=consumes(orders))
    def cancel(self, cid: ClientOrderId) -> None:
        order = self.portfolio.order(cid)
        if order.status.is_working:
            event = OrderLifecycleEvent(cid, OrderEventKind.CANCELED, self.now, self.now)
            assert self.portfolio.apply(event)
        assert 0 == order.working_qty

    @rule(instrument=st.sampled_from(INSTRUMENTS), percent=st.integers(-45, 45))
    def move_price(self, instrument: Instrument, percent: int) -> None:
        """A market tick: one instrument moves, every quote is fresh again."""
        for other in INSTRUMENTS:
            price = self.prices[other.id]
            if other is instrument:
                price = max(CENT, (price * (100 + percent) / 100).quantize(CENT))
            self._set_price(other.id, price)

    @rule(seconds=st.sampled_from([1, 5, 30, 61, 400, 3600, 86_400]))
    def advance_clock(self, seconds: int) -> None:
        day = self.now.date()
        self.now += timedelta(seconds=seconds)
        self.board.tick(self.now)
        if self.now.date() != day:
            self.portfolio.start_session(self.now)

    @precondition(lambda self: not self.trading.kill_switch)
    @rule(state=st.sampled_from([TradingState.ACTIVE, TradingState.ACTIVE, *TradingState]))
    def set_trading_state(self, state: TradingState) -> None:
        previous = self.trading.state
        event = self.trading.transition(state, self.now, "operator")
        assert state is self.trading.state
        assert (event is None) == (previous is state)

    @precondition(lambda self: not self.trading.kill_switch)
    @rule()
    def engage_kill_switch(self) -> None:
        self.trading.engage_kill_switch(self.now, "operator")
        assert TradingState.HALTED is self.trading.state

    @precondition(lambda self: self.trading.kill_switch)
    @rule()
    def release_kill_switch(self) -> None:
        self.trading.release_kill_switch()
        assert TradingState.HALTED is self.trading.state

    @rule(
        action=st.sampled_from(["observe", "probe", "probe", "trip"]),
        kind=st.sampled_from(BreakerKind),
    )
    def breakers(self, action: str, kind: BreakerKind) -> None:
        """Trip a breaker by hand, judge the account, or probe with successful calls and the
        freshest data (HALF_OPEN breakers may close)."""
        if action == "observe":
            self.board.observe_account(self.portfolio, self.now)
        elif action == "probe":
            self.board.observe_acceptance(self.now)
            self.board.observe_broker_success(self.now)
            newest = max(q.ts for q in self.quotes.values())
            self.board.observe_data_age(self.now - newest, self.now)
        else:
            self.board.trip(kind, self.now, "test")
            assert kind.value in self.board.open_breakers

    def _has_open_position(self) -> bool:
        return any(True for _ in self.portfolio.open_positions())

    @precondition(_has_open_position)
    @rule(breaker=st.sampled_from(["", "daily_loss", "drawdown"]))
    def strategy_c_cycle(self, breaker: str) -> None:
        review = review_positions(
            self.portfolio,
            self.now,
            StrategyCConfig(stale_after_seconds=300),
            quotes=self.quotes,
            open_breakers={breaker} if breaker else frozenset(),
        )
        factory = closure_id_factory(f"SC{next(self.ids)}", self.now)
        for request in closure_requests(review.flags, self.portfolio, id_factory=factory):
            iid = request.instrument.id
            assert request.quantity == closing_quantity(self.portfolio, iid)
            decision = evaluate(request, self._context(request.instrument))
            assert decision.approved, decision.explain()  # closures are never blocked
            event(f"closure {request.closure_reason}")
            self._check_approval(request, decision)
            assert ZERO == closing_quantity(self.portfolio, iid)

    @precondition(_has_open_position)
    @rule(
        instrument=st.sampled_from(INSTRUMENTS), side=st.sampled_from(Side), qty=st.integers(1, 250)
    )
    def flatten(self, instrument: Instrument, side: Side, qty: int) -> None:
        request = OrderRequest(
            ClientOrderId(f"FL{next(self.ids)}"),
            instrument,
            side,
            Decimal(qty),
            OrderType.MARKET,
            intent=OrderIntent.FLATTEN,
        )
        closable = self._closable(instrument.id, side)
        decision = evaluate(request, self._context(instrument))
        assert decision.approved == (request.quantity <= closable), decision.explain()
        if decision.approved:
            self._check_approval(request, decision)

    # -- invariants ---------------------------------------------------------------------------
    @invariant()
    def positions_equal_the_sum_of_signed_fills(self) -> None:
        for instrument in INSTRUMENTS:
            iid = instrument.id
            assert self.expected_qty[iid] == self.portfolio.position_qty(iid)

    @invariant()
    def cash_and_commissions_match_the_ledger(self) -> None:
        assert self.expected_cash == self.portfolio.cash
        assert self.expected_commissions == self.portfolio.total_commissions

    @invariant()
    def cash_and_positions_reconcile_with_pnl(self) -> None:
        p = self.portfolio
        assert p.cash + p.market_value() == (
            p.starting_cash + p.realized_pnl() + p.unrealized_pnl() - p.total_commissions
        )

    @invariant()
    def each_execution_is_applied_once(self) -> None:
        for cid, filled in self.filled_by_order.items():
            order = self.portfolio.order(cid)
            assert filled == order.filled_qty
            assert len({f.execution_id for f in order.fills}) == len(order.fills)
        applied = sum(len(o.fills) for o in self.portfolio.orders.values())
        assert len(self.fills) == applied

    @invariant()
    def filled_plus_leaves_is_quantity(self) -> None:
        for order in self.portfolio.orders.values():
            assert order.filled_qty + order.leaves_qty == order.quantity
            assert order.filled_qty <= order.quantity

    @invariant()
    def no_worst_case_above_its_limit(self) -> None:
        for instrument in INSTRUMENTS:
            longest, shortest = self.portfolio.worst_case_position(instrument.id)
            assert max(abs(longest), abs(shortest)) <= LIMITS.position_limit(instrument.id)

    @invariant()
    def open_orders_within_their_limit(self) -> None:
        working = sum(1 for _ in self.portfolio.working_orders())
        closures = sum(
            1 for o in self.portfolio.working_orders() if o.request.intent is not OrderIntent.OPEN
        )
        assert working - closures <= LIMITS.max_open_orders


RiskMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
TestRiskMachine = RiskMachine.TestCase
