"""Fault campaign: the IBKR adapter trading against the TWS gateway emulator while the emulator
drops the socket, restarts (with fills happening while nobody is connected), duplicates and
reorders execution reports, sends commissions before their executions, rejects orders and rolls
nextValidId back — then zero fills lost, zero published twice, zero position divergence between
the events, the adapter's `positions()` and the emulator, and every fill with its commission.

Every run is seeded and replayable (the seed fixes the sequence of actions). The default run is
small; `ORDERGATE_IBKR_CAMPAIGN=SEEDSxSTEPS` (e.g. `20x300`) runs a long one and prints a table
(see docs/ibkr.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

import attrs
import pytest

from ordergate.adapters.ibkr.testing import HARNESS_ACCOUNT, IbkrBrokerHarness
from ordergate.application.testing.approvals import mint_approval_for_tests
from ordergate.domain.errors import BrokerError
from ordergate.domain.events import ConnectionState, ConnectionStateChanged, FillRecovered
from ordergate.domain.orders import (
    CommissionReport,
    ExecutionFill,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from ordergate.domain.risk.decision import ApprovedOrder
from ordergate.domain.values import ClientOrderId, InstrumentId, Side

_SPEC = os.environ.get("ORDERGATE_IBKR_CAMPAIGN", "")
SEEDS, STEPS = (int(x) for x in _SPEC.split("x")) if _SPEC else (2, 40)
LONG = bool(_SPEC)

pytestmark = pytest.mark.timeout(60 + SEEDS * STEPS)

ACTIONS = {  # name: weight
    "market": 6, "limit": 5, "price": 8, "cancel": 2, "drop": 2, "restart": 2,
    "submit_then_drop": 2, "duplicate": 2, "commission_first": 2, "reject": 1,
    "rollback": 1, "stall": 1,
}


@attrs.frozen
class CampaignResult:
    """What one seeded run found."""

    seed: int
    steps: int
    orders: int
    executions: int
    lost: int
    duplicated: int
    unknown: int
    divergent_positions: int
    missing_commissions: int
    clobbered_orders: int
    reconnects: int
    faults: int
    seconds: float

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.unknown or self.divergent_positions
                    or self.missing_commissions or self.clobbered_orders)


class Ledger:
    """An independent consumer of the adapter's events: counts every published execution."""

    def __init__(self) -> None:
        self.published: Counter[str] = Counter()
        self.fills: dict[str, ExecutionFill] = {}
        self.commissions: dict[str, Decimal] = {}
        self.reconnects = 0

    def apply(self, event: Any) -> None:
        fill = event.fill if isinstance(event, FillRecovered) else event
        if isinstance(fill, ExecutionFill):
            key = str(fill.execution_id)
            self.published[key] += 1
            self.fills.setdefault(key, fill)
            if fill.commission is not None:
                self.commissions[key] = fill.commission
        elif isinstance(event, CommissionReport):
            self.commissions[str(event.execution_id)] = event.commission
        elif isinstance(event, ConnectionStateChanged) and event.state is (
                ConnectionState.RECONNECTING):
            self.reconnects += 1

    def positions(self) -> dict[InstrumentId, Decimal]:
        out: dict[InstrumentId, Decimal] = defaultdict(Decimal)
        for fill in self.fills.values():
            out[fill.instrument_id] += fill.signed_quantity
        return {k: v for k, v in out.items() if v}


class Campaign:
    """One seeded run (see the module docstring)."""

    def __init__(self, seed: int, steps: int) -> None:
        self.seed = seed
        self.steps = steps
        self.rng = random.Random(seed)
        self.ledger = Ledger()
        self.sent: dict[ClientOrderId, OrderRequest] = {}
        self.acked: set[ClientOrderId] = set()
        self.faults = 0
        self.price = Decimal(190)

    async def run(self) -> CampaignResult:
        started = time.perf_counter()
        h = await IbkrBrokerHarness.create()
        stream = h.ibkr.events()

        async def consume() -> None:
            async for event in stream:
                self.ledger.apply(event)

        consumer = asyncio.ensure_future(consume())
        try:
            await h.set_price(h.stock, self.price)
            names, weights = zip(*ACTIONS.items(), strict=True)
            for step in range(self.steps):
                action = self.rng.choices(names, weights)[0]
                await getattr(self, f"_{action}")(h, step)
            await self._quiesce(h)
            return await self._verdict(h, time.perf_counter() - started)
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
            await h.close()

    # -- actions ---------------------------------------------------------------------------------
    def _request(self, h: IbkrBrokerHarness, step: int, kind: OrderType) -> ApprovedOrder:
        side = self.rng.choice((Side.BUY, Side.SELL))
        offset = Decimal(self.rng.randint(-30, 30)) / 100
        request = OrderRequest(
            ClientOrderId(f"FC{self.seed}-{step}"), h.stock, side,
            Decimal(self.rng.randint(1, 9)), kind,
            limit_price=self.price + offset if kind is OrderType.LIMIT else None,
            time_in_force=TimeInForce.GTC,
        )
        self.sent[request.client_order_id] = request
        return mint_approval_for_tests(request)

    async def _submit(self, h: IbkrBrokerHarness, order: ApprovedOrder) -> None:
        with contextlib.suppress(BrokerError):
            await h.ibkr.submit(order, timeout=3.0)
            self.acked.add(order.request.client_order_id)

    async def _market(self, h: IbkrBrokerHarness, step: int) -> None:
        await self._submit(h, self._request(h, step, OrderType.MARKET))

    async def _limit(self, h: IbkrBrokerHarness, step: int) -> None:
        await self._submit(h, self._request(h, step, OrderType.LIMIT))

    async def _price(self, h: IbkrBrokerHarness, step: int) -> None:
        move = Decimal(self.rng.randint(-40, 40)) / 100
        self.price = max(Decimal(100), self.price + move)
        await h.set_price(h.stock, self.price)

    async def _cancel(self, h: IbkrBrokerHarness, step: int) -> None:
        working = sorted(c for c, r in h.ibkr.orders.records.items()
                         if r.mirror.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED))
        if working:
            with contextlib.suppress(BrokerError):
                await h.ibkr.cancel(self.rng.choice(working), timeout=3.0)

    async def _drop(self, h: IbkrBrokerHarness, step: int) -> None:
        self.faults += 1
        await h.server.drop_connection()

    async def _restart(self, h: IbkrBrokerHarness, step: int) -> None:
        self.faults += 1
        downtime = self.rng.uniform(0.05, 0.4)
        task = asyncio.ensure_future(h.server.restart(downtime))
        await asyncio.sleep(downtime / 2)
        await self._price(h, step)  # working orders may fill while nobody is connected
        await task

    async def _submit_then_drop(self, h: IbkrBrokerHarness, step: int) -> None:
        self.faults += 1
        kind = self.rng.choice((OrderType.MARKET, OrderType.LIMIT))
        pending = asyncio.ensure_future(self._submit(h, self._request(h, step, kind)))
        await asyncio.sleep(self.rng.choice((0, 0, 0.001, 0.005)))
        await h.server.drop_connection()
        await pending

    async def _duplicate(self, h: IbkrBrokerHarness, step: int) -> None:
        self.faults += 1
        h.server.duplicate_next_execution(self.rng.randint(1, 3))

    async def _commission_first(self, h: IbkrBrokerHarness, step: int) -> None:
        self.faults += 1
        h.server.commission_before_execution(self.rng.randint(1, 3))

    async def _reject(self, h: IbkrBrokerHarness, step: int) -> None:
        self.faults += 1
        h.server.reject_next_order("campaign rejection")
        await self._market(h, step)

    async def _rollback(self, h: IbkrBrokerHarness, step: int) -> None:
        self.faults += 1
        h.server.roll_back_next_valid_id(1)
        await h.server.drop_connection()

    async def _stall(self, h: IbkrBrokerHarness, step: int) -> None:
        self.faults += 1
        await h.stall(self.rng.uniform(0.05, 0.3))

    # -- verdict ---------------------------------------------------------------------------------
    async def _quiesce(self, h: IbkrBrokerHarness) -> None:
        h.server.delay_responses(0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while loop.time() < deadline:
            if h.ibkr.is_connected() and not h.ibkr.orders.awaiting_commission:
                with contextlib.suppress(BrokerError):
                    await h.ibkr.sync(timeout=2.0)
                    await asyncio.sleep(0.05)
                    if not h.ibkr.orders.awaiting_commission:
                        return
            await asyncio.sleep(0.05)

    async def _verdict(self, h: IbkrBrokerHarness, seconds: float) -> CampaignResult:
        truth = {e.exec_id: e for e in h.engine.executions() if e.key.client_id == 1}
        published = self.ledger.published
        engine_positions = {
            p.contract.instrument.id: p.quantity for p in h.engine.positions(HARNESS_ACCOUNT)
            if p.quantity}
        adapter_positions = {p.instrument_id: p.quantity
                             for p in await h.ibkr.positions(timeout=5.0)}
        ledger_positions = self.ledger.positions()
        keys = set(engine_positions) | set(adapter_positions) | set(ledger_positions)
        divergent = sum(
            1 for k in keys
            if len({engine_positions.get(k, 0), adapter_positions.get(k, 0),
                    ledger_positions.get(k, 0)}) > 1
        )
        return CampaignResult(
            seed=self.seed,
            steps=self.steps,
            orders=len(self.sent),
            executions=len(truth),
            lost=len(set(truth) - set(published)),
            duplicated=sum(c - 1 for c in published.values() if c > 1),
            unknown=len(set(published) - set(truth)),
            divergent_positions=divergent,
            missing_commissions=sum(1 for e in published if e not in self.ledger.commissions),
            clobbered_orders=self._clobbered(h),
            reconnects=self.ledger.reconnects,
            faults=self.faults,
            seconds=seconds,
        )

    def _clobbered(self, h: IbkrBrokerHarness) -> int:
        """Acknowledged orders whose order at the emulator is not the one we sent (an order id
        reused after a nextValidId rollback would turn a new order into a modification)."""
        at_engine = {o.spec.order_ref: o.spec
                     for o in [*h.engine.open_orders(), *h.engine.completed_orders()]}
        bad = 0
        for cid in self.acked:
            request, spec = self.sent[cid], at_engine.get(f"CT:{cid}")
            if spec is None or (spec.quantity, spec.side) != (request.quantity, request.side):
                bad += 1
        return bad


def table(results: list[CampaignResult]) -> str:
    """The campaign as a fixed-width table, one row per seed and a total."""
    cols = ("seed", "steps", "orders", "executions", "lost", "duplicated", "unknown",
            "divergent_positions", "missing_commissions", "clobbered_orders", "reconnects",
            "faults", "seconds")
    heads = ("seed", "steps", "orders", "execs", "lost", "dup", "unknown", "pos-div",
             "no-comm", "clobbered", "reconn", "faults", "secs")
    rows = [[f"{getattr(r, c):.1f}" if c == "seconds" else str(getattr(r, c)) for c in cols]
            for r in results]
    totals = [str(sum(getattr(r, c) for r in results)) if c != "seed" else "total"
              for c in cols[:-1]] + [f"{sum(r.seconds for r in results):.1f}"]
    widths = [max(len(x) for x in col) for col in zip(heads, *rows, totals, strict=True)]
    line = "  ".join

    def fmt(cells: list[str] | tuple[str, ...]) -> str:
        return line(c.rjust(w) for c, w in zip(cells, widths, strict=True))

    return "\n".join([fmt(heads), *map(fmt, rows), fmt(totals)])


async def test_fault_campaign_loses_duplicates_and_diverges_nothing(
    record_property: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    results = [await Campaign(seed, STEPS).run() for seed in range(1, SEEDS + 1)]
    report = table(results)
    record_property("campaign", [attrs.asdict(r) for r in results])
    if LONG:
        with capsys.disabled():
            print(f"\nIBKR fault campaign ({SEEDS} seeds x {STEPS} steps)\n{report}")
    else:
        print(report)
    dirty = [r.seed for r in results if not r.clean]
    assert [] == dirty, f"replay with ORDERGATE_IBKR_CAMPAIGN={SEEDS}x{STEPS}:\n{report}"
    assert all(r.executions > 0 and r.reconnects > 0 for r in results)
