"""Broker contract, part 3: order lists — brackets (children work only after the parent fills,
one-cancels-other between them) and OCA groups.

Driven only through a `BrokerHarness`; it must never reach into an adapter.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ordergate.application.testing.contracts._broker_session import TIMEOUT, BrokerSession
from ordergate.application.testing.contracts.broker_orders import BrokerContractBase
from ordergate.domain.orders import BracketRequest, OcaGroup, OrderStatus, OrderType, TimeInForce
from ordergate.domain.values import Side

__all__ = ["BrokerOrderListContract"]

BUY, SELL = Side.BUY, Side.SELL
S = OrderStatus


def _bracket(
    s: BrokerSession, entry_limit: str, take_profit: str, stop_loss: str
) -> BracketRequest:
    entry = s.request(
        BUY, 10, OrderType.LIMIT, limit_price=entry_limit, time_in_force=TimeInForce.GTC
    )
    group = f"OCO-{entry.client_order_id}"
    children: dict[str, Any] = {
        "parent_id": entry.client_order_id,
        "oca_group": group,
        "time_in_force": TimeInForce.GTC,
    }
    return BracketRequest(
        entry=entry,
        take_profit=s.request(SELL, 10, OrderType.LIMIT, limit_price=take_profit, **children),
        stop_loss=s.request(SELL, 10, OrderType.STOP, stop_price=stop_loss, **children),
    )


class BrokerOrderListContract(BrokerContractBase):
    """Brackets and OCA groups."""

    async def test_bracket_children_work_only_after_the_parent_fills(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("101")
        bracket = _bracket(s, "100", "110", "90")
        submitted = await s.submit_list(bracket.orders)
        assert submitted.error is None
        await s.price("111")  # the take-profit would fill here if it were working
        await s.settle()
        assert [] == s.fills()
        assert not any(s.status(r).is_terminal for r in bracket.orders)
        await s.price("100")
        await s.settle()
        assert S.FILLED == s.status(bracket.entry)
        await s.price("111")
        await s.settle()
        assert S.FILLED == s.status(bracket.take_profit)

    async def test_bracket_take_profit_fill_cancels_the_stop_loss(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("101")
        bracket = _bracket(s, "100", "110", "90")
        await s.submit_list(bracket.orders)
        await s.price("100")
        await s.settle()
        assert S.FILLED == s.status(bracket.entry)
        assert not s.status(bracket.take_profit).is_terminal
        assert not s.status(bracket.stop_loss).is_terminal
        await s.price("110")
        await s.settle()
        assert S.FILLED == s.status(bracket.take_profit)
        assert S.CANCELED == s.status(bracket.stop_loss)
        await s.price("85")
        await s.settle()
        assert [] == s.fills(bracket.stop_loss)
        assert [] == await s.broker.positions(timeout=TIMEOUT)

    async def test_bracket_stop_loss_fill_cancels_the_take_profit(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("101")
        bracket = _bracket(s, "100", "110", "90")
        await s.submit_list(bracket.orders)
        await s.price("100")
        await s.price("89")
        await s.settle()
        assert S.FILLED == s.status(bracket.stop_loss)
        assert S.CANCELED == s.status(bracket.take_profit)
        await s.price("115")
        await s.settle()
        assert [] == s.fills(bracket.take_profit)

    async def test_cancelling_a_bracket_parent_cancels_its_children(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("101")
        bracket = _bracket(s, "100", "110", "90")
        await s.submit_list(bracket.orders)
        await s.settle()
        await s.broker.cancel(bracket.entry.client_order_id, timeout=TIMEOUT)
        await s.settle()
        assert [S.CANCELED] * 3 == [s.status(r) for r in bracket.orders]
        await s.price("80")
        await s.price("120")
        await s.settle()
        assert [] == s.fills()
        assert [] == await s.broker.open_orders(timeout=TIMEOUT)

    async def test_oca_group_fill_cancels_the_other_members(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("100")
        name = f"OCA-{s.new_id()}"
        near = s.request(BUY, 5, OrderType.LIMIT, limit_price="95", oca_group=name)
        far = s.request(BUY, 5, OrderType.LIMIT, limit_price="90", oca_group=name)
        group = OcaGroup(name=name, orders=(near, far))
        submitted = await s.submit_list(group.orders)
        assert submitted.error is None
        await s.price("95")
        await s.settle()
        assert (S.FILLED, S.CANCELED) == (s.status(near), s.status(far))
        await s.price("89")
        await s.settle()
        assert [] == s.fills(far)
        positions = await s.broker.positions(timeout=TIMEOUT)
        assert [Decimal(5)] == [p.quantity for p in positions]
