"""Broker contract, part 1: every order type and time in force, partial fills, rejections.

Driven only through a `BrokerHarness` (see `ordergate.application.testing.contracts.broker` for
how to run it). It must never reach into an adapter: what it knows comes from the port's
events and queries, applied to domain `Order`s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import attrs
import pytest
import pytest_asyncio

from ordergate.application.testing.contracts._broker_session import TIMEOUT, BrokerSession
from ordergate.application.testing.harness import BrokerHarness
from ordergate.domain.errors import BrokerRejected, UnapprovedOrder
from ordergate.domain.events import UnapprovedOrderRefused
from ordergate.domain.orders import OrderEventKind, OrderStatus, OrderType, TimeInForce
from ordergate.domain.risk.decision import ApprovedOrder, RiskDecision
from ordergate.domain.values import Side

__all__ = ["BrokerContractBase", "BrokerOrderTypesContract"]

BUY, SELL = Side.BUY, Side.SELL
K = OrderEventKind
S = OrderStatus
DAY_SECONDS = 24 * 3600
_IOC_ENDS = (S.CANCELED, S.EXPIRED)


class BrokerContractBase:
    """Provides the `broker_session` fixture from the user's `broker_harness` fixture."""

    pytestmark = pytest.mark.asyncio  # so the suite also runs under asyncio_mode=strict

    @pytest_asyncio.fixture
    async def broker_session(self, broker_harness: BrokerHarness) -> AsyncIterator[BrokerSession]:
        """A recorder of the harness broker's events for one test."""
        session = await BrokerSession.start(broker_harness)
        try:
            yield session
        finally:
            await session.close()


class BrokerOrderTypesContract(BrokerContractBase):
    """Order types, time in force, partial fills and rejections."""

    async def test_qualify_returns_known_instrument(self, broker_session: BrokerSession) -> None:
        qualified = await broker_session.broker.qualify(broker_session.stock, timeout=TIMEOUT)
        assert broker_session.stock.id == qualified.id

    async def test_qualify_rejects_unknown_instrument(self, broker_session: BrokerSession) -> None:
        with pytest.raises(BrokerRejected):
            await broker_session.broker.qualify(broker_session.harness.unknown, timeout=TIMEOUT)

    async def test_order_on_unknown_instrument_is_rejected(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("100")
        request = s.request(BUY, 1, OrderType.MARKET, instrument=s.harness.unknown)
        submitted = await s.submit(request)
        await s.settle()
        assert s.was_rejected(request, submitted)
        assert [] == s.fills(request)

    async def test_a_hand_built_approval_is_refused_and_reported(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("100")
        request = s.request(BUY, 3000, OrderType.MARKET)
        forged = ApprovedOrder(request, RiskDecision(request.client_order_id, True, await s.now()))
        with pytest.raises(UnapprovedOrder, match=str(request.client_order_id)):
            await s.broker.submit(forged, timeout=TIMEOUT)
        with pytest.raises(UnapprovedOrder):
            await s.broker.submit_list((forged,), timeout=TIMEOUT)
        events = await s.settle()
        refused = [e for e in events if isinstance(e, UnapprovedOrderRefused)]
        assert [request.client_order_id.value] * 2 == [e.client_order_id for e in refused]
        assert [] == s.kinds(request)
        assert [] == await s.broker.open_orders(timeout=TIMEOUT)
        assert [] == await s.broker.positions(timeout=TIMEOUT)

    async def test_an_approval_is_good_for_one_send_only(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("100")
        request = s.request(BUY, 1, OrderType.LIMIT, limit_price="90")
        approved = await s.approve(request)
        await s.broker.submit(approved, timeout=TIMEOUT)
        bigger = attrs.evolve(request, quantity=Decimal(3000))
        with pytest.raises(UnapprovedOrder):  # replayed
            await s.broker.submit(approved, timeout=TIMEOUT)
        with pytest.raises(UnapprovedOrder):  # altered
            await s.broker.submit(attrs.evolve(approved, request=bigger), timeout=TIMEOUT)
        await s.settle()
        assert [request.client_order_id] == [
            v.client_order_id for v in await s.broker.open_orders(timeout=TIMEOUT)
        ]

    async def test_connect_is_idempotent(self, broker_session: BrokerSession) -> None:
        await broker_session.broker.connect(timeout=TIMEOUT)
        assert broker_session.broker.is_connected()

    async def test_market_order_fills_at_the_current_price(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("100")
        request = s.request(BUY, 10, OrderType.MARKET)
        submitted = await s.submit(request)
        await s.settle()
        assert submitted.broker_order_id is not None
        assert K.ACCEPTED in s.kinds(request)
        assert S.FILLED == s.status(request)
        assert [Decimal(100)] == [fill.price for fill in s.fills(request)]
        assert Decimal(10) == s.filled_qty(request)

    async def test_option_market_order_fills(self, broker_session: BrokerSession) -> None:
        s = broker_session
        await s.price("5.00", s.option)
        request = s.request(BUY, 2, OrderType.MARKET, instrument=s.option)
        await s.submit(request)
        await s.settle()
        assert S.FILLED == s.status(request)
        assert [Decimal("5.00")] == [fill.price for fill in s.fills(request)]

    async def test_buy_limit_waits_until_marketable(self, broker_session: BrokerSession) -> None:
        s = broker_session
        await s.price("100")
        request = s.request(BUY, 10, OrderType.LIMIT, limit_price="99")
        await s.submit(request)
        await s.price("99.50")
        await s.settle()
        assert [] == s.fills(request)
        assert S.ACCEPTED == s.status(request)
        await s.price("99")
        await s.settle()
        assert S.FILLED == s.status(request)
        assert all(fill.price <= Decimal(99) for fill in s.fills(request))

    async def test_sell_limit_never_fills_below_its_limit(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("100")
        request = s.request(SELL, 5, OrderType.LIMIT, limit_price="101")
        await s.submit(request)
        await s.price("100.99")
        await s.settle()
        assert [] == s.fills(request)
        await s.price("101.50")
        await s.settle()
        assert S.FILLED == s.status(request)
        assert all(fill.price >= Decimal(101) for fill in s.fills(request))

    async def test_sell_stop_triggers_when_touched(self, broker_session: BrokerSession) -> None:
        s = broker_session
        await s.price("100")
        request = s.request(SELL, 5, OrderType.STOP, stop_price="95")
        await s.submit(request)
        await s.price("95.01")
        await s.settle()
        assert [] == s.fills(request)
        await s.price("95")
        await s.settle()
        assert S.FILLED == s.status(request)

    async def test_buy_stop_triggers_when_touched(self, broker_session: BrokerSession) -> None:
        s = broker_session
        await s.price("100")
        request = s.request(BUY, 5, OrderType.STOP, stop_price="105")
        await s.submit(request)
        await s.price("104.99")
        await s.settle()
        assert [] == s.fills(request)
        await s.price("105")
        await s.settle()
        assert S.FILLED == s.status(request)

    async def test_stop_limit_respects_its_limit_once_triggered(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("100")
        request = s.request(BUY, 5, OrderType.STOP_LIMIT, stop_price="105", limit_price="106")
        await s.submit(request)
        await s.price("107")  # triggers, but the limit is not marketable
        await s.settle()
        assert [] == s.fills(request)
        await s.price("106")
        await s.settle()
        assert S.FILLED == s.status(request)
        assert all(fill.price <= Decimal(106) for fill in s.fills(request))

    async def test_trailing_stop_by_amount_follows_the_market(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("100")
        request = s.request(SELL, 5, OrderType.TRAILING_STOP, trail_amount="2")
        await s.submit(request)
        await s.price("105")  # the stop moves up to 103
        await s.price("103.50")
        await s.settle()
        assert [] == s.fills(request)
        await s.price("103")
        await s.settle()
        assert S.FILLED == s.status(request)

    async def test_trailing_stop_by_percent_follows_the_market(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("100")
        request = s.request(BUY, 5, OrderType.TRAILING_STOP, trail_percent="5")
        await s.submit(request)
        await s.price("90")  # the stop moves down to 94.50
        await s.price("94.40")
        await s.settle()
        assert [] == s.fills(request)
        await s.price("94.60")
        await s.settle()
        assert S.FILLED == s.status(request)

    async def test_trailing_stop_limit_respects_its_limit_offset(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("100")
        request = s.request(
            SELL, 5, OrderType.TRAILING_STOP, trail_amount="2", trail_limit_offset="0.50"
        )
        await s.submit(request)
        await s.price("97")  # stop 98 touched; the limit 97.50 is not marketable
        await s.settle()
        assert [] == s.fills(request)
        await s.price("97.60")
        await s.settle()
        assert S.FILLED == s.status(request)
        assert all(fill.price >= Decimal("97.50") for fill in s.fills(request))

    async def test_day_order_expires_at_the_session_close_and_gtc_does_not(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("100")
        day = s.request(BUY, 5, OrderType.LIMIT, limit_price="90", time_in_force=TimeInForce.DAY)
        gtc = s.request(BUY, 5, OrderType.LIMIT, limit_price="90", time_in_force=TimeInForce.GTC)
        await s.submit(day)
        await s.submit(gtc)
        await s.harness.advance(DAY_SECONDS)
        await s.settle()
        assert S.EXPIRED == s.status(day)
        assert S.ACCEPTED == s.status(gtc)
        working = await s.broker.open_orders(timeout=TIMEOUT)
        assert {gtc.client_order_id} == {view.client_order_id for view in working}

    async def test_gtd_order_expires_at_its_time(self, broker_session: BrokerSession) -> None:
        s = broker_session
        await s.price("100")
        expire_at = await s.now() + timedelta(hours=1)
        request = s.request(
            BUY,
            5,
            OrderType.LIMIT,
            limit_price="90",
            time_in_force=TimeInForce.GTD,
            expire_at=expire_at,
        )
        await s.submit(request)
        await s.harness.advance(1800)
        await s.settle()
        assert S.ACCEPTED == s.status(request)
        await s.harness.advance(1801)
        await s.settle()
        assert S.EXPIRED == s.status(request)

    async def test_ioc_that_cannot_fill_is_cancelled(self, broker_session: BrokerSession) -> None:
        s = broker_session
        await s.price("100")
        request = s.request(
            BUY, 5, OrderType.LIMIT, limit_price="95", time_in_force=TimeInForce.IOC
        )
        await s.submit(request)
        await s.settle()
        assert s.status(request) in _IOC_ENDS
        await s.price("94")
        await s.settle()
        assert [] == s.fills(request)

    async def test_ioc_fills_what_it_can_and_cancels_the_rest(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("100")
        await s.harness.set_fill_limit(Decimal(4))
        request = s.request(
            BUY, 10, OrderType.LIMIT, limit_price="100", time_in_force=TimeInForce.IOC
        )
        await s.submit(request)
        await s.settle()
        assert Decimal(4) == s.filled_qty(request)
        assert s.status(request) in _IOC_ENDS
        await s.price("99")
        await s.settle()
        assert Decimal(4) == s.filled_qty(request)

    async def test_partial_fills_accumulate_to_the_order_quantity(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("101")
        await s.harness.set_fill_limit(Decimal(3))
        request = s.request(BUY, 10, OrderType.LIMIT, limit_price="100")
        await s.submit(request)
        await s.price("100")
        await s.settle()
        assert Decimal(3) == s.filled_qty(request)
        assert S.PARTIALLY_FILLED == s.status(request)
        view = await s.broker.order_status(request.client_order_id, timeout=TIMEOUT)
        assert (S.PARTIALLY_FILLED, Decimal(3)) == (view.status, view.filled_qty)
        await s.price("99.50")
        await s.settle()
        assert Decimal(6) == s.filled_qty(request)
        await s.harness.set_fill_limit(None)
        await s.price("99")
        await s.settle()
        order = s.order(request.client_order_id)
        assert (S.FILLED, Decimal(10), Decimal(0)) == (
            order.status,
            order.filled_qty,
            order.leaves_qty,
        )

    async def test_reject_next_rejects_one_order_only(self, broker_session: BrokerSession) -> None:
        s = broker_session
        await s.price("100")
        await s.harness.reject_next("contract test rejection")
        first = s.request(BUY, 1, OrderType.MARKET)
        submitted = await s.submit(first)
        await s.settle()
        assert s.was_rejected(first, submitted)
        assert [] == s.fills(first)
        second = s.request(BUY, 1, OrderType.MARKET)
        await s.submit(second)
        await s.settle()
        assert S.FILLED == s.status(second)
