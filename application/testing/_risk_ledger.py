"""What must hold: the risk machine's account, its shadow ledger and the invariants.

`RiskLedger` holds a portfolio behind the risk gate, breakers and the trading state, the ledger
of what the positions, cash and commissions should be, and the checks of SPEC §9's invariants:
at approval (`_approve`) and after every step (`@invariant`s). Every broken invariant raises
`InvariantBroken` naming it (a key of `machines.INVARIANTS`), judged against the configured limit
values, whatever rules the limits switch off. What can happen to the account (the rule bodies)
is `_risk_events.RiskLedgerMachine`. Nothing here does I/O or imports an adapter.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, ClassVar

from hypothesis import event
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
)

from ordergate.domain.market import Quote
from ordergate.domain.orders import (
    ExecutionFill,
    Order,
    OrderEventKind,
    OrderIntent,
    OrderLifecycleEvent,
    OrderRequest,
)
from ordergate.domain.portfolio import Portfolio
from ordergate.domain.risk import (
    BreakerBoard,
    ExposureBook,
    RiskContext,
    RiskDecision,
    TradingState,
    TradingStateMachine,
    evaluate,
)
from ordergate.domain.values import ZERO, ClientOrderId, ExecutionId, InstrumentId, Side, SignalId

if TYPE_CHECKING:  # machines imports this module at run time
    from ordergate.application.testing.machines import MachineSetup

__all__ = ["T0", "InvariantBroken", "RiskLedger", "on_tick"]

T0 = datetime(2024, 1, 16, 14, 35, tzinfo=UTC)
"""Where every run's clock starts: a Tuesday, just after the New York open."""


def on_tick(price: Decimal, tick: Decimal) -> Decimal:
    """`price` rounded down to the tick grid, and at least one tick."""
    return max(tick, ((price / tick).to_integral_value(rounding=ROUND_DOWN) * tick).quantize(tick))


class InvariantBroken(AssertionError):
    """A risk invariant failed: `invariant` names it (see `machines.INVARIANTS`), `detail` how."""

    def __init__(self, invariant: str, detail: str) -> None:
        self.invariant = invariant
        self.detail = detail
        super().__init__(f"{invariant}: {detail}")


class RiskLedger(RuleBasedStateMachine):
    """Portfolio + risk gate + breakers + trading state, checked against a shadow ledger.

    `steps` lists what each step did and what the gate said; `broken` is set when an invariant
    failed; `on_teardown` (if set) is called with the machine at the end of every run.
    """

    setup: ClassVar[MachineSetup]

    def __init__(self) -> None:
        super().__init__()
        self.limits = self.setup.limits
        self.steps: list[str] = []
        self.broken = False
        self.on_teardown: Callable[[RiskLedger], None] | None = None
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
            self.steps.append(f"✗ {invariant_name}: {detail}")
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

    def _charge(self, exec_id: ExecutionId, fee: Decimal | None) -> None:
        if fee is None or exec_id in self.charged:
            return
        self.charged.add(exec_id)
        self.expected_cash -= fee
        self.expected_commissions += fee

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
