"""Resync after every (re)connect: open orders, executions since the last one seen, the final
state of orders that ended while we were away, and positions — the broker is the source of truth.

`AppliedExecutions` is the set of execution ids already applied; seed it from outside
(`IbkrBroker(known_execution_ids=...)`) so an execution applied before a process restart is never
applied again. Every missed execution is published once, as `FillRecovered`. Resync must never
send an order, and never publish an execution id that is already in the set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from ib_async import ExecutionFilter, Trade
from ib_async.objects import Fill

from ordergate.adapters.ibkr import parsing
from ordergate.adapters.ibkr.connection import IbkrConnection
from ordergate.adapters.ibkr.orders import OrderRecord, OrderTracker
from ordergate.domain.errors import BrokerError
from ordergate.domain.events import PositionSnapshot
from ordergate.domain.orders import OrderEventKind
from ordergate.domain.values import ExecutionId

__all__ = ["AppliedExecutions", "Resync", "ResyncReport"]

_log = logging.getLogger(__name__)
K = OrderEventKind
_OVERLAP = timedelta(minutes=1)  # ask for a little more than needed; the id set dedupes


class AppliedExecutions:
    """Execution ids applied so far, and the time of the latest (where to resume from)."""

    def __init__(
        self, seed: Iterable[str | ExecutionId] = (), last_seen: datetime | None = None
    ) -> None:
        self._ids: set[str] = {str(e) for e in seed}
        self.last_seen = last_seen

    def __contains__(self, execution_id: object) -> bool:
        return str(execution_id) in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, execution_id: str | ExecutionId, ts: datetime | None = None) -> None:
        """Mark one execution applied (at `ts`, which moves `last_seen` forward)."""
        self._ids.add(str(execution_id))
        if ts is not None and (self.last_seen is None or ts > self.last_seen):
            self.last_seen = ts

    def ids(self) -> frozenset[str]:
        """Every applied id (to persist across a restart)."""
        return frozenset(self._ids)


@attrs.frozen
class ResyncReport:
    """What one resync found."""

    full: bool
    open_orders: int
    recovered_fills: int
    ended_orders: int
    lost_orders: int
    positions: int
    duration: timedelta


class Resync:
    """Rebuilds the tracker's view from the broker (see the module docstring)."""

    def __init__(
        self,
        connection: IbkrConnection,
        tracker: OrderTracker,
        publish: Callable[[Any], None],
        *,
        timeout: float = 10.0,
    ) -> None:
        self._connection = connection
        self._tracker = tracker
        self._publish = publish
        self._timeout = timeout
        self.reports: list[ResyncReport] = []

    async def run(self, full: bool) -> ResyncReport:
        """One resync; `full` also re-reads every execution of the day (IB 1101: data lost)."""
        started = time.perf_counter()
        ib = self._connection.ib
        tracker = self._tracker
        # never reuse an order id, even when the gateway rolled nextValidId back
        ib.client.updateReqId(tracker.max_order_id + 1)  # type: ignore[no-untyped-call]
        if full:  # IB 1101: the subscriptions were lost with the data
            await self._request("positions", ib.reqPositionsAsync, "resubscribe positions")
            account = self._connection.account
            if account:
                await self._request("accountValues", lambda: ib.reqAccountUpdatesAsync(account),
                                    "resubscribe account updates")
        open_trades = await self._request("openOrders", ib.reqOpenOrdersAsync, "reqOpenOrders")
        seen_open = self._adopt_open(open_trades)
        recovered = await self._recover_fills(full)
        ended, lost = await self._close_missing(seen_open)
        positions = await self._positions()
        ib.client.updateReqId(tracker.max_order_id + 1)  # type: ignore[no-untyped-call]
        report = ResyncReport(full, len(seen_open), recovered, ended, lost, positions,
                              timedelta(seconds=time.perf_counter() - started))
        self.reports.append(report)
        _log.info("resync: %s", report)
        return report

    async def _request(self, key: str, start: Callable[[], Any], what: str) -> Any:
        return await self._connection.request(key, start, self._timeout, f"resync: {what}")

    def _adopt_open(self, trades: list[Trade]) -> set[str]:
        seen: set[str] = set()
        for trade in trades:
            record = self._tracker.record_for(trade) or self._tracker.adopt(trade)
            if record is None:
                continue
            seen.add(str(record.client_order_id))
            self._tracker.max_order_id = max(self._tracker.max_order_id, trade.order.orderId)
            if trade.orderStatus.status in ("PreSubmitted", "Submitted"):
                self._tracker.on_status(trade)
        return seen

    async def _recover_fills(self, full: bool) -> int:
        applied = self._tracker.applied
        since = None if full or applied.last_seen is None else applied.last_seen - _OVERLAP
        flt = ExecutionFilter(time=parsing.ib_time(since) if since else "")
        fills: list[Fill] = await self._connection.request(
            None, lambda: self._connection.ib.reqExecutionsAsync(flt),
            self._timeout, "resync: reqExecutions")
        count = 0
        for fill in sorted(fills, key=lambda f: (f.execution.time, f.execution.execId)):
            if self._tracker.fill(fill, recovered=True):
                count += 1
            report = self._tracker.reported_commission(fill)
            if report is not None:
                self._tracker.commission(report)
        return count

    async def _close_missing(self, seen_open: set[str]) -> tuple[int, int]:
        generation = self._connection.generation
        missing = [
            r for r in self._tracker.records.values()
            if not r.finished and r.generation < generation and str(r.client_order_id)
            not in seen_open
        ]
        if not missing:
            return 0, 0
        ib = self._connection.ib
        done: list[Trade] = await self._request(
            "completedOrders", lambda: ib.reqCompletedOrdersAsync(True), "reqCompletedOrders")
        finals = {}
        for trade in done:
            ref = parsing.parse_order_ref(trade.order.orderRef)
            if ref is not None:
                finals[str(ref[1])] = trade.orderStatus.status
        ended = lost = 0
        now = await self._connection.server_time(timeout=self._timeout)
        for record in missing:
            status = finals.get(str(record.client_order_id))
            if status is None:
                lost += self._lost(record)
            else:
                ended += self._ended(record, status, now)
        return ended, lost

    def _ended(self, record: OrderRecord, status: str, now: datetime) -> int:
        tracker = self._tracker
        if status == "Filled":
            tracker.accept(record)  # the fills themselves came from the executions
            return 1
        if status == "Inactive":
            return int(tracker.lifecycle(record, K.REJECTED, "inactive at the broker"))
        expired = (not record.cancel_requested and record.expires_at is not None
                   and now >= record.expires_at)
        kind = K.EXPIRED if expired else K.CANCELED
        changed = tracker.lifecycle(record, kind, "ended while disconnected")
        tracker.settle_waiters(record)
        return int(changed)

    def _lost(self, record: OrderRecord) -> int:
        reason = "the order never reached the gateway (resync found no trace of it)"
        if record.ack is not None and not record.ack.done():
            record.reported = True
            record.ack.set_exception(BrokerError(f"order {record.client_order_id}: {reason}"))
        if record.reported:
            self._tracker.quietly(record, K.REJECTED, reason)
            return 1
        return int(self._tracker.lifecycle(record, K.REJECTED, reason))

    async def _positions(self) -> int:
        ib = self._connection.ib
        positions = await self._request("positions", ib.reqPositionsAsync, "reqPositions")
        now = datetime.now(UTC)
        count = 0
        for position in positions:
            if position.account != self._connection.account:
                continue
            instrument = self._tracker.contracts.instrument_for(position.contract)
            view = parsing.broker_position(position, instrument)
            avg = view.avg_cost if view.quantity else None
            self._publish(PositionSnapshot(instrument.id, view.quantity, avg, now, now))
            count += 1
        return count
