"""Issue #9 item 7: `flatten` cancels every working order of the account at the broker —
including orders this process did not place — before it closes the net positions, and never
over-closes. On the fake and the simulated broker (IBKR over the emulator: test_flatten_ibkr.py).

The defect this guards: a working SELL 10 (a take-profit of a long 10) survived `flatten`, which
sold 10 at market besides, so the take-profit's later fill left the account short 10; in the
process that placed it, flatten even sent nothing (the SELL 10 "covered" the position) and left
the position open.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from _halt_kill_rig import AAPL, MSFT, Venue, entry, limit

from ordergate.application.results import OrderResultStatus
from ordergate.domain.orders import OrderIntent
from ordergate.domain.signals import Signal
from ordergate.domain.values import ClientOrderId, Side, SignalId

VENUES = ["fake", "sim"]


async def long_ten_with_a_take_profit(venue: Venue) -> None:
    """An earlier process bought 10 AAPL and left a SELL 10 limit working above the market."""
    venue.price("100")
    async with venue.gate() as gate:
        bought = await gate.submit_request(entry("BUY-1", 10))
        assert bought.status in {OrderResultStatus.SUBMITTED, OrderResultStatus.FILLED}
        await gate.settle()
        working = await gate.submit_request(limit("TP-1", Side.SELL, 10, "110"))
        assert working.status is OrderResultStatus.SUBMITTED
        await gate.settle()
    assert await venue.position() == 10
    assert [v.client_order_id.value for v in await venue.open_orders()] == ["TP-1"]


@pytest.mark.parametrize("kind", VENUES)
async def test_flatten_cancels_an_order_another_process_placed_then_closes(kind: str) -> None:
    venue = Venue(kind)
    await long_ten_with_a_take_profit(venue)
    async with venue.gate() as gate:  # `ordergate flatten`: a new process
        report = await gate.flatten()
        await gate.settle()
    assert [v.client_order_id.value for v in report.cancelled] == ["TP-1"]
    assert report.still_working == ()
    assert report.ok
    assert await venue.open_orders() == []
    assert await venue.position() == 0
    venue.price("111")  # the old take-profit's price trades: nothing may fill any more
    assert await venue.position() == 0


@pytest.mark.parametrize("kind", VENUES)
async def test_flatten_in_the_process_that_placed_the_working_order(kind: str) -> None:
    venue = Venue(kind)
    venue.price("100")
    async with venue.gate() as gate:
        await gate.submit_request(entry("BUY-1", 10))
        await gate.settle()
        await gate.submit_request(limit("TP-1", Side.SELL, 10, "110"))
        await gate.settle()
        report = await gate.flatten()
        await gate.settle()
        [closure] = report.closures
        assert closure.status in {OrderResultStatus.SUBMITTED, OrderResultStatus.FILLED}
        assert gate.portfolio.order(closure.client_order_id).request.intent is OrderIntent.FLATTEN
        assert gate.portfolio.position_qty(AAPL.id) == 0
    assert await venue.position() == 0
    assert await venue.open_orders() == []
    venue.price("111")
    assert await venue.position() == 0


@pytest.mark.parametrize("kind", VENUES)
async def test_flatten_cancels_working_entries_and_closes_every_net_position(kind: str) -> None:
    venue = Venue(kind)
    venue.price("100")
    venue.price("50", MSFT)
    async with venue.gate() as gate:
        await gate.submit_request(entry("BUY-A", 10))
        await gate.submit_request(entry("BUY-M", 4, MSFT))
        await gate.submit_request(limit("DIP-A", Side.BUY, 5, "90"))  # a working entry
        await gate.settle()
    async with venue.gate() as gate:
        report = await gate.flatten()
        await gate.settle()
    assert sorted(v.client_order_id.value for v in report.cancelled) == ["DIP-A"]
    assert len(report.closures) == 2
    assert report.ok
    assert (await venue.position(), await venue.position(MSFT)) == (0, 0)
    venue.price("89")  # the cancelled entry's price trades: it must not open a position again
    assert await venue.position() == 0


@pytest.mark.parametrize("kind", VENUES)
async def test_flatten_audits_the_cancel_before_the_broker_call(kind: str) -> None:
    venue = Venue(kind)
    await long_ten_with_a_take_profit(venue)
    async with venue.gate() as gate:
        await gate.flatten()
        await gate.settle()
    kinds = await venue.kinds()
    cancel_at = kinds.index("broker.cancel_all")
    [call] = await venue.records("broker.cancel_all")
    assert [w["client_order_id"] for w in call["working"]] == ["TP-1"]
    assert kinds.index("broker.cancel_all_result") > cancel_at
    closure_at = max(i for i, k in enumerate(kinds) if k == "broker.submit")
    assert closure_at > cancel_at  # cancel first, close after


async def test_flatten_never_over_closes_when_a_cancel_has_not_taken_effect() -> None:
    # On a simulator with request latency, the cancel of the other process's SELL 4 is still on
    # its way when flatten stops waiting: only the 6 it does not cover are sold.
    venue = Venue("sim", latency=timedelta(seconds=5))
    venue.price("100")
    async with venue.gate() as gate:
        await gate.submit_request(entry("BUY-1", 10))
        venue.advance(6)
        await gate.settle()
        await gate.submit_request(limit("TP-1", Side.SELL, 4, "101"))
        venue.advance(6)
        await gate.settle()
    assert await venue.position() == 10
    async with venue.gate(timeout=0.3) as gate:
        report = await gate.flatten()
        [closure] = report.closures
        assert [v.client_order_id.value for v in report.still_working] == ["TP-1"]
        assert gate.portfolio.order(closure.client_order_id).quantity == Decimal(6)
        assert not report.ok  # an order is still working: the operator is told
    venue.advance(6)  # the cancel, then the closure, take effect
    venue.price("102")
    assert await venue.position() == 4  # the 4 the late cancel covered; never short
    assert await venue.open_orders() == []


@pytest.mark.parametrize("kind", VENUES)
async def test_a_restarted_process_flattening_at_the_same_instant_uses_a_new_id(kind: str) -> None:
    # Found by the acceptance machine: the second process derived the same FL-... id from the
    # same clock reading, the broker refused it as a duplicate, and the position stayed open.
    venue = Venue(kind)
    venue.price("100")
    async with venue.gate() as gate:
        await gate.submit_request(entry("BUY-1", 10))
        await gate.settle()
        first = await gate.flatten()
        await gate.settle()
        await gate.submit_request(entry("BUY-2", 5))
        await gate.settle()
    async with venue.gate() as gate:  # a new process, the clock where it was
        second = await gate.flatten()
        await gate.settle()
    [one], [two] = first.closures, second.closures
    assert one.client_order_id != two.client_order_id
    assert second.ok, second
    assert await venue.position() == 0


def bracket(sid: str, qty: int, gate_now: datetime) -> Signal:
    return Signal(
        SignalId(sid),
        AAPL,
        Side.BUY,
        gate_now,
        quantity=Decimal(qty),
        stop_loss=Decimal("95.00"),
        take_profit=Decimal("105.00"),
    )


async def test_flatten_after_a_reconnect_that_ended_a_bracket_unheard() -> None:
    # The acceptance machine's case: two brackets (BUY 1 and BUY 38) and a BUY 1; the first
    # bracket's take-profit is cancelled (its stop stays working); while the socket is down the
    # price jumps 10, the second bracket's take-profit fills and the broker cancels its stop
    # (OCA), nobody hears. Flatten must cancel the remaining stop and sell the 2 left: the book
    # must not keep the cancelled stop (SELL 38) as working, which "covered" the 2 and made
    # flatten send nothing, leaving the account long 2.
    venue = Venue("fake")
    venue.price("100")
    async with venue.gate() as gate:
        await gate.submit_signal(bracket("S1", 1, gate.now))
        await gate.submit_signal(bracket("S2", 38, gate.now))
        await gate.submit_request(entry("S3-E", 1))
        await gate.settle()
        await gate.cancel(ClientOrderId("S1-TP"))
        await gate.settle()
        assert await venue.position() == 40
        venue.fake.drop_connection()
        await gate.settle()
        venue.price("110")
        venue.fake.restore_connection()
        await gate.settle()
        assert await venue.position() == 2
        report = await gate.flatten()
        await gate.settle()
        assert gate.portfolio.position_qty(AAPL.id) == 0
    assert [v.client_order_id.value for v in report.cancelled] == ["S1-SL"]
    assert report.ok, report
    [closure] = report.closures
    assert closure.status in {OrderResultStatus.SUBMITTED, OrderResultStatus.FILLED}
    assert await venue.open_orders() == []
    assert await venue.position() == 0
