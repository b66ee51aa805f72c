"""Issue #9 item 1: no order reaches a broker without the risk gate's durable approval.

- No object a documented entry point returns exposes a `Broker`: `build_application` (for each
  broker kind it wires), the `Application` handle and everything its methods return, the
  `OrderGate`, a `SignalService`, and what the CLI hands its commands. The walk follows public
  attributes and properties, containers, bound methods (to their object) and, should it meet a
  dependency-injector container, its providers (calling them, as a user would).
- A hand-built `ApprovedOrder` (the review's 3,000 MSFT against `max_order_quantity = 1000`) is
  refused by the fake, sim and IBKR adapters with `UnapprovedOrder`, nothing is placed, and the
  running gate audits the attempt (`broker.unapproved_order`) in a real SQLite file.
- An approval the gate issued is good for its one broker call: captured and sent again, it is
  refused the same way.
- Only the testing kit mints approvals without an audited decision, and only the gate issues
  them otherwise (checked over the source tree).
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from _gate_rig import HARNESSES, GateOverHarness  # shared safety rig
from dependency_injector import containers, providers

from ordergate.adapters.cli.ops_cmds import with_gate
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.fakes.signal_source import InMemorySignalSource
from ordergate.adapters.sqlite import SqliteAuditLog
from ordergate.adapters.system_clock import SystemClock
from ordergate.application.bootstrap import build_application
from ordergate.application.config import load_settings
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.results import OrderResultStatus
from ordergate.application.service import SignalService
from ordergate.domain.errors import UnapprovedOrder
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import OrderType
from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.risk.decision import ApprovedOrder, RiskDecision
from ordergate.domain.risk.limits import RiskLimits
from ordergate.domain.values import ClientOrderId, Side
from ordergate.ports.broker import Broker

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)
MSFT = Stock("MSFT")
_SCALARS = (str, bytes, int, float, bool, Decimal, datetime, type(None))


# -- the walk ----------------------------------------------------------------------------------
def reachable_brokers(*roots: object) -> list[str]:
    """Every path from `roots` through public names to a `Broker` or to an object (other than
    an `OrderGate`) with a public `submit`/`submit_list`."""
    found: list[str] = []
    seen: set[int] = set()
    frontier: list[tuple[str, object]] = [(f"root{n}", root) for n, root in enumerate(roots)]
    while frontier:
        path, obj = frontier.pop()
        if isinstance(obj, _SCALARS) or id(obj) in seen or inspect.ismodule(obj):
            continue
        seen.add(id(obj))
        if isinstance(obj, Broker):
            found.append(f"{path}: a Broker ({type(obj).__name__})")
            continue
        if not isinstance(obj, OrderGate | type) and any(
            callable(getattr(obj, name, None)) for name in ("submit", "submit_list")
        ):
            found.append(f"{path}: {type(obj).__name__} has a public submit")
        frontier.extend(_children(path, obj))
    return found


def _children(path: str, obj: object) -> list[tuple[str, object]]:
    if isinstance(obj, dict):
        return [(f"{path}[{k!r}]", v) for k, v in obj.items()]
    if isinstance(obj, list | tuple | set | frozenset):
        return [(f"{path}[{n}]", v) for n, v in enumerate(obj)]
    if isinstance(obj, containers.Container):
        return [(f"{path}.{name}", p) for name, p in obj.providers.items()]
    if isinstance(obj, providers.Provider):
        return [(f"{path}()", _resolve(obj))]
    if inspect.ismethod(obj):
        return [(f"{path}.__self__", obj.__self__)]
    if inspect.isroutine(obj) or isinstance(obj, type):
        return []
    children = []
    for name in dir(obj):
        if name.startswith("_"):
            continue
        try:
            value = getattr(obj, name)
        except Exception:  # a property that needs state it does not have: nothing exposed
            continue
        if inspect.ismethod(value) and value.__self__ is obj:
            continue  # the object's own methods: their results are walked where they matter
        children.append((f"{path}.{name}", value))
    return children


def _resolve(provider: providers.Provider[Any]) -> object:
    """What a user gets by calling the provider (a Resource's coroutine is not awaited)."""
    if isinstance(provider, providers.Resource | providers.Dependency | providers.Configuration):
        return None
    try:
        value = provider()
    except Exception:
        return None
    if inspect.isawaitable(value):
        if inspect.iscoroutine(value):
            value.close()
        return None
    return value


def settings_for(kind: str) -> Any:
    return load_settings(
        None,
        environ={},
        overrides={
            "broker.kind": kind,
            "market_data.kind": kind,
            "audit.kind": "memory",
            "publisher.kind": "memory",
            "session.bars": 5,
        },
    )


@pytest.mark.parametrize("kind", ["fake", "sim"])
async def test_nothing_build_application_returns_leads_to_a_broker(kind: str) -> None:
    built = await build_application(settings_for(kind))
    assert reachable_brokers(built) == []
    app = built
    async with app:
        returned: list[object] = [app, app.gate, app.session_barrier(), app.session_strategies()]
        if kind == "sim":
            returned.append(app.session_pacer())
        service = SignalService(app.gate, InMemorySignalSource(FakeClock(T0)), SystemClock())
        assert reachable_brokers(*returned, service) == []


async def test_nothing_the_cli_hands_a_command_leads_to_a_broker() -> None:
    handed: list[object] = []

    async def action(gate: OrderGate) -> None:
        handed.append(gate)

    await with_gate(settings_for("fake"), action)
    assert len(handed) == 1
    assert reachable_brokers(*handed) == []


def test_the_gate_built_from_ports_keeps_its_broker_private() -> None:
    clock = FakeClock(T0)
    gate = OrderGate(
        Ports(
            FakeBroker(clock, [MSFT]),
            FakeMarketData(clock, [MSFT]),
            _memory(),
            clock,
            InMemoryPublisher(),
        ),
        GateOptions(),
    )
    assert reachable_brokers(gate) == []


def _memory() -> Any:
    from ordergate.adapters.fakes.audit_log import InMemoryAuditLog

    return InMemoryAuditLog()


# -- adapters refuse what the gate did not issue ----------------------------------------------
@pytest_asyncio.fixture(params=sorted(HARNESSES))
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[GateOverHarness]:
    harness = await HARNESSES[request.param]()
    path = tmp_path / "audit.db"
    try:
        limits = RiskLimits(max_order_quantity=Decimal(1000))
        yield GateOverHarness(harness, await SqliteAuditLog.open(path), path, limits)
    finally:
        await harness.close()


def hand_built(request: OrderRequest) -> ApprovedOrder:
    return ApprovedOrder(request, RiskDecision(request.client_order_id, True, datetime.now(UTC)))


async def test_a_hand_built_approval_is_refused_by_the_adapter_and_audited(
    rig: GateOverHarness,
) -> None:
    h = rig.harness
    await rig.price("100")
    request = OrderRequest(
        ClientOrderId("AROUND-THE-GATE"), h.stock, Side.BUY, Decimal(3000), OrderType.MARKET
    )
    async with rig.gate as gate:
        with pytest.raises(UnapprovedOrder, match="AROUND-THE-GATE"):
            await rig.broker.submit(hand_built(request), timeout=5)
        await h.settle()
        await gate.settle()
        assert await gate.broker_open_orders() == []
        assert await gate.broker_positions() == []
    records = await rig.recorded()
    refused = [p for k, p in records if k == "broker.unapproved_order"]
    assert [p["client_order_id"] for p in refused] == ["AROUND-THE-GATE"]
    assert [k for k, _ in records if k.startswith(("broker.submit", "risk.decision"))] == []


async def test_an_approval_the_gate_issued_cannot_be_sent_again(rig: GateOverHarness) -> None:
    h = rig.harness
    await rig.price("100")
    sent: list[ApprovedOrder] = []
    original = rig.broker.submit

    async def witness(order: ApprovedOrder, *, timeout: float) -> Any:
        sent.append(order)  # what a careless adapter or a debugger might keep
        return await original(order, timeout=timeout)

    rig.broker.submit = witness  # type: ignore[method-assign]
    request = OrderRequest(
        ClientOrderId("ONCE"),
        h.stock,
        Side.BUY,
        Decimal(5),
        OrderType.LIMIT,
        limit_price=Decimal(90),
    )
    async with rig.gate as gate:
        [_] = [await gate.submit_request(request)]
        assert gate.order_status(request.client_order_id).status is OrderResultStatus.SUBMITTED
        [captured] = sent
        with pytest.raises(UnapprovedOrder, match="ONCE"):
            await original(captured, timeout=5)
        await h.settle()
        await gate.settle()
        assert [v.client_order_id for v in await gate.broker_open_orders()] == [
            request.client_order_id
        ]
    records = await rig.recorded()
    assert [k for k, _ in records].count("broker.unapproved_order") == 1
    assert [k for k, _ in records].count("broker.submit") == 1


# -- who may mint -----------------------------------------------------------------------------
def _sources(*folders: str) -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text()
        for folder in folders
        for path in (ROOT / folder).rglob("*.py")
    }


def test_only_the_testing_kit_mints_approvals_without_an_audited_decision() -> None:
    product = _sources("domain", "ports", "application", "adapters")
    users = {
        name
        for name, text in product.items()
        if re.search(r"\b(issue_without_audit_for_tests|mint_approval_for_tests)\b", text)
    }
    assert users == {
        "ports/approvals.py",
        "application/testing/approvals.py",
        "application/testing/contracts/_broker_session.py",
    }


def test_only_the_execution_gate_issues_approvals() -> None:
    product = _sources("domain", "ports", "application", "adapters")
    issuers = {name for name, text in product.items() if re.search(r"APPROVALS\.issue\(", text)}
    assert issuers == {"application/execution.py"}


def test_the_walk_finds_a_broker_where_there_is_one() -> None:
    """The walk is not blind: a container, an exposed attribute, a bound method all count."""
    clock = FakeClock(T0)
    broker = FakeBroker(clock, [MSFT])

    class Holder:
        def __init__(self) -> None:
            self.send = broker.submit

    container = containers.DynamicContainer()
    container.broker = providers.Object(broker)
    assert reachable_brokers(container) != []
    assert reachable_brokers(Holder()) != []
    assert reachable_brokers({"x": [broker]}) != []
    assert asyncio.iscoroutinefunction(broker.submit)
