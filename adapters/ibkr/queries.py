"""The query half of `IbkrBroker`: what IB says now about orders, positions, executions and the
account. Every method asks IB over the wire (never a cache), within its `timeout`, and returns
domain values; it must never change an order.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ib_async import ExecutionFilter, Trade

from ordergate.adapters.ibkr import parsing
from ordergate.adapters.ibkr.connection import IbkrConnection
from ordergate.adapters.ibkr.contracts import ContractBook
from ordergate.adapters.ibkr.orders import OrderRecord, OrderTracker
from ordergate.domain.account import AccountSummary, BrokerPosition, OrderView
from ordergate.domain.errors import UnknownOrder
from ordergate.domain.orders import ExecutionFill
from ordergate.domain.values import ClientOrderId

__all__ = ["IbkrQueries"]

_SUMMARY_TAGS = "TotalCashValue,NetLiquidation,AvailableFunds,BuyingPower"
_DONE = ("Filled", "Cancelled", "ApiCancelled", "Inactive")


class IbkrQueries:
    """Mixed into `IbkrBroker`; needs its `connection`, `contracts` and `orders`."""

    connection: IbkrConnection
    contracts: ContractBook
    orders: OrderTracker

    async def order_status(self, client_order_id: ClientOrderId, *, timeout: float) -> OrderView:
        """IB's view of one order (asked of IB); `UnknownOrder` when neither IB nor we know it."""
        trades = await self._open_trades(timeout)
        record = self.orders.records.get(client_order_id)
        for trade in trades:
            ref = parsing.parse_order_ref(trade.order.orderRef)
            if ref is not None and ref[1] == client_order_id:
                return self._view(trade, client_order_id, record)
        if record is None:
            raise UnknownOrder(f"IB has no order {client_order_id}")
        mirror = record.mirror
        return OrderView(client_order_id, record.broker_order_id, record.request.instrument_id,
                         record.request.side, record.request.order_type, mirror.status,
                         mirror.quantity, mirror.filled_qty, mirror.limit_price,
                         mirror.stop_price, mirror.avg_px)

    async def open_orders(self, *, timeout: float) -> list[OrderView]:
        """Every working order of the account at IB, whichever client placed it (asked of IB
        with reqAllOpenOrders); an order without an ordergate orderRef is named `IB-<permId>`."""
        views = []
        for trade in await self._open_trades(timeout, every_client=True):
            if trade.orderStatus.status in _DONE:
                continue
            ref = parsing.parse_order_ref(trade.order.orderRef)
            cid = ref[1] if ref else ClientOrderId(f"IB-{trade.order.permId}")
            views.append(self._view(trade, cid, self.orders.records.get(cid)))
        return views

    async def _open_trades(self, timeout: float, *, every_client: bool = False) -> list[Trade]:
        ib = self.connection.ib
        if every_client:
            trades: list[Trade] = await self.connection.request(
                "openOrders", ib.reqAllOpenOrdersAsync, timeout, "reqAllOpenOrders")
        else:
            trades = await self.connection.request(
                "openOrders", ib.reqOpenOrdersAsync, timeout, "reqOpenOrders")
        for trade in trades:
            record = self.orders.record_for(trade)
            if record is not None and record.modify is not None:
                self.orders.on_status(trade)
        return trades

    def _view(self, trade: Trade, cid: ClientOrderId, record: OrderRecord | None) -> OrderView:
        instrument = record.request.instrument if record else self.contracts.instrument_for(
            trade.contract)
        avg = record.mirror.avg_px if record and record.mirror.filled_qty else (
            parsing.decimal_or_none(trade.orderStatus.avgFillPrice) or None)
        return parsing.order_view(cid, instrument, trade.order, trade.orderStatus.status,
                                  trade.orderStatus.filled, avg_px=avg)

    async def positions(self, *, timeout: float) -> list[BrokerPosition]:
        """Every non-zero position of the account (asked of IB)."""
        ib = self.connection.ib
        found = await self.connection.request("positions", ib.reqPositionsAsync, timeout,
                                              "reqPositions")
        views = [parsing.broker_position(p, self.contracts.instrument_for(p.contract))
                 for p in found if p.account == self.connection.account]
        return [v for v in views if v.quantity != 0]

    async def executions(self, since: datetime, *, timeout: float) -> list[ExecutionFill]:
        """Executions at or after `since` (second resolution, as IB reports them), oldest
        first, with their commissions where IB sent them."""
        ib = self.connection.ib
        flt = ExecutionFilter(time=parsing.ib_time(since))
        fills = await self.connection.request(None, lambda: ib.reqExecutionsAsync(flt),
                                              timeout, "reqExecutions")
        floor = since.replace(microsecond=0)
        now = datetime.now(UTC)
        out = []
        for fill in fills:
            ref = parsing.parse_order_ref(fill.execution.orderRef)
            cid = ref[1] if ref else ClientOrderId(f"IB-{fill.execution.permId}")
            record = self.orders.records.get(cid)
            instrument = record.request.instrument if record else self.contracts.instrument_for(
                fill.contract)
            report = self.orders.reported_commission(fill)
            commission = parsing.commission_of(report, fill.execution.execId) if report else None
            event = parsing.execution_fill(fill, cid, instrument, now, commission=commission)
            if event.ts_event >= floor:
                out.append(event)
        return sorted(out, key=lambda f: (f.ts_event, str(f.execution_id)))

    async def account_summary(self, *, timeout: float) -> AccountSummary:
        """Cash, net liquidation, available funds and buying power (asked of IB); realised and
        unrealised PnL from the account-values subscription ib_async keeps."""
        ib = self.connection.ib

        async def ask() -> None:
            req_id = ib.client.getReqId()
            future = ib.wrapper.startReq(req_id)  # type: ignore[no-untyped-call]
            ib.client.reqAccountSummary(  # type: ignore[no-untyped-call]
                req_id, "All", _SUMMARY_TAGS)
            try:
                await future
            finally:
                if ib.isConnected():
                    ib.client.cancelAccountSummary(req_id)  # type: ignore[no-untyped-call]

        await self.connection.request("accountSummary", ask, timeout, "reqAccountSummary")
        account = self.connection.account
        values = [*ib.wrapper.acctSummary.values(), *ib.accountValues(account)]
        return parsing.account_summary(values, account, datetime.now(UTC))
