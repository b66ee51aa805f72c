"""Found by the acceptance machine (test_gate_state_machine.py): what happens while the broker
link is down is learned after the reconnect — fills whatever the trading state was, and orders
that ended (an OCA sibling cancelled by a fill nobody heard). The
connectivity guard ran its resync check (which recovers missed executions) only when it had moved
trading to REDUCING itself, so with trading already HALTED (or REDUCING by an operator) a fill
nobody heard during the outage was never applied: the gate's position disagreed with the broker's
and its closures were sized on the wrong quantity.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from _halt_kill_rig import AAPL, Venue, entry, limit

from ordergate.domain.orders.enums import OrderStatus
from ordergate.domain.risk.decision import TradingState
from ordergate.domain.signals import Signal
from ordergate.domain.values import ClientOrderId, Side, SignalId


@pytest.mark.parametrize("operator", ["halt", "reduce"])
async def test_a_fill_missed_during_an_outage_is_applied_after_the_reconnect(
    operator: str,
) -> None:
    venue = Venue("fake")
    venue.price("100")
    async with venue.gate() as gate:
        await gate.submit_request(entry("BUY-1", 10))
        await gate.submit_request(limit("TP-1", Side.SELL, 4, "105"))
        await gate.settle()
        await getattr(gate, operator)("operator")
        venue.fake.drop_connection()
        await gate.settle()
        venue.price("106")  # the take-profit fills; nobody hears it
        venue.fake.restore_connection()
        await gate.settle()
        assert gate.trading_state is not TradingState.ACTIVE  # the operator's decision stands
        assert gate.portfolio.position_qty(AAPL.id) == Decimal(6)
    assert await venue.position() == 6
    assert await venue.records("broker.fill_recovered")


async def test_an_order_that_ended_unheard_is_ended_and_flatten_closes_the_rest() -> None:
    # Found by the acceptance machine: while the link was down the take-profit filled and the
    # broker cancelled its OCA sibling; the fill was recovered but the gate still held the stop
    # as working, so flatten took the position as covered and sent nothing.
    venue = Venue("fake")
    venue.price("100")
    async with venue.gate() as gate:
        await gate.submit_request(entry("BUY-1", 1))
        await gate.submit_signal(
            Signal(
                SignalId("B1"),
                AAPL,
                Side.BUY,
                gate.now,
                quantity=Decimal(1),
                stop_loss=Decimal(95),
                take_profit=Decimal(105),
            )
        )
        await gate.settle()
        assert gate.portfolio.position_qty(AAPL.id) == 2
        venue.fake.drop_connection()
        await gate.settle()
        venue.price("112")  # the take-profit fills, the stop-loss is cancelled: nobody hears
        venue.fake.restore_connection()
        await gate.settle()
        stop = gate.portfolio.order(ClientOrderId("B1-SL"))
        assert stop.status is OrderStatus.CANCELED
        report = await gate.flatten()
        await gate.settle()
    assert report.ok, report
    assert await venue.position() == 0
