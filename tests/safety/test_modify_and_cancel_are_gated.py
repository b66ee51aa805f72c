"""Issue #9 item 2: modify and cancel go through the gate like submit.

On the fake, sim and IBKR adapters (IBKR with the real `ib_async` client against the gateway
emulator), with a running gate on a real SQLite audit file:
- a modify right after submit (the broker has not acknowledged yet) is decided, sent and
  confirmed; a trailing stop's amount and percent can be modified, and the broker works with
  the new trail;
- a modify of a finished order answers with a typed result and sends nothing;
- the decision is durable before the broker call (the broker's witness reads it from the file
  when the call arrives), and a denial is audited too;
- the quantity, price collar, price increment and notional rules apply to the new terms;
- a cancel is decided and recorded before the broker is asked, and answered for any state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from _gate_rig import HARNESSES, GateOverHarness, recorded  # shared safety rig

from ordergate.adapters.sqlite import SqliteAuditLog
from ordergate.application.results import OrderResultStatus as R
from ordergate.domain.errors import InvalidValue
from ordergate.domain.orders import OrderStatus, OrderType, TimeInForce
from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.risk.decision import RiskCode
from ordergate.domain.risk.limits import RiskLimits
from ordergate.domain.values import ClientOrderId, Side

LIMITS = RiskLimits(
    max_order_quantity=Decimal(100),
    max_order_notional=Decimal(5_000),
    max_position=Decimal(40),
    max_open_orders=1,
    price_collar=Decimal("0.05"),
)


@pytest_asyncio.fixture(params=sorted(HARNESSES))
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[GateOverHarness]:
    harness = await HARNESSES[request.param]()
    path = tmp_path / "audit.db"
    try:
        yield GateOverHarness(harness, await SqliteAuditLog.open(path), path, LIMITS)
    finally:
        await harness.close()


def limit_buy(rig: GateOverHarness, cid: str, qty: int = 10, price: str = "99") -> OrderRequest:
    return OrderRequest(
        ClientOrderId(cid),
        rig.harness.stock,
        Side.BUY,
        Decimal(qty),
        OrderType.LIMIT,
        limit_price=Decimal(price),
        time_in_force=TimeInForce.GTC,
    )


def witness(rig: GateOverHarness, method: str) -> list[list[tuple[str, dict[str, Any]]]]:
    """Wrap the broker's `method` (the real adapter's): each call first reads the audit file
    through a fresh connection, so the test sees what was committed when the broker was asked."""
    seen: list[list[tuple[str, dict[str, Any]]]] = []
    original = getattr(rig.broker, method)

    async def call(*args: Any, **kwargs: Any) -> Any:
        seen.append(await recorded(rig.path))
        return await original(*args, **kwargs)

    setattr(rig.broker, method, call)
    return seen


def kinds_for(records: list[tuple[str, dict[str, Any]]], action: str) -> list[str]:
    return [
        kind
        for kind, payload in records
        if (kind == "risk.decision" and payload.get("action") == action)
        or kind in (f"broker.{action}", f"broker.{action}_result")
    ]


async def test_a_modify_right_after_submit_is_decided_durably_then_confirmed(
    rig: GateOverHarness,
) -> None:
    await rig.price("100")
    seen = witness(rig, "modify")
    request = limit_buy(rig, "M1")
    async with rig.gate as gate:
        assert (await gate.submit_request(request)).ok
        result = await gate.modify(request.client_order_id, limit_price=Decimal("98.50"))
        assert result.ok, result.reason
        await rig.settle()
        order = gate.portfolio.order(request.client_order_id)
        assert order.limit_price == Decimal("98.50")
        assert order.status is OrderStatus.ACCEPTED
        [view] = await gate.broker_open_orders()
        assert view.limit_price == Decimal("98.50")
    [at_call] = seen
    assert kinds_for(at_call, "modify") == ["risk.decision", "broker.modify"]
    [decision] = [p for k, p in at_call if k == "risk.decision" and p.get("action") == "modify"]
    assert decision["approved"] is True
    assert decision["change"] == {"limit_price": "98.50"}
    assert kinds_for(await rig.recorded(), "modify") == [
        "risk.decision",
        "broker.modify",
        "broker.modify_result",
    ]


async def test_a_modify_of_a_finished_order_is_answered_and_sends_nothing(
    rig: GateOverHarness,
) -> None:
    await rig.price("100")
    seen = witness(rig, "modify")
    request = limit_buy(rig, "M2", price="100")
    async with rig.gate as gate:
        await gate.submit_request(request)
        await rig.settle()
        assert gate.portfolio.order(request.client_order_id).status is OrderStatus.FILLED
        result = await gate.modify(request.client_order_id, quantity=Decimal(20))
        assert result.status is R.UNCHANGED
        assert "FILLED" in result.reason
        cancel = await gate.cancel(request.client_order_id)
        assert cancel.status is R.FILLED
    assert seen == []
    assert kinds_for(await rig.recorded(), "modify") == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"quantity": Decimal(150)}, RiskCode.MAX_ORDER_QUANTITY),
        ({"limit_price": Decimal(120)}, RiskCode.PRICE_COLLAR),
        ({"limit_price": Decimal("99.005")}, RiskCode.INVALID_PRICE_INCREMENT),
        ({"quantity": Decimal(60)}, RiskCode.MAX_ORDER_NOTIONAL),
    ],
    ids=["quantity", "collar", "increment", "notional"],
)
async def test_a_change_the_rules_forbid_is_denied_audited_and_never_sent(
    rig: GateOverHarness, change: dict[str, Decimal], code: RiskCode
) -> None:
    await rig.price("100")
    seen = witness(rig, "modify")
    request = limit_buy(rig, "M3")
    async with rig.gate as gate:
        await gate.submit_request(request)
        await rig.settle()
        result = await gate.modify(request.client_order_id, **change)  # type: ignore[arg-type]
        assert result.status is R.DENIED
        assert result.decision is not None
        assert code in result.decision.codes
        await rig.settle()
        [view] = await gate.broker_open_orders()
        assert (view.quantity, view.limit_price) == (Decimal(10), Decimal(99))
        assert gate.portfolio.order(request.client_order_id).status is OrderStatus.ACCEPTED
    assert seen == []
    records = await rig.recorded()
    assert kinds_for(records, "modify") == ["risk.decision"]
    [decision] = [p for k, p in records if k == "risk.decision" and p.get("action") == "modify"]
    assert decision["approved"] is False
    assert code.value in [d["code"] for d in decision["denials"]]


async def test_the_order_being_changed_is_not_counted_twice(rig: GateOverHarness) -> None:
    """40 working against `max_position = 40` and `max_open_orders = 1`: a new price for the
    same order passes (the book leaves the order out), one more share does not."""
    await rig.price("100")
    request = limit_buy(rig, "M5", qty=40, price="98")
    async with rig.gate as gate:
        await gate.submit_request(request)
        await rig.settle()
        moved = await gate.modify(request.client_order_id, limit_price=Decimal("98.50"))
        assert moved.ok, moved.reason
        await rig.settle()
        more = await gate.modify(request.client_order_id, quantity=Decimal(41))
        assert more.status is R.DENIED
        assert more.decision is not None
        assert more.decision.codes == (RiskCode.MAX_POSITION,)


async def test_a_change_that_does_not_fit_the_order_is_a_typed_error(
    rig: GateOverHarness,
) -> None:
    await rig.price("100")
    request = limit_buy(rig, "M4")
    async with rig.gate as gate:
        await gate.submit_request(request)
        with pytest.raises(InvalidValue, match="stop_price"):
            await gate.modify(request.client_order_id, stop_price=Decimal(95))
        with pytest.raises(InvalidValue, match="quantity"):
            await gate.modify(request.client_order_id, quantity=Decimal(0))


@pytest.mark.parametrize(
    ("trail", "new_trail"),
    [
        ({"trail_amount": Decimal(5)}, {"trail_amount": Decimal(2)}),
        ({"trail_percent": Decimal(5)}, {"trail_percent": Decimal(2)}),
    ],
    ids=["amount", "percent"],
)
async def test_a_trailing_stops_trail_can_be_modified_and_the_broker_uses_it(
    rig: GateOverHarness, trail: dict[str, Decimal], new_trail: dict[str, Decimal]
) -> None:
    await rig.price("100")
    async with rig.gate as gate:
        await gate.submit_request(
            OrderRequest(
                ClientOrderId("B0"), rig.harness.stock, Side.BUY, Decimal(5), OrderType.MARKET
            )
        )
        await rig.settle()
        stop = OrderRequest(
            ClientOrderId("T1"),
            rig.harness.stock,
            Side.SELL,
            Decimal(5),
            OrderType.TRAILING_STOP,
            time_in_force=TimeInForce.GTC,
            **trail,
        )
        assert (await gate.submit_request(stop)).ok
        await rig.settle()
        await rig.price("100")  # the trail sees the market: stop at 95 with the old trail
        await rig.settle()
        result = await gate.modify(stop.client_order_id, **new_trail)  # type: ignore[arg-type]
        assert result.ok, result.reason
        await rig.settle()
        order = gate.portfolio.order(stop.client_order_id)
        assert (order.trail_amount, order.trail_percent) == (
            new_trail.get("trail_amount"),
            new_trail.get("trail_percent"),
        )
        await rig.price("97.50")  # under the new stop (98), above the old one (95)
        await rig.settle()
        assert order.status is OrderStatus.FILLED
        assert gate.positions() == []


async def test_a_cancel_is_decided_durably_then_sent_and_any_state_is_answered(
    rig: GateOverHarness,
) -> None:
    await rig.price("100")
    seen = witness(rig, "cancel")
    request = limit_buy(rig, "C1")
    async with rig.gate as gate:
        await gate.submit_request(request)
        result = await gate.cancel(request.client_order_id)  # right after submit
        assert result.reason == ""
        await rig.settle()
        assert gate.portfolio.order(request.client_order_id).status is OrderStatus.CANCELED
        again = await gate.cancel(request.client_order_id)
        assert (again.status, again.reason) == (R.CANCELED, "already final")
        assert await gate.broker_open_orders() == []
    [at_call] = seen
    assert kinds_for(at_call, "cancel") == ["risk.decision", "broker.cancel"]
    assert kinds_for(await rig.recorded(), "cancel") == [
        "risk.decision",
        "broker.cancel",
        "broker.cancel_result",
    ]
