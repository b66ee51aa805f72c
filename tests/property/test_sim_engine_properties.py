"""Properties of the sim matching engine for any seeded price path and any set of orders.

Price paths are drawn by Hypothesis or produced by the seeded intraday generator from a drawn
seed. For every generated run: a limit buy never fills above its limit (a sell never below); a
stop never fills before the path reached its stop; at most one member of a cancel-type OCA group
(bracket children included) fills; no order fills more than its quantity, nor a bracket child
more than its parent; every bar fill lies inside its bar; the events form a valid lifecycle for
the domain `Order`; the account reconciles; and the same seed gives the same events, byte for
byte.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ordergate.adapters.sim.bars import from_units
from ordergate.adapters.sim.costs import FillModel
from ordergate.adapters.sim.risk_checks import reserved_funds
from ordergate.adapters.sim.scenario import Scenario
from ordergate.adapters.sim.synthetic import SyntheticIntraday
from ordergate.domain.errors import BrokerRejected
from ordergate.domain.orders import (
    CommissionReport,
    ExecutionFill,
    Order,
    OrderEventKind,
    OrderLifecycleEvent,
    OrderRequest,
    OrderType,
    TimeInForce,
)
from ordergate.domain.values import ClientOrderId, InstrumentId, Side

TICK = 100  # 0.01 in price units
TICK_STEP = -1  # a step whose "volume" is this is a tick at its close, not a bar
K = OrderEventKind


@dataclass(frozen=True)
class Plan:
    """One generated run: bars (in ticks), orders to send before given bars, actions, model."""

    bars: list[tuple[int, int, int, int, int]]
    singles: list[tuple[int, dict]]
    brackets: list[tuple[int, int, int, int, bool]]
    oca: list[tuple[int, list[int]]]
    cancels: list[tuple[int, int]]
    model: FillModel
    fill_limit: int | None
    seed: int


def synthetic_path(seed: int, count: int) -> list[tuple[int, int, int, int, int]]:
    """A path from the seeded intraday generator (in ticks), starting at 100.00."""
    bars = SyntheticIntraday(InstrumentId("AAPL"), seed).bars(count)
    return [(b.open // TICK, b.high // TICK, b.low // TICK, b.close // TICK, b.volume // 10)
            for b in bars]


@st.composite
def bar_paths(draw: st.DrawFn) -> list[tuple[int, int, int, int, int]]:
    if draw(st.booleans()):
        return synthetic_path(draw(st.integers(0, 10_000)), draw(st.integers(3, 25)))
    close = 10_000  # 100.00 in ticks
    bars = []
    for _ in range(draw(st.integers(3, 25))):
        gap = draw(st.one_of(st.integers(-20, 20), st.integers(-300, 300)))
        o = max(close + gap, 50)
        c = max(o + draw(st.integers(-150, 150)), 50)
        h = max(o, c) + draw(st.integers(0, 120))
        lo = max(min(o, c) - draw(st.integers(0, 120)), 1)
        if draw(st.integers(0, 4)) == 0:  # now and then a tick instead of a bar
            bars.append((c, c, c, c, TICK_STEP))
        else:
            bars.append((o, h, lo, c, draw(st.integers(0, 3000))))
        close = c
    return bars


@st.composite
def single_orders(draw: st.DrawFn, n_bars: int) -> tuple[int, dict]:
    kind = draw(st.sampled_from(list(OrderType)))
    fields: dict = {
        "side": draw(st.sampled_from([Side.BUY, Side.SELL])),
        "quantity": draw(st.integers(1, 300)),
        "order_type": kind,
        "time_in_force": draw(st.sampled_from([TimeInForce.GTC, TimeInForce.DAY,
                                               TimeInForce.IOC])),
    }
    price = st.integers(9_000, 11_000)
    if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        fields["limit_price"] = draw(price)
    if kind in (OrderType.STOP, OrderType.STOP_LIMIT):
        fields["stop_price"] = draw(price)
    if kind is OrderType.TRAILING_STOP:
        if draw(st.booleans()):
            fields["trail_amount"] = draw(st.integers(5, 300))
        else:
            fields["trail_percent"] = draw(st.integers(1, 9))
        if draw(st.booleans()):
            fields["trail_limit_offset"] = draw(st.integers(0, 100))
    return draw(st.integers(0, n_bars - 1)), fields


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    bars = draw(bar_paths())
    n = len(bars)
    singles = draw(st.lists(single_orders(n), max_size=6))
    brackets = draw(
        st.lists(
            st.tuples(
                st.integers(0, n - 1), st.integers(9_500, 10_500), st.integers(10, 400),
                st.integers(10, 400), st.booleans(),
            ),
            max_size=2,
        )
    )
    oca = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.lists(st.integers(9_000, 11_000), min_size=2,
                                                        max_size=3)),
            max_size=2,
        )
    )
    cancels = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 20)), max_size=3))
    model = FillModel(
        latency=draw(st.sampled_from([timedelta(0), timedelta(seconds=20),
                                      timedelta(seconds=75)])),
        latency_jitter=draw(st.sampled_from([timedelta(0), timedelta(seconds=40)])),
        slippage_ticks=draw(st.integers(0, 3)),
        slippage_jitter_ticks=draw(st.integers(0, 2)),
        participation=draw(st.sampled_from([None, Decimal("0.01"), Decimal("0.2"), Decimal(1)])),
    )
    fill_limit = draw(st.one_of(st.none(), st.integers(1, 60)))
    return Plan(bars, singles, brackets, oca, cancels, model, fill_limit, draw(st.integers(0, 9)))


def price(ticks: int) -> Decimal:
    return Decimal(ticks) / 100


def run(plan: Plan) -> tuple[Scenario, dict[ClientOrderId, OrderRequest], dict, list]:
    """Play the plan; returns the scenario, the requests, the step index of each request's
    submission, and each event with the index of the price step it happened at (an order that
    executes on arrival, against a live tick, belongs to the step before its submission)."""
    sim = Scenario(fill_model=plan.model, seed=plan.seed)
    if plan.fill_limit is not None:
        sim.engine.fill_limit = Decimal(plan.fill_limit)
    requests: dict[ClientOrderId, OrderRequest] = {}
    sent_at: dict[ClientOrderId, int] = {}
    stepped: list[tuple[int, object]] = []
    for index, (o, h, lo, c, volume) in enumerate(plan.bars):
        before = len(sim.events)
        for at, fields in plan.singles:
            if at == index:
                values = {k: (price(v) if k.endswith(("_price", "_amount", "_offset")) else v)
                          for k, v in fields.items()}
                if "trail_percent" in values:
                    values["trail_percent"] = Decimal(values["trail_percent"])
                request = sim.request(**values)
                requests[request.client_order_id] = request
                sent_at[request.client_order_id] = index
                sim.submit(request)
        for n, (at, entry, up, down, trailing) in enumerate(plan.brackets):
            if at == index:
                parent = sim.request(Side.BUY, 100, OrderType.LIMIT, limit_price=price(entry))
                group = f"B{n}"
                tp = sim.request(Side.SELL, 100, OrderType.LIMIT, limit_price=price(entry + up),
                                 parent_id=parent.client_order_id, oca_group=group)
                stop_fields = ({"order_type": OrderType.TRAILING_STOP,
                                "trail_amount": price(down)} if trailing else
                               {"order_type": OrderType.STOP, "stop_price": price(entry - down)})
                sl = sim.request(Side.SELL, 100, parent_id=parent.client_order_id,
                                 oca_group=group, **stop_fields)
                for r in (parent, tp, sl):
                    requests[r.client_order_id] = r
                    sent_at[r.client_order_id] = index
                sim.submit_list(parent, tp, sl)
        for n, (at, limits) in enumerate(plan.oca):
            if at == index:
                members = [sim.request(Side.BUY, 50, OrderType.LIMIT, limit_price=price(p),
                                       oca_group=f"G{n}") for p in limits]
                for r in members:
                    requests[r.client_order_id] = r
                    sent_at[r.client_order_id] = index
                sim.submit_list(*members)
        for at, which in plan.cancels:
            if at == index and requests:
                target = sorted(requests)[which % len(requests)]
                with contextlib.suppress(BrokerRejected):
                    sim.events.extend(sim.engine.cancel(target))
        stepped.extend((index - 1, e) for e in sim.events[before:])
        check_reserved_funds(sim)
        if volume == TICK_STEP:
            caused = sim.tick(price(c))
        else:
            caused = sim.bar(price(o), price(h), price(lo), price(c), volume=volume)
        stepped.extend((index, e) for e in caused)
        check_reserved_funds(sim)
    return sim, requests, sent_at, stepped


def check_reserved_funds(sim: Scenario) -> None:
    """The funds the tracker says the working orders hold equal a walk of those orders."""
    engine = sim.engine
    last = engine._last  # the last trades, as the funds check reads them
    walked = reserved_funds(engine.book.open.values(), engine.ledger, last)
    assert walked == engine.book.funds.reserved(engine.ledger, last)


@settings(max_examples=250, deadline=None)
@given(plans())
def test_sim_engine_invariants_hold_for_any_path_and_orders(plan: Plan) -> None:
    sim, requests, sent_at, stepped = run(plan)
    fills_by_order: dict[ClientOrderId, list[tuple[int, ExecutionFill]]] = defaultdict(list)
    for index, event in stepped:
        if isinstance(event, ExecutionFill):
            fills_by_order[event.client_order_id].append((index, event))
            _o, h, lo, _c, volume = plan.bars[index]
            if volume != TICK_STEP:  # (tick fills may slip past the tick: no range to clamp to)
                assert price(lo) <= event.price <= price(h), "a bar fill lies inside its bar"

    # Limits are never crossed; stops never fill before the path reached them.
    for cid, fills in fills_by_order.items():
        request = requests[cid]
        buy = request.side is Side.BUY
        if request.limit_price is not None:
            for _, fill in fills:
                assert (fill.price <= request.limit_price) if buy else (
                    fill.price >= request.limit_price)
        if request.stop_price is not None and request.order_type is not OrderType.TRAILING_STOP:
            first = fills[0][0]
            start = sent_at[cid]
            if start > 0 and plan.bars[start - 1][4] == TICK_STEP:
                start -= 1  # it met the live tick on arrival
            window = plan.bars[start: first + 1]
            reached = (max(b[1] for b in window) >= request.stop_price * 100 if buy
                       else min(b[2] for b in window) <= request.stop_price * 100)
            assert reached, f"{cid} filled before its stop {request.stop_price} was reached"

    # Quantities: never more than ordered, children never more than their parent filled.
    filled = {cid: sum(f.quantity for _, f in fills) for cid, fills in fills_by_order.items()}
    for cid, qty in filled.items():
        assert qty <= requests[cid].quantity
        parent = requests[cid].parent_id
        if parent is not None:
            assert qty <= filled.get(parent, Decimal(0))

    # OCA (cancel type, bracket children included): at most one member fills.
    groups: dict[str, list[ClientOrderId]] = defaultdict(list)
    for cid, request in requests.items():
        if request.oca_group is not None:
            groups[request.oca_group].append(cid)
    for members in groups.values():
        assert sum(1 for cid in members if filled.get(cid)) <= 1

    # The events are a valid lifecycle for each domain order.
    orders = {cid: Order.from_request(r) for cid, r in requests.items()}
    owner = {}
    for cid, order in orders.items():
        order.apply(OrderLifecycleEvent(cid, K.SUBMITTED, sim.engine.now, sim.engine.now))
    for event in sim.events:
        if isinstance(event, CommissionReport):
            orders[owner[event.execution_id]].apply(event)
            continue
        if isinstance(event, ExecutionFill):
            owner[event.execution_id] = event.client_order_id
        orders[event.client_order_id].apply(event)
    for order in orders.values():
        assert order.filled_qty + order.leaves_qty == order.quantity
        assert order.filled_qty == filled.get(order.client_order_id, Decimal(0))

    # The account reconciles with the fills.
    all_fills = [f for fills in fills_by_order.values() for _, f in fills]
    commissions = sum(e.commission for e in sim.events if isinstance(e, CommissionReport))
    spent = sum(f.signed_quantity * f.price for f in all_fills)
    assert Decimal(10_000_000) - spent - commissions == sim.engine.account_summary().cash
    net = sum((f.signed_quantity for f in all_fills), Decimal(0))
    positions = {p.instrument_id: p.quantity for p in sim.engine.positions()}
    assert net == positions.get(sim.stock.id, Decimal(0))


@settings(max_examples=60, deadline=None)
@given(plans())
def test_sim_engine_is_deterministic_byte_for_byte(plan: Plan) -> None:
    first, *_ = run(plan)
    second, *_ = run(plan)
    assert repr(first.events).encode() == repr(second.events).encode()


def test_bar_prices_are_exact_in_price_units() -> None:
    assert Decimal("100.25") == from_units(1_002_500)
