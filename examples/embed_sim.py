"""Open the gate on the simulator, signal, move the market, read fills and positions."""

import asyncio
from datetime import timedelta
from decimal import Decimal

import ordergate


async def main() -> None:
    settings = ordergate.load_settings(overrides={"audit.kind": "memory", "session.bars": 30})
    async with ordergate.open(settings) as gate:
        await gate.simulation.advance_days(1)  # the first session day: quotes are fresh
        orders = []
        for n, symbol in enumerate(["AAPL", "MSFT"]):
            signal = ordergate.Signal(
                ordergate.SignalId(f"demo-{n}"),
                ordergate.Stock(symbol),
                ordergate.Side.BUY,
                gate.now - timedelta(seconds=1),
                quantity=Decimal(10),
            )
            orders += [r.client_order_id for r in await gate.submit_signal(signal)]
        await gate.simulation.advance_days(1)  # market orders fill at the next open
        for order_id in orders:
            fill = gate.order_status(order_id)
            print(order_id, fill.status.value, fill.fill_quantity, "@", fill.fill_price)
        for position in gate.positions():
            print(position.instrument_id, position.quantity, position.avg_open_price)


asyncio.run(main())
