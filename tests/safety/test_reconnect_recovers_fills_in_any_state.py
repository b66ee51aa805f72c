"""Found by the acceptance machine (test_gate_state_machine.py): fills that happen while the
broker link is down are recovered after the reconnect whatever the trading state was. The
connectivity guard ran its resync check (which recovers missed executions) only when it had moved
trading to REDUCING itself, so with trading already HALTED (or REDUCING by an operator) a fill
nobody heard during the outage was never applied: the gate's position disagreed with the broker's
and its closures were sized on the wrong quantity.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from _halt_kill_rig import AAPL, Venue, entry, limit

from ordergate.domain.risk.decision import TradingState
from ordergate.domain.values import Side


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
