"""Issue #9's acceptance machine: a `RuleBasedStateMachine` drives the `OrderGate` facade and the
`SignalService` with random interleavings of submits (signals through the facade and through the
service, working limit orders), modifies, cancels, fills (price moves, forced fills), halt /
reduce / resume / kill from the facade and from another process through the trading control,
restarts, event-publisher outages, gateway 1100/2110 then 1101/1102, and socket drops with
reconnects — on the fake broker with its controls, an in-memory audit store, an in-memory trading
control and an in-memory publisher that can be switched to failing (all real adapters).

The fake broker lets the test look at every call as it is made (`FakeBroker.on_call`): the
machine notes how much of the audit log was durable then, the trading state and the kill switch.
After every step it checks:
- no broker call happens without an approving decision that was durable first: every submitted
  order has an approving `risk.decision` and its `broker.submit` record in the store when the
  broker is asked; every modify and cancel its `broker.modify` / `broker.cancel` record; every
  global cancel its `broker.cancel_all` record;
- nothing risk-increasing passes while REDUCING, HALTED or killed: an order that reaches the
  broker then was decided as reducing (or is a closure / flatten), and no modify raises a
  quantity; a lost link means not ACTIVE, a kill means HALTED with the switch, until a resume;
- closures are never blocked and never over-close: a closure or flatten is only ever denied for
  over-closing; it never flips or grows a position; after a flatten or a kill nothing is left
  working and every position is flat;
- the audit has a result for every submit (`broker.submit_result` after each `broker.submit`),
  and its chain verifies; a publisher outage fails no order.

Hypothesis does not run async rules: the machine owns an event loop and runs each step on it.
The default example count is bounded so the machine runs in about 10-20 s.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ordergate.adapters.fakes._calls import RecordedCall
from ordergate.adapters.fakes.audit_log import InMemoryAuditLog, MemoryAuditStore
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.fakes.signal_source import InMemorySignalSource
from ordergate.adapters.fakes.trading_control import InMemoryTradingControl
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.results import OrderResult, OrderResultStatus
from ordergate.application.service import ServiceOptions, SignalService
from ordergate.domain.errors import OrdergateError
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import ClosureReason, OrderIntent, OrderRequest, OrderType
from ordergate.domain.orders.enums import TimeInForce
from ordergate.domain.risk.breakers import KillSwitchEngaged
from ordergate.domain.risk.decision import RiskCode, TradingState
from ordergate.domain.risk.limits import RiskLimits
from ordergate.domain.signals import Signal
from ordergate.domain.values import ClientOrderId, Side, SignalId

T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)  # Monday 10:00 New York
AAPL = Stock("AAPL")
MSFT = Stock("MSFT")
STOCKS = (AAPL, MSFT)
LIMITS = RiskLimits(
    max_order_quantity=Decimal(50),
    max_position=Decimal(80),
    max_gross_notional=Decimal(60_000),
    max_leverage=Decimal("1.5"),
)
CLOSING = {OrderIntent.CLOSE.value, OrderIntent.FLATTEN.value}
TIMEOUT = 5.0


@attrs.frozen
class Witnessed:
    """A broker call as the broker saw it: what was durable and how the gate stood then."""

    call: RecordedCall
    durable: int  # audit records in the store when the broker was asked
    state: TradingState
    killed: bool
    reduces: tuple[bool, ...]  # per order of the call: does it only reduce a position (shadow)?


class GateStateMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock(T0)
        self.broker = FakeBroker(self.clock, STOCKS, starting_cash=Decimal(100_000))
        self.market = FakeMarketData(self.clock, STOCKS)
        self.store = MemoryAuditStore()
        self.audit = InMemoryAuditLog(self.store, clock=self.clock)
        self.control = InMemoryTradingControl()
        self.outage: str | None = None
        self.prices = {AAPL: Decimal(100), MSFT: Decimal(200)}
        for stock, price in self.prices.items():
            self._set_price(stock, price)
        self.witnessed: list[Witnessed] = []
        self.broker.on_call(self._witness)
        self.counter = 0
        self.killed = False
        self.degraded = False
        self.results: list[OrderResult] = []
        self.closures: list[OrderResult] = []
        self.gate = self._new_gate()
        self.run(self.gate.start())
        self.service = self._new_service()

    # -- plumbing ------------------------------------------------------------------------------
    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.publisher.set_outage(None)  # the last buffered events go out: no wait at stop
        self.run(self.gate.stop())
        self.run(self.broker.close())
        self.loop.close()

    def _new_gate(self) -> OrderGate:
        self.audit = InMemoryAuditLog(self.store, clock=self.clock)
        outage = getattr(self, "outage", None)
        self.publisher = InMemoryPublisher()  # a new process, a new connection
        self.publisher.set_outage(outage)
        ports = Ports(
            self.broker, self.market, self.audit, self.clock, self.publisher, self.control
        )
        options = GateOptions(
            operator_id="CSATSPRIM", limits=LIMITS, starting_cash=Decimal(100_000), timeout=TIMEOUT
        )
        return OrderGate(ports, options)

    def _new_service(self) -> SignalService:
        self.source = InMemorySignalSource(self.clock)
        options = ServiceOptions(monitor_interval=None, receive_timeout=0.01, max_count=1)
        return SignalService(self.gate, self.source, self.clock, options=options)

    def _witness(self, call: RecordedCall) -> None:
        reduces: tuple[bool, ...] = ()
        if call.method == "modify":
            cid = call.argument("client_order_id")
            order = self.gate.portfolio.orders.get(cid)
            if order is not None:
                quantity = call.argument("quantity") or order.quantity
                leaves = quantity - order.filled_qty
                reduces = (self._reduces(order.request, leaves),)
        elif call.method in ("submit", "submit_list"):
            orders = _orders_of(call)
            reduces = tuple(self._reduces(o.request, o.request.quantity) for o in orders)
        self.witnessed.append(
            Witnessed(
                call,
                len(self.store.rows),
                self.gate.trading_state,
                self.gate.kill_switch_engaged,
                reduces,
            )
        )

    def _reduces(self, request: OrderRequest, leaves: Decimal) -> bool:
        """The machine's own judgement, from the gate's book when the broker is asked: the
        order is on the other side of the position and, with the other working orders on its
        side, cannot take it past flat. (A bracket child counts as reducing: it works only
        once its parent filled, against the position the parent made.)"""
        if request.parent_id is not None:
            return True
        portfolio = self.gate.portfolio
        iid = request.instrument.id
        position = portfolio.position_qty(iid)
        if position == 0 or (position > 0) == (request.side is Side.BUY):
            return False
        others = portfolio.working_qty(iid, request.side)
        own = portfolio.orders.get(request.client_order_id)
        if own is not None and own.status.is_working:
            others -= own.leaves_qty
        return leaves <= abs(position) - others

    def _set_price(self, stock: Stock, price: Decimal) -> None:
        self.market.set_price(stock, price)  # (a fresh quote: stale data ends here)
        self.broker.set_price(stock, price)

    def _signal(self, stock: Stock, side: Side, qty: int, bracket: bool) -> Signal:
        self.counter += 1
        price = self.prices[stock]
        extra: dict[str, Decimal] = {}
        if bracket:
            down, up = price * Decimal("0.95"), price * Decimal("1.05")
            low, high = (down, up) if side is Side.BUY else (up, down)
            extra = {
                "stop_loss": low.quantize(Decimal("0.01")),
                "take_profit": high.quantize(Decimal("0.01")),
            }
        return Signal(
            SignalId(f"S{self.counter}"),
            stock,
            side,
            self.clock.now(),
            quantity=Decimal(qty),
            **extra,
        )

    def _working(self) -> list[ClientOrderId]:
        return [
            cid
            for cid, order in self.gate.portfolio.orders.items()
            if order.status.is_working and order.request.order_type is OrderType.LIMIT
        ]

    def _positions(self) -> dict[str, Decimal]:
        held = self.run(self.broker.positions(timeout=TIMEOUT))
        return {p.instrument_id.value: p.quantity for p in held}

    # -- submits -------------------------------------------------------------------------------
    @rule(
        stock=st.sampled_from(STOCKS),
        side=st.sampled_from(Side),
        qty=st.integers(1, 60),
        bracket=st.booleans(),
    )
    def submit_signal_to_the_facade(
        self, stock: Stock, side: Side, qty: int, bracket: bool
    ) -> None:
        self.results.extend(
            self.run(self.gate.submit_signal(self._signal(stock, side, qty, bracket)))
        )
        self.run(self.gate.settle())

    @rule(
        stock=st.sampled_from(STOCKS),
        side=st.sampled_from(Side),
        qty=st.integers(1, 60),
        bracket=st.booleans(),
    )
    def submit_signal_through_the_service(
        self, stock: Stock, side: Side, qty: int, bracket: bool
    ) -> None:
        self.source.push(self._signal(stock, side, qty, bracket))
        [delivery] = self.run(self.source.receive(max_count=1, timeout=0.01))
        before = len(self.service.summary.results)
        self.run(self.service.handle(delivery))
        self.results.extend(list(self.service.summary.results)[before:])
        self.run(self.gate.settle())

    @rule(
        stock=st.sampled_from(STOCKS),
        side=st.sampled_from(Side),
        qty=st.integers(1, 40),
        away=st.integers(2, 10),
    )
    def submit_a_working_limit(self, stock: Stock, side: Side, qty: int, away: int) -> None:
        self.counter += 1
        price = self.prices[stock] + (Decimal(-away) if side is Side.BUY else Decimal(away))
        request = OrderRequest(
            client_order_id=ClientOrderId(f"L{self.counter}"),
            instrument=stock,
            side=side,
            quantity=Decimal(qty),
            order_type=OrderType.LIMIT,
            limit_price=max(Decimal(1), price),
            time_in_force=TimeInForce.GTC,
        )
        self.results.append(self.run(self.gate.submit_request(request)))
        self.run(self.gate.settle())

    # -- modify / cancel -----------------------------------------------------------------------
    @precondition(lambda self: bool(self._working()))
    @rule(data=st.data(), change=st.integers(-5, 5), reprice=st.integers(-2, 2))
    def modify_a_working_order(self, data: st.DataObject, change: int, reprice: int) -> None:
        cid = data.draw(st.sampled_from(self._working()))
        order = self.gate.portfolio.order(cid)
        quantity = max(order.filled_qty + 1, order.quantity + change)
        price = None if order.limit_price is None else max(Decimal(1), order.limit_price + reprice)
        try:
            result = self.run(self.gate.modify(cid, quantity=quantity, limit_price=price))
        except OrdergateError:
            return  # refused with a typed error: nothing may have been sent (checked below)
        assert isinstance(result, OrderResult)
        self.run(self.gate.settle())

    @precondition(lambda self: bool(self._working()))
    @rule(data=st.data())
    def cancel_a_working_order(self, data: st.DataObject) -> None:
        cid = data.draw(st.sampled_from(self._working()))
        self.run(self.gate.cancel(cid))
        self.run(self.gate.settle())

    # -- the market ----------------------------------------------------------------------------
    @rule(stock=st.sampled_from(STOCKS), move=st.integers(-12, 12))
    def move_the_price(self, stock: Stock, move: int) -> None:
        self.prices[stock] = max(Decimal(5), self.prices[stock] + move)
        self._set_price(stock, self.prices[stock])
        self.run(self.gate.settle())

    @precondition(lambda self: bool(self._working()))
    @rule(data=st.data())
    def fill_a_working_order(self, data: st.DataObject) -> None:
        at_broker = {v.client_order_id for v in self.run(self.broker.open_orders(timeout=TIMEOUT))}
        candidates = [cid for cid in self._working() if cid in at_broker]
        if not candidates:  # what we hold as working ended at the broker unheard (an outage)
            return
        self.broker.fill(data.draw(st.sampled_from(candidates)))
        self.run(self.gate.settle())

    @rule(seconds=st.sampled_from([1, 60, 400, 3600]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)
        self.run(self.gate.settle())

    @rule(stock=st.sampled_from(STOCKS))
    def data_goes_stale(self, stock: Stock) -> None:
        self.market.make_stale(stock, timedelta(seconds=900))

    @rule()
    def strategy_c_cycle(self) -> None:
        report = self.run(self.gate.monitor())
        self.closures.extend(report.closures)
        self.run(self.gate.settle())

    # -- trading state: the facade, another process, a restart --------------------------------
    @rule(action=st.sampled_from(["halt", "reduce", "resume"]))
    def operator_through_the_facade(self, action: str) -> None:
        try:
            self.run(getattr(self.gate, action)(f"machine {action}"))
        except KillSwitchEngaged:
            assert self.killed
            assert action == "reduce"
            return
        if action == "resume":
            self.killed = False
            assert self.gate.trading_state is TradingState.ACTIVE
        elif action == "halt":
            assert self.gate.trading_state is TradingState.HALTED
        else:
            assert self.gate.trading_state is TradingState.REDUCING

    @rule(action=st.sampled_from(["halt", "kill", "resume"]))
    def operator_from_another_process(self, action: str) -> None:
        state = TradingState.ACTIVE if action == "resume" else TradingState.HALTED
        self.run(self.control.request(state, f"ordergate {action}", kill=action == "kill"))
        self.run(self.service.apply_control())
        if action == "kill":
            self.killed = True
        elif action == "resume":
            self.killed = False
            assert self.gate.trading_state is TradingState.ACTIVE
        if action != "resume":
            assert self.gate.trading_state is TradingState.HALTED

    @rule()
    def kill(self) -> None:
        report = self.run(self.gate.kill("machine kill"))
        self.run(self.gate.settle())
        self.killed = True
        self.closures.extend(report.flatten.closures)
        self._assert_flat_and_nothing_working()
        assert report.flatten.ok, report

    @rule()
    def flatten(self) -> None:
        report = self.run(self.gate.flatten())
        self.run(self.gate.settle())
        self.closures.extend(report.closures)
        self._assert_flat_and_nothing_working()
        assert report.ok, report

    @precondition(lambda self: any(True for _ in self.gate.portfolio.open_positions()))
    @rule(data=st.data())
    def close_a_position(self, data: st.DataObject) -> None:
        positions = list(self.gate.portfolio.open_positions())
        position = data.draw(st.sampled_from(positions))
        iid = position.instrument_id
        before = self._positions().get(iid.value, Decimal(0))
        result = self.run(self.gate.close_position(iid, ClosureReason.MANUAL))
        self.closures.append(result)
        self.run(self.gate.settle())
        after = self._positions().get(iid.value, Decimal(0))
        assert abs(after) <= abs(before), "a closure grew the position"
        assert after == 0 or (after > 0) == (before > 0), "a closure flipped the position"

    @precondition(
        lambda self: (
            not self.degraded
            and not any(o.status.is_working for o in self.gate.portfolio.orders.values())
        )
    )
    @rule()
    def restart(self) -> None:
        """The process stops and starts again on the same account, audit store and control
        (with nothing working: a new process knows the positions, not an old one's orders)."""
        self.publisher.set_outage(None)  # (a stop waits for its buffer while the transport is up)
        self.run(self.gate.stop())
        # A restart takes time: the new session starts after the old one's last fill (a fill
        # at the very instant the new session starts would be counted by its resync and again
        # by a reconcile since the session start — a window this machine does not model).
        self.clock.advance(1)
        self.gate = self._new_gate()
        self.run(self.gate.start())
        self.run(self.gate.resync_from_broker())
        self.service = self._new_service()
        assert self.gate.kill_switch_engaged is self.killed
        if self.killed:
            assert self.gate.trading_state is TradingState.HALTED

    # -- faults --------------------------------------------------------------------------------
    @rule(down=st.booleans())
    def publisher_outage(self, down: bool) -> None:
        self.outage = "redis stopped" if down else None
        self.publisher.set_outage(self.outage)

    @precondition(lambda self: not self.degraded)
    @rule(code=st.sampled_from([1100, 2110]))
    def gateway_loses_ib(self, code: int) -> None:
        self.broker.lose_connectivity(code)
        self.degraded = True
        self.run(self.gate.settle())
        assert self.gate.trading_state is not TradingState.ACTIVE

    @precondition(lambda self: self.degraded)
    @rule(data_lost=st.booleans())
    def gateway_restores_ib(self, data_lost: bool) -> None:
        self.broker.restore_connectivity(data_lost=data_lost)  # 1101 / 1102
        self.degraded = False
        self.run(self.gate.settle())

    @rule(stock=st.sampled_from(STOCKS), move=st.integers(-12, 12))
    def socket_drops_and_reconnects(self, stock: Stock, move: int) -> None:
        self.broker.drop_connection()
        self.degraded = False
        self.run(self.gate.settle())
        assert self.gate.trading_state is not TradingState.ACTIVE
        self.prices[stock] = max(Decimal(5), self.prices[stock] + move)
        self._set_price(stock, self.prices[stock])  # fills nobody hears
        self.broker.restore_connection()
        self.run(self.gate.settle())

    # -- checks --------------------------------------------------------------------------------
    def _assert_flat_and_nothing_working(self) -> None:
        assert self.run(self.broker.open_orders(timeout=TIMEOUT)) == []
        assert {k: v for k, v in self._positions().items() if v} == {}

    def _entries(self) -> list[tuple[int, str, dict[str, Any]]]:
        return [
            (e.sequence, e.record.kind, dict(e.record.payload))
            for e in self.run(self.audit.query())
        ]

    @invariant()
    def every_broker_call_had_its_decision_durable_first(self) -> None:
        entries = self._entries()
        for seen in self.witnessed:
            durable = [(kind, payload) for seq, kind, payload in entries if seq <= seen.durable]
            method = seen.call.method
            if method in ("submit", "submit_list"):
                orders = (
                    (seen.call.argument("order"),)
                    if method == "submit"
                    else seen.call.argument("orders")
                )
                for order in orders:
                    cid = order.request.client_order_id.value
                    assert _approval(durable, cid, None), (
                        f"{cid} reached the broker without a durable approval"
                    )
                    assert any(
                        k == "broker.submit" and cid in p["client_order_ids"] for k, p in durable
                    ), f"{cid} reached the broker before its broker.submit record"
            elif method in ("modify", "cancel"):
                cid = seen.call.argument("client_order_id").value
                assert _approval(durable, cid, method), (
                    f"{method} of {cid} reached the broker without a durable approving decision"
                )
                assert any(
                    k == f"broker.{method}" and p.get("client_order_id") == cid for k, p in durable
                ), f"{method} of {cid} reached the broker before it was recorded"
            elif method == "cancel_all":
                assert any(k == "broker.cancel_all" for k, _ in durable)

    @invariant()
    def nothing_risk_increasing_passes_while_restricted(self) -> None:
        entries = self._entries()
        for seen in self.witnessed:
            restricted = seen.state is not TradingState.ACTIVE or seen.killed
            if seen.killed:
                assert seen.state is TradingState.HALTED
            if not restricted:
                continue
            durable = [(k, p) for seq, k, p in entries if seq <= seen.durable]
            if seen.call.method == "modify":
                cid = seen.call.argument("client_order_id").value
                decision = _approval(durable, cid, "modify")
                assert decision is not None
                closing = decision["request"].get("intent") in CLOSING
                assert closing or (decision["reducing"] and all(seen.reduces)), (
                    f"a modify of {cid} that adds risk reached the broker while {seen.state.value}"
                )
                continue
            if seen.call.method not in ("submit", "submit_list"):
                continue
            for order, reduces in zip(_orders_of(seen.call), seen.reduces, strict=True):
                cid = order.request.client_order_id.value
                decision = _approval(durable, cid, None)
                assert decision is not None
                if decision["request"]["intent"] in CLOSING:
                    continue  # closures pass any state; over-closing is checked on its own
                assert decision["reducing"], f"{cid} added risk while {seen.state.value}"
                assert reduces, f"{cid} was judged reducing but adds risk ({seen.state.value})"

    @invariant()
    def the_kill_switch_holds_until_resume(self) -> None:
        assert self.gate.kill_switch_engaged is self.killed
        if self.killed:
            assert self.gate.trading_state is TradingState.HALTED

    @invariant()
    def closures_are_never_blocked_by_new_risk_rules(self) -> None:
        for result in self.closures:
            if result.status is OrderResultStatus.DENIED and result.decision is not None:
                assert set(result.decision.codes) <= {RiskCode.OVER_CLOSE}, result.decision

    @invariant()
    def every_submit_has_its_result(self) -> None:
        submitted: list[tuple[int, list[str]]] = []
        answered: list[tuple[int, list[str]]] = []
        for seq, kind, payload in self._entries():
            if kind == "broker.submit":
                submitted.append((seq, payload["client_order_ids"]))
            elif kind == "broker.submit_result":
                answered.append((seq, payload["client_order_ids"]))
        for seq, ids in submitted:
            assert any(a > seq and later == ids for a, later in answered), (
                f"broker.submit of {ids} has no broker.submit_result"
            )

    @invariant()
    def a_publisher_outage_fails_no_order(self) -> None:
        for result in self.results + self.closures:
            if result.status is OrderResultStatus.FAILED:
                assert "publish" not in (result.reason or "").lower(), result

    @invariant()
    def the_gate_agrees_with_the_broker(self) -> None:
        self.run(self.gate.settle())
        ours = {p.instrument_id.value: p.quantity for p in self.gate.portfolio.open_positions()}
        assert ours == {k: v for k, v in self._positions().items() if v}

    @invariant()
    def the_audit_chain_verifies(self) -> None:
        assert self.run(self.audit.verify()).ok


def _orders_of(call: RecordedCall) -> tuple[Any, ...]:
    """The `ApprovedOrder`s a submit or submit_list call carried."""
    if call.method == "submit":
        return (call.argument("order"),)
    return tuple(call.argument("orders"))


def _approval(
    durable: list[tuple[str, dict[str, Any]]], cid: str, action: str | None
) -> dict[str, Any] | None:
    """The latest approving `risk.decision` for `cid` among `durable` records: of its submit
    (`action` None) or of a modify / cancel."""
    found = None
    for kind, payload in durable:
        if (
            kind == "risk.decision"
            and payload["approved"]
            and payload["request"]["client_order_id"] == cid
            and payload.get("action") == action
        ):
            found = payload
    return found


GateStateMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestGateStateMachine = GateStateMachine.TestCase
