"""The risk-invariant machine's body: portfolio + gate + breakers + trading state + shadow ledger.

`RiskLedgerMachine` holds the rule bodies and the invariants; `machines.risk_machine` subclasses
it with the rules' strategies drawn relative to a user's limits. Every broken invariant raises
`InvariantBroken` naming it (a key of `INVARIANTS`), checked against the configured limit values.
The machine never does I/O and never imports an adapter.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, ClassVar

import attrs
from hypothesis import event
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    invariant,
    multiple,
)

from ordergate.domain.instruments import Instrument
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
    BreakerKind,
    ExposureBook,
    RiskContext,
    RiskDecision,
    TradingState,
    TradingStateMachine,
    evaluate,
)
from ordergate.domain.strategy_c import (
    closing_quantity,
    closure_id_factory,
    closure_requests,
    review_positions,
)
from ordergate.domain.values import ZERO, ClientOrderId, ExecutionId, InstrumentId, Side, SignalId

if TYPE_CHECKING:  # machines imports this module at run time
    from ordergate.application.testing.machines import MachineSetup

__all__ = ["EXECUTIONS", "ORDERS", "T0", "InvariantBroken", "RiskLedgerMachine", "on_tick"]

T0 = datetime(2024, 1, 16, 14, 35, tzinfo=UTC)
"""Where every run's clock starts: a Tuesday, just after the New York open."""
ORDERS: Bundle[ClientOrderId] = Bundle("orders")
EXECUTIONS: Bundle[ExecutionId] = Bundle("executions")


def on_tick(price: Decimal, tick: Decimal) -> Decimal:
    """`price` rounded down to the tick grid, and at least one tick."""
    return max(tick, ((price / tick).to_integral_value(rounding=ROUND_DOWN) * tick).quantize(tick))


class InvariantBroken(AssertionError):
    """A risk invariant failed: `invariant` names it (see `machines.INVARIANTS`), `detail` how."""

    def __init__(self, invariant: str, detail: str) -> None:
        self.invariant = invariant
        self.detail = detail
        super().__init__(f"{invariant}: {detail}")


class RiskLedgerMachine(RuleBasedStateMachine):
    """Portfolio + risk gate + breakers + trading state, checked against a shadow ledger.

    Build one with `risk_machine(limits)`: this base class has the rule bodies but no rules.
    `steps` lists what each step did and what the gate said; `broken` is set when an invariant
    failed; `on_teardown` (if set) is called with the machine at the end of every run.
    """

    setup: ClassVar[MachineSetup]

    def __init__(self) -> None:
        super().__init__()
        self.limits = self.setup.limits
        self.steps: list[str] = []
        self.broken = False
        self.on_teardown: Callable[[RiskLedgerMachine], None] | None = None
        self._open(self.setup.cash_choices[0])

    def _open(self, cash: Decimal) -> None:
        """A fresh account holding `cash`, every instrument at its start price, an empty ledger."""
        self.portfolio = Portfolio(cash)
        self.now = T0
        self.prices: dict[InstrumentId, Decimal] = {}
        self.quotes: dict[InstrumentId, Quote] = {}
        for instrument, price in zip(self.setup.instruments, self.setup.prices, strict=True):
            self.portfolio.register_instrument(instrument)
            self._set_price(instrument.id, price)
        self.portfolio.start_session(T0)
        self.trading = TradingStateMachine()
        self.board = BreakerBoard(self.setup.breakers)
        self.seen_orders: set[ClientOrderId] = set()
        self.seen_signals: set[SignalId] = set()
        self.submits: list[datetime] = []
        self.ids = itertools.count()
        # The shadow ledger.
        self.expected_qty: dict[InstrumentId, Decimal] = defaultdict(lambda: ZERO)
        self.expected_cash = cash
        self.expected_commissions = ZERO
        self.filled_by_order: dict[ClientOrderId, Decimal] = defaultdict(lambda: ZERO)
        self.fills: dict[ExecutionId, ExecutionFill] = {}
        self.charged: set[ExecutionId] = set()
        self.announced: dict[ExecutionId, Decimal] = {}  # commissions that came before the fill

    def teardown(self) -> None:
        """End of a run: tell the listener (the verification runner counts runs this way)."""
        if self.on_teardown is not None:
            self.on_teardown(self)

    def _check(self, ok: bool, invariant_name: str, detail: str) -> None:
        if not ok:
            self.broken = True
            self.steps.append(f"  ✗ {invariant_name}: {detail}")
            raise InvariantBroken(invariant_name, detail)

    # -- helpers ------------------------------------------------------------------------------
    def _set_price(self, iid: InstrumentId, price: Decimal) -> None:
        self.prices[iid] = price
        self.portfolio.mark(iid, price, self.now)
        self.quotes[iid] = Quote(iid, self.now, bid=price, ask=price, last=price)

    def _decide(self, request: OrderRequest) -> RiskDecision:
        ctx = RiskContext(
            portfolio=self.portfolio,
            now=self.now,
            limits=self.limits,
            quote=self.quotes[request.instrument.id],
            trading_state=self.trading.state,
            open_breakers=self.board.open_breakers,
            seen_client_order_ids=self.seen_orders,
            seen_signal_ids=self.seen_signals,
            recent_submits=self.submits,
        )
        decision = evaluate(request, ctx)
        verdict = (
            "approved"
            if decision.approved
            else "denied " + ", ".join(code.value for code in decision.codes)
        )
        price = "" if request.limit_price is None else f" limit {request.limit_price:f}"
        self.steps.append(
            f"{request.intent.value} {request.side.value} {request.quantity:f} "
            f"{request.instrument.id} {request.order_type.value}{price} "
            f"(state {self.trading.state.value}) → {verdict}"
        )
        for code in decision.codes:
            event(f"denied {code.value}")
        return decision

    def _closable(self, iid: InstrumentId, side: Side) -> Decimal:
        qty = self.portfolio.position_qty(iid)
        if qty == 0 or (qty > 0) == (side is Side.BUY):
            return ZERO
        return abs(qty) - self.portfolio.working_qty(iid, side)

    def _approve(self, request: OrderRequest, decision: RiskDecision) -> None:
        """Check what must hold of an approval, then send the order (SUBMITTED, ACCEPTED)."""
        iid, limits = request.instrument.id, self.limits
        if request.intent is OrderIntent.OPEN:
            self._check_new_order(request, decision)
        else:
            closable = self._closable(iid, request.side)
            self._check(
                request.quantity <= closable,
                "closures_never_over_close",
                f"{request.intent.value} of {request.quantity:f} {iid} with {closable:f} closable",
            )
        before = ExposureBook.of(self.portfolio)
        self.portfolio.add_order(Order.from_request(request))
        for kind in (OrderEventKind.SUBMITTED, OrderEventKind.ACCEPTED):
            self.portfolio.apply(
                OrderLifecycleEvent(request.client_order_id, kind, self.now, self.now)
            )
        self.seen_orders.add(request.client_order_id)
        if request.signal_id is not None:
            self.seen_signals.add(request.signal_id)
        self.submits.append(self.now)
        after = ExposureBook.of(self.portfolio)
        if after.gross_notional > before.gross_notional:
            gross, cap = after.gross_notional, limits.max_gross_notional
            self._check(
                gross <= cap,
                "gross_notional_within_cap",
                f"worst-case gross notional {gross:f} after approving {request.client_order_id} "
                f"exceeds max_gross_notional {cap:f}",
            )
            equity = self.portfolio.equity()
            self._check(
                gross <= limits.max_leverage * equity,
                "leverage_within_cap",
                f"worst-case gross notional {gross:f} on equity {equity:f} exceeds "
                f"max_leverage {limits.max_leverage:f}",
            )

    def _check_new_order(self, request: OrderRequest, decision: RiskDecision) -> None:
        iid, limits = request.instrument.id, self.limits
        state, breakers = self.trading.state, self.board.open_breakers
        closable = self._closable(iid, request.side)
        restricted = state is not TradingState.ACTIVE or bool(breakers)
        self._check(
            not restricted or (state is not TradingState.HALTED and request.quantity <= closable),
            "no_new_risk_when_restricted",
            f"{request.side.value} {request.quantity:f} {iid} approved while {state.value}, "
            f"breakers open: {sorted(breakers) or 'none'}, closable {closable:f}",
        )
        quantity_cap = limits.order_quantity_limit(iid)
        self._check(
            request.quantity <= quantity_cap,
            "order_within_size_limits",
            f"order quantity {request.quantity:f} exceeds max_order_quantity {quantity_cap:f}",
        )
        price = max(request.limit_price or ZERO, self.prices[iid])
        notional = request.quantity * price * request.instrument.multiplier
        notional_cap = limits.order_notional_limit(iid)
        self._check(
            notional <= notional_cap,
            "order_within_size_limits",
            f"order notional {notional:f} exceeds max_order_notional {notional_cap:f}",
        )
        age = self.now - self.quotes[iid].ts
        self._check(
            decision.reducing or age <= limits.max_quote_age,
            "no_new_risk_on_stale_quote",
            f"risk-increasing order approved on a {age.total_seconds():.0f} s old quote "
            f"(max_quote_age {limits.max_quote_age.total_seconds():.0f} s)",
        )

    def _submit(
        self, instrument: Instrument, side: Side, qty: int, offset: int | None
    ) -> ClientOrderId | None:
        n = next(self.ids)
        limit = None
        if offset is not None:
            tick = instrument.tick_size
            raw = self.prices[instrument.id] * (100 + offset) / 100
            limit = on_tick(raw, tick)
        request = OrderRequest(
            ClientOrderId(f"O{n}"),
            instrument,
            side,
            Decimal(qty),
            OrderType.MARKET if limit is None else OrderType.LIMIT,
            limit_price=limit,
            signal_id=SignalId(f"S{n}"),
        )
        decision = self._decide(request)
        if not decision.approved:
            return None
        self._approve(request, decision)
        return request.client_order_id

    # -- rule bodies (the rules and their strategies are attached by `risk_machine`) ----------
    def open_account(
        self, cash: Decimal, book: list[tuple[Instrument, Side, int]]
    ) -> MultipleResults[ClientOrderId]:
        """Every run opens the account with one of the setup's cash amounts and sends an
        opening book of orders through the gate."""
        self._open(cash)
        self.steps.append(f"account opens with cash {cash:f}")
        return self.submit_burst(book)

    def submit(
        self, instrument: Instrument, side: Side, qty: int, offset: int | None
    ) -> MultipleResults[ClientOrderId] | ClientOrderId:
        """A signal's order request through the gate: a market order, or a limit off the mark."""
        cid = self._submit(instrument, side, qty, offset)
        return multiple() if cid is None else cid

    def submit_burst(
        self, batch: list[tuple[Instrument, Side, int]]
    ) -> MultipleResults[ClientOrderId]:
        """A burst of market orders at the same instant (open-order and rate limits)."""
        sent = [self._submit(instrument, side, qty, None) for instrument, side, qty in batch]
        return multiple(*(cid for cid in sent if cid is not None))

    def fill(
        self, cid: ClientOrderId, fraction: int, commission: int | None
    ) -> MultipleResults[ExecutionId] | ExecutionId:
        """Fill `fraction`% of what is left of an order (at least 1), maybe with a commission."""
        order = self.portfolio.order(cid)
        leaves = order.working_qty
        if leaves == 0:
            return multiple()
        qty = max(Decimal(1), (leaves * fraction / 100).to_integral_value(rounding=ROUND_DOWN))
        request = order.request
        price = order.limit_price or self.prices[request.instrument.id]
        exec_id = ExecutionId(f"X{next(self.ids)}")
        if self.announced and commission is None:
            exec_id = next(iter(self.announced))  # a fill whose commission came first
        fee = None if commission is None else Decimal(commission) / 100
        fill = ExecutionFill(
            cid, exec_id, request.instrument.id, request.side, qty, price, self.now, self.now, fee
        )
        self.steps.append(f"fill {cid}: {qty:f} @ {price:f} as {exec_id}")
        self._check(self.portfolio.apply(fill), "execution_applied_once", f"{exec_id} ignored")
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

    def duplicate_fill(self, exec_id: ExecutionId, with_fee: bool) -> None:
        """The broker reports an execution again (carrying a commission or not)."""
        original = self.fills[exec_id]
        fee = original.commission
        if fee is None and with_fee:
            fee = Decimal("0.35")
        replay = attrs.evolve(original, ts_event=self.now, ts_init=self.now, commission=fee)
        self.steps.append(f"duplicate report of {exec_id}")
        fresh_fee = fee is not None and exec_id not in self.charged
        self._check(
            self.portfolio.apply(replay) == fresh_fee,
            "execution_applied_once",
            f"the duplicate of {exec_id} changed the portfolio beyond its first commission",
        )
        if fresh_fee:
            self._charge(exec_id, fee)

    def late_commission(self, exec_id: ExecutionId, cents: int) -> None:
        """A commission report after its fill (only the first one per execution counts)."""
        fee = Decimal(cents) / 100
        self.steps.append(f"commission {fee:f} for {exec_id}")
        applied = self.portfolio.apply(CommissionReport(exec_id, fee, self.now, self.now))
        self._check(
            applied == (exec_id not in self.charged),
            "execution_applied_once",
            f"a second commission for {exec_id} was charged",
        )
        self._charge(exec_id, fee)

    def early_commission(self, cents: int) -> None:
        """A commission report whose fill has not arrived yet."""
        exec_id = ExecutionId(f"X{next(self.ids)}")
        fee = Decimal(cents) / 100
        self.steps.append(f"commission {fee:f} for {exec_id} before its fill")
        self.portfolio.apply(CommissionReport(exec_id, fee, self.now, self.now))
        self.announced[exec_id] = fee

    def cancel(self, cid: ClientOrderId) -> None:
        """The broker confirms a cancel; nothing of the order works afterwards."""
        order = self.portfolio.order(cid)
        self.steps.append(f"cancel {cid}")
        if order.status.is_working:
            self.portfolio.apply(
                OrderLifecycleEvent(cid, OrderEventKind.CANCELED, self.now, self.now)
            )
        self._check(0 == order.working_qty, "filled_plus_leaves_is_quantity", f"{cid} works")

    def move_price(self, instrument: Instrument, percent: int) -> None:
        """A market tick: one instrument moves `percent`, every quote is fresh again."""
        for other in self.setup.instruments:
            price = self.prices[other.id]
            if other is instrument:
                raw = price * (100 + percent) / 100
                tick = other.tick_size
                price = on_tick(raw, tick)
            self._set_price(other.id, price)
        self.steps.append(f"{instrument.id} moves {percent:+d}% to {self.prices[instrument.id]:f}")

    def advance_clock(self, seconds: int, requote: bool) -> None:
        """Time passes: breakers cool down, a new day starts a new session, and the quotes either
        tick again at their prices (`requote`) or age."""
        day = self.now.date()
        self.now += timedelta(seconds=seconds)
        self.board.tick(self.now)
        if self.now.date() != day:
            self.portfolio.start_session(self.now)
        if requote:
            for iid, price in list(self.prices.items()):
                self._set_price(iid, price)
        self.steps.append(f"clock advances {seconds} s{'' if requote else ', quotes age'}")

    def trading_state(self, action: str) -> None:
        """An operator moves the trading state, or engages or releases the kill switch."""
        trading = self.trading
        if action == "kill":
            trading.engage_kill_switch(self.now, "operator")
        elif action == "release":
            trading.release_kill_switch()  # trading stays HALTED until resumed
        elif trading.kill_switch:
            action = f"{action} refused: the kill switch is engaged"
        else:
            trading.transition(TradingState(action), self.now, "operator")
        self.steps.append(f"operator: {action} (state {trading.state.value})")

    def breakers(self, action: str, kind: BreakerKind) -> None:
        """Trip a breaker by hand, judge the account, or probe with success and fresh data."""
        if action == "observe":
            self.board.observe_account(self.portfolio, self.now)
        elif action == "probe":
            self.board.observe_acceptance(self.now)
            self.board.observe_broker_success(self.now)
            newest = max(q.ts for q in self.quotes.values())
            self.board.observe_data_age(self.now - newest, self.now)
        else:
            self.board.trip(kind, self.now, "test")
        self.steps.append(f"breakers: {action} {kind.value if action == 'trip' else ''}".strip())

    def has_open_position(self) -> bool:
        """Precondition: something is open to close."""
        return any(True for _ in self.portfolio.open_positions())

    def strategy_c_cycle(self, breaker: str) -> None:
        """A Strategy C review; every closure it requests must pass the gate, exactly."""
        self.steps.append(f"Strategy C review (breakers open: {breaker or 'none'})")
        review = review_positions(
            self.portfolio,
            self.now,
            self.setup.strategy_c,
            quotes=self.quotes,
            open_breakers={breaker} if breaker else frozenset(),
        )
        factory = closure_id_factory(f"SC{next(self.ids)}", self.now, self.seen_orders)
        for request in closure_requests(review.flags, self.portfolio, id_factory=factory):
            iid = request.instrument.id
            decision = self._decide(request)
            self._check(decision.approved, "closures_never_blocked", decision.explain())
            self._approve(request, decision)
            left = closing_quantity(self.portfolio, iid)
            self._check(left == 0, "closures_never_over_close", f"{left:f} {iid} left open")

    def flatten(self, instrument: Instrument, side: Side, qty: int) -> None:
        """An explicit flatten: approved exactly when it does not over-close."""
        request = OrderRequest(
            ClientOrderId(f"FL{next(self.ids)}"),
            instrument,
            side,
            Decimal(qty),
            OrderType.MARKET,
            intent=OrderIntent.FLATTEN,
        )
        closable = self._closable(instrument.id, side)
        decision = self._decide(request)
        if request.quantity <= closable:
            self._check(decision.approved, "closures_never_blocked", decision.explain())
        if decision.approved:
            self._approve(request, decision)

    # -- invariants ---------------------------------------------------------------------------
    @invariant()
    def position_within_limit(self) -> None:
        """No worst-case position above the configured max_position of its instrument."""
        for instrument in self.setup.instruments:
            iid = instrument.id
            longest, shortest = self.portfolio.worst_case_position(iid)
            worst, cap = max(abs(longest), abs(shortest)), self.limits.position_limit(iid)
            self._check(
                worst <= cap,
                "position_within_limit",
                f"worst-case position {worst:f} in {iid} (position "
                f"{self.portfolio.position_qty(iid):f}) exceeds max_position {cap:f}",
            )

    @invariant()
    def open_orders_within_limit(self) -> None:
        """Working orders that open risk never exceed max_open_orders."""
        working = list(self.portfolio.working_orders())
        opening = sum(1 for o in working if o.request.intent is OrderIntent.OPEN)
        cap = self.limits.max_open_orders
        self._check(
            opening <= cap,
            "open_orders_within_limit",
            f"{opening} working orders exceed max_open_orders {cap}",
        )

    @invariant()
    def position_equals_signed_fills(self) -> None:
        """Each position equals the ledger's sum of signed fills."""
        for instrument in self.setup.instruments:
            iid = instrument.id
            expected, actual = self.expected_qty[iid], self.portfolio.position_qty(iid)
            self._check(
                expected == actual,
                "position_equals_signed_fills",
                f"{iid} position {actual:f}, fills sum to {expected:f}",
            )

    @invariant()
    def execution_applied_once(self) -> None:
        """Every order holds each of its executions once; the ledger agrees on filled quantity."""
        for cid, filled in self.filled_by_order.items():
            order = self.portfolio.order(cid)
            ids = [f.execution_id for f in order.fills]
            self._check(
                filled == order.filled_qty and len(set(ids)) == len(ids),
                "execution_applied_once",
                f"{cid} filled {order.filled_qty:f} by {ids}, ledger says {filled:f}",
            )

    @invariant()
    def filled_plus_leaves_is_quantity(self) -> None:
        """filled + leaves == quantity and filled <= quantity, for every order."""
        for order in self.portfolio.orders.values():
            self._check(
                order.filled_qty + order.leaves_qty == order.quantity
                and order.filled_qty <= order.quantity,
                "filled_plus_leaves_is_quantity",
                f"{order.client_order_id}: filled {order.filled_qty:f} + leaves "
                f"{order.leaves_qty:f} != quantity {order.quantity:f}",
            )

    @invariant()
    def cash_reconciles_with_pnl(self) -> None:
        """Cash and commissions match the ledger; cash + positions reconcile with PnL."""
        p = self.portfolio
        self._check(
            self.expected_cash == p.cash and self.expected_commissions == p.total_commissions,
            "cash_reconciles_with_pnl",
            f"cash {p.cash:f} / commissions {p.total_commissions:f}, ledger says "
            f"{self.expected_cash:f} / {self.expected_commissions:f}",
        )
        pnl = p.starting_cash + p.realized_pnl() + p.unrealized_pnl() - p.total_commissions
        self._check(
            p.cash + p.market_value() == pnl,
            "cash_reconciles_with_pnl",
            f"cash + market value {p.cash + p.market_value():f} != start + PnL {pnl:f}",
        )
