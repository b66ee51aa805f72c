"""The emulator's instant engine: a transmit releases exactly its own client's held orders.

Held orders are indexed per client (a placement no longer scans every live order); these pin
the semantics the index must keep: untransmitted orders wait for a later transmit of the same
API client, in placement order; another client's held orders stay held; a bracket child waits
for its parent's fill whatever is transmitted; working orders are left alone.
"""

from __future__ import annotations

from decimal import Decimal

from ordergate.adapters.gateway_sim import InstantEngine
from ordergate.adapters.gateway_sim.engine_types import (
    ContractQuery,
    OrderKey,
    OrderSpec,
    OrderStatus,
    OrderType,
)
from ordergate.domain.orders.enums import TimeInForce
from ordergate.domain.values import Side


def resting(price: str, *, transmit: bool, parent_id: int = 0, side: Side = Side.BUY) -> OrderSpec:
    return OrderSpec(side, Decimal(1), OrderType.LIMIT, limit_price=Decimal(price),
                     tif=TimeInForce.GTC, transmit=transmit, parent_id=parent_id)


def test_a_transmit_releases_only_its_own_clients_held_orders_in_order() -> None:
    engine = InstantEngine(starting_cash=Decimal(10**9))
    aapl = engine.qualify(ContractQuery(symbol="AAPL"))[0]
    updates: list[tuple[OrderKey, OrderStatus]] = []
    engine.add_listener(lambda event: updates.append((event.order.key, event.order.status))
                        if hasattr(event, "order") else None)

    def status() -> dict[OrderKey, OrderStatus]:
        return {view.key: view.status for view in engine.open_orders()}

    engine.place_order(OrderKey(1, 1), aapl, resting("150", transmit=False))
    engine.place_order(OrderKey(2, 1), aapl, resting("151", transmit=False))
    engine.place_order(OrderKey(1, 2), aapl, resting("152", transmit=False))
    assert set(status().values()) == {OrderStatus.HELD}
    engine.place_order(OrderKey(1, 3), aapl, resting("153", transmit=True))
    assert status() == {
        OrderKey(1, 1): OrderStatus.WORKING,
        OrderKey(2, 1): OrderStatus.HELD,
        OrderKey(1, 2): OrderStatus.WORKING,
        OrderKey(1, 3): OrderStatus.WORKING,
    }
    working = [key for key, state in updates if state is OrderStatus.WORKING]
    assert [OrderKey(1, 1), OrderKey(1, 2), OrderKey(1, 3)] == working  # oldest first
    # a bracket child waits for its parent's fill, whatever is transmitted after it
    engine.place_order(OrderKey(1, 4), aapl, resting("140", transmit=True, parent_id=1,
                                                     side=Side.SELL))
    engine.place_order(OrderKey(1, 5), aapl, resting("154", transmit=True))
    assert OrderStatus.HELD is status()[OrderKey(1, 4)]
    assert OrderStatus.WORKING is status()[OrderKey(1, 5)]
    engine.place_order(OrderKey(2, 2), aapl, resting("155", transmit=True))
    assert OrderStatus.WORKING is status()[OrderKey(2, 1)]
    # a held order cancelled before its transmit is not released by it
    engine.place_order(OrderKey(2, 3), aapl, resting("156", transmit=False))
    engine.cancel_order(OrderKey(2, 3))
    engine.place_order(OrderKey(2, 4), aapl, resting("157", transmit=True))
    assert OrderKey(2, 3) not in status()
    assert OrderStatus.WORKING is status()[OrderKey(2, 4)]
