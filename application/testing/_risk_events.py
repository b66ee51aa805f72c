"""What can happen: the risk machine's rule bodies (orders, fills, prices, clock, operators).

`RiskLedgerMachine` adds to `_risk_ledger.RiskLedger` what the world does to the account: order
requests through the gate, fills (partial, duplicated, with commissions before or after them),
cancels, price moves, the clock, the trading state and kill switch, breakers, Strategy C reviews
and flattens. The methods are plain: `machines.risk_machine` turns them into Hypothesis rules,
with strategies drawn relative to the user's limits. Broker events pick their order or execution
by index among those that exist (a no-op when there is none) rather than from a `Bundle`, and no
rule has a precondition: every rule is always enabled, which lets Hypothesis delete steps freely
and so shrink a failure to a truly minimal counterexample (bundles and preconditions left
unrelated steps behind).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

import attrs

from ordergate.application.testing._risk_ledger import RiskLedger, on_tick
from ordergate.domain.instruments import Instrument
from ordergate.domain.orders import (
    CommissionReport,
    ExecutionFill,
    OrderEventKind,
    OrderIntent,
    OrderLifecycleEvent,
    OrderRequest,
    OrderType,
)
from ordergate.domain.risk import BreakerKind, TradingState
from ordergate.domain.strategy_c import (
    closing_quantity,
    closure_id_factory,
    closure_requests,
    review_positions,
)
from ordergate.domain.values import ClientOrderId, ExecutionId, Side, SignalId

__all__ = ["RiskLedgerMachine"]


class RiskLedgerMachine(RiskLedger):
    """The risk-invariant machine: `RiskLedger` plus the rule bodies (no rules yet).

    Build one with `machines.risk_machine(limits)`, which attaches the rules.
    """

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
    def open_account(self, cash: Decimal, book: list[tuple[Instrument, Side, int]]) -> None:
        """Every run opens the account with one of the setup's cash amounts and sends an
        opening book of orders through the gate."""
        self._open(cash)
        self.steps.append(f"account opens with cash {cash:f}")
        self.submit_burst(book)

    def submit(self, instrument: Instrument, side: Side, qty: int, offset: int | None) -> None:
        """A signal's order request through the gate: a market order, or a limit off the mark."""
        self._submit(instrument, side, qty, offset)

    def submit_burst(self, batch: list[tuple[Instrument, Side, int]]) -> None:
        """A burst of market orders at the same instant (open-order and rate limits)."""
        for instrument, side, qty in batch:
            self._submit(instrument, side, qty, None)

    def fill(self, pick: int, fraction: int, commission: int | None) -> None:
        """Fill `fraction`% of what is left of a working order (at least 1), maybe with a
        commission. `pick` chooses the order among those working (none: nothing happens)."""
        working = list(self.portfolio.working_orders())
        if not working:
            return
        order = working[pick % len(working)]
        cid, leaves = order.client_order_id, order.working_qty
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

    def _execution(self, pick: int) -> ExecutionId | None:
        return list(self.fills)[pick % len(self.fills)] if self.fills else None

    def duplicate_fill(self, pick: int, with_fee: bool) -> None:
        """The broker reports an execution again (carrying a commission or not)."""
        exec_id = self._execution(pick)
        if exec_id is None:
            return
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

    def late_commission(self, pick: int, cents: int) -> None:
        """A commission report after its fill (only the first one per execution counts)."""
        exec_id = self._execution(pick)
        if exec_id is None:
            return
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

    def cancel(self, pick: int) -> None:
        """The broker confirms the cancel of a working order; nothing of it works afterwards."""
        working = list(self.portfolio.working_orders())
        if not working:
            return
        order = working[pick % len(working)]
        cid = order.client_order_id
        self.steps.append(f"cancel {cid}")
        self.portfolio.apply(OrderLifecycleEvent(cid, OrderEventKind.CANCELED, self.now, self.now))
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
