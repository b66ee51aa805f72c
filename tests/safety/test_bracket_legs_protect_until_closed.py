"""Issue #9 item 8: a bracket's protective legs live until the position is closed.

A signal's `time_in_force` is the entry's. Its take-profit and stop-loss (one OCA group) are GTC
unless the signal names another `protection_time_in_force`, so a DAY entry's legs do not expire
at the first close and leave the filled position unprotected.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import OrderStatus, TimeInForce
from ordergate.domain.signals import Signal
from ordergate.domain.values import ClientOrderId, Side, SignalId

T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)  # 10:00 in New York
AAPL = Stock("AAPL")
AFTER_THE_CLOSE = 8 * 3600.0  # 18:00 in New York: DAY orders have expired


def bracket_signal(sid: str, **fields: object) -> Signal:
    return Signal(
        SignalId(sid),
        AAPL,
        Side.BUY,
        T0,
        quantity=Decimal(10),
        stop_loss=Decimal(140),
        take_profit=Decimal(160),
        **fields,  # type: ignore[arg-type]
    )


class Rig:
    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        self.broker = FakeBroker(self.clock, [AAPL])
        self.market = FakeMarketData(self.clock, [AAPL])
        self.audit = InMemoryAuditLog(clock=self.clock)
        self.gate = OrderGate(
            Ports(self.broker, self.market, self.audit, self.clock, InMemoryPublisher()),
            GateOptions(operator_id="CSATSPRIM"),
        )
        self.broker.set_price(AAPL, Decimal(150))
        self.market.set_price(AAPL, Decimal(150))

    def sent_time_in_force(self) -> dict[str, TimeInForce]:
        (call,) = self.broker.calls_to("submit_list")
        orders = dict(call.arguments)["orders"]
        return {o.request.client_order_id.value: o.request.time_in_force for o in orders}


async def test_a_day_bracket_keeps_its_stop_loss_and_take_profit_working_after_the_close() -> None:
    rig = Rig()
    async with rig.gate as gate:
        results = await gate.submit_signal(bracket_signal("B1"))
        await gate.settle()
        assert [r.ok for r in results] == [True, True, True]
        assert gate.positions()[0].quantity == Decimal(10)  # the DAY entry filled at once

        rig.clock.advance(AFTER_THE_CLOSE)
        await gate.settle()

        working = {v.client_order_id.value for v in await gate.broker_open_orders()}
        assert working == {"B1-TP", "B1-SL"}
        for leg in ("B1-TP", "B1-SL"):
            assert gate.order_status(ClientOrderId(leg)).status.value == "SUBMITTED"
            assert gate.portfolio.order(ClientOrderId(leg)).status is OrderStatus.ACCEPTED
    assert rig.sent_time_in_force() == {
        "B1-E": TimeInForce.DAY,
        "B1-TP": TimeInForce.GTC,
        "B1-SL": TimeInForce.GTC,
    }


async def test_the_protective_legs_take_the_time_in_force_the_signal_names() -> None:
    rig = Rig()
    async with rig.gate as gate:
        signal = bracket_signal(
            "B2", time_in_force=TimeInForce.GTC, protection_time_in_force=TimeInForce.DAY
        )
        await gate.submit_signal(signal)
        await gate.settle()
        rig.clock.advance(AFTER_THE_CLOSE)
        await gate.settle()
        assert await gate.broker_open_orders() == []
        assert gate.portfolio.order(ClientOrderId("B2-SL")).status is OrderStatus.EXPIRED
    assert rig.sent_time_in_force() == {
        "B2-E": TimeInForce.GTC,
        "B2-TP": TimeInForce.DAY,
        "B2-SL": TimeInForce.DAY,
    }


@pytest.mark.parametrize("tif", [TimeInForce.IOC, TimeInForce.GTD])
def test_a_protection_time_in_force_that_cannot_protect_is_refused_by_name(
    tif: TimeInForce,
) -> None:
    with pytest.raises(
        InvalidValue, match=f"protection_time_in_force: must be GTC or DAY.*{tif.value}"
    ):
        bracket_signal("B3", protection_time_in_force=tif)
