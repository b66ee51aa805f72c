"""Issue #9 item 5: an event-publisher outage never fails, delays or blocks an order.

Publishing is after the fact and best effort (a bounded buffer with retry between the gate and
the transport). With Redis unreachable, orders and `flatten` closures go through; the outage is
audited once when it starts and once when it ends; every `broker.submit` record is followed by
its result; and what was buffered during the outage reaches Redis once it is back.

Real Redis (through a TCP relay the test can cut, or a port nothing listens on), real SQLite
audit file, the fake broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis

from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.redis.publisher import RedisStreamPublisher, decode_entry
from ordergate.adapters.redis.testing import delete_prefix
from ordergate.adapters.sqlite import SqliteAuditLog
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.results import OrderResultStatus
from ordergate.domain.events import RiskDecisionMade
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import OrderType
from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.signals import Signal
from ordergate.domain.values import ClientOrderId, Side, SignalId

pytestmark = pytest.mark.services

T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)
AAPL = Stock("AAPL")
WAIT = 30.0  # an upper bound for what the test waits on, never an assertion on time


class TcpRelay:
    """Forwards loopback connections to Redis; `cut()` closes the listener and every relayed
    connection (Redis is then unreachable), `restore()` listens again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def restore(self) -> None:
        self._server = await asyncio.start_server(
            self._relay, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers |= {writer, up_writer}
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Rig:
    def __init__(self, audit: SqliteAuditLog, redis_port: int) -> None:
        self.prefix = f"ordergate_test_{uuid.uuid4().hex[:12]}"
        self.clock = FakeClock(T0)
        self.broker = FakeBroker(self.clock, [AAPL])
        self.market = FakeMarketData(self.clock, [AAPL])
        self.audit = audit
        client = aioredis.Redis.from_url(
            f"redis://127.0.0.1:{redis_port}/0", socket_timeout=1, socket_connect_timeout=1
        )
        self.redis = RedisStreamPublisher(client, prefix=self.prefix, owns_client=True)
        self.gate = OrderGate(
            Ports(self.broker, self.market, audit, self.clock, self.redis),
            GateOptions(operator_id="CSATSPRIM"),
        )
        self.broker.set_price(AAPL, Decimal(100))
        self.market.set_price(AAPL, Decimal(100))

    async def kinds(self) -> list[str]:
        return [e.record.kind for e in await self.audit.query()]


def signal(sid: str, qty: int = 5) -> Signal:
    return Signal(SignalId(sid), AAPL, Side.BUY, T0, quantity=Decimal(qty))


async def open_audit(tmp_path: Path) -> SqliteAuditLog:
    return await SqliteAuditLog.open(tmp_path / "audit.db")


async def recorded(path: Path) -> list[tuple[str, dict[str, object]]]:
    """(kind, payload) of every record of the audit file, reopened after the gate closed it."""
    audit = await SqliteAuditLog.open(path)
    try:
        return [(e.record.kind, dict(e.record.payload)) for e in await audit.query()]
    finally:
        await audit.close()


async def assert_every_submit_has_its_result(path: Path) -> None:
    """Every `broker.submit` record is followed by the `broker.submit_result` of its orders."""
    pending: list[list[str]] = []
    submits = 0
    for kind, payload in await recorded(path):
        ids = payload.get("client_order_ids")
        if kind == "broker.submit":
            pending.append(list(ids))  # type: ignore[call-overload]
            submits += 1
        elif kind == "broker.submit_result":
            assert list(ids) in pending  # type: ignore[call-overload]
            pending.remove(list(ids))  # type: ignore[call-overload]
    assert submits > 0
    assert pending == []


async def test_orders_and_flatten_go_through_while_redis_is_unreachable(tmp_path: Path) -> None:
    rig = Rig(await open_audit(tmp_path), closed_port())
    async with rig.gate as gate:
        entries = [await gate.submit_signal(signal(f"S{n}")) for n in range(3)]
        await gate.settle()
        assert [r.status for [r] in entries] == [OrderResultStatus.SUBMITTED] * 3
        assert {gate.order_status(r.client_order_id).status for [r] in entries} == {
            OrderResultStatus.FILLED
        }
        assert gate.positions()[0].quantity == Decimal(15)

        closures = (await gate.flatten()).closures
        await gate.settle()
        assert [r.status for r in closures] == [OrderResultStatus.SUBMITTED]
        assert gate.positions() == []
        assert len(rig.broker.calls_to("submit")) == 4
        health = gate.publisher_health()
        assert (health.outages, health.in_outage, health.published) == (1, True, 0)
        assert (await rig.kinds()).count("publisher.outage_started") == 1
    records = await recorded(tmp_path / "audit.db")
    kinds = [kind for kind, _ in records]
    assert kinds.count("publisher.outage_started") == 1
    [ended] = [payload for kind, payload in records if kind == "publisher.outage_ended"]
    assert ended["recovered"] is False
    await assert_every_submit_has_its_result(tmp_path / "audit.db")


async def test_an_outage_is_audited_when_it_starts_and_ends_and_buffered_events_arrive(
    tmp_path: Path, redis_url: str
) -> None:
    target = urlsplit(redis_url)
    relay = TcpRelay(target.hostname or "127.0.0.1", target.port or 6379)
    await relay.restore()
    rig = Rig(await open_audit(tmp_path), relay.port)
    reader = aioredis.Redis.from_url(redis_url)
    try:
        async with rig.gate as gate:
            await gate.submit_signal(signal("UP-1"))
            await gate.settle()
            assert gate.publisher_health().published > 0

            await relay.cut()
            during = [await gate.submit_signal(signal(f"DOWN-{n}")) for n in range(3)]
            assert [r.status for [r] in during] == [OrderResultStatus.SUBMITTED] * 3
            await wait_for(lambda: gate.publisher_health().in_outage)

            await relay.restore()
            await wait_for(lambda: not gate.publisher_health().in_outage)
            assert await gate.settle() is None
            assert gate.publisher_health().buffered == 0
            assert gate.publisher_health().dropped == 0
        records = await recorded(tmp_path / "audit.db")
        kinds = [kind for kind, _ in records]
        assert kinds.count("publisher.outage_started") == 1
        assert kinds.index("publisher.outage_started") < kinds.index("publisher.outage_ended")
        [ended] = [payload for kind, payload in records if kind == "publisher.outage_ended"]
        assert ended["recovered"] is True
        assert int(ended["failed_attempts"]) >= 1  # type: ignore[call-overload]

        stream = rig.redis.all_events_stream
        assert stream is not None
        entries = await reader.xrange(stream)
        decisions = [
            event.decision.client_order_id.value
            for event in (decode_entry(fields) for _, fields in entries)
            if isinstance(event, RiskDecisionMade)
        ]
        assert decisions == ["UP-1-E", "DOWN-0-E", "DOWN-1-E", "DOWN-2-E"]
        await assert_every_submit_has_its_result(tmp_path / "audit.db")
    finally:
        await relay.cut()
        await delete_prefix(reader, rig.prefix)
        await reader.aclose()


async def test_a_submit_cancelled_while_the_broker_has_it_still_gets_its_result(
    tmp_path: Path,
) -> None:
    rig = Rig(await open_audit(tmp_path), closed_port())
    async with rig.gate as gate:
        await gate.submit_signal(signal("WARM"))  # AAPL is qualified and quoted
        rig.broker.stall(WAIT)  # the broker takes its time to answer the next call
        request = OrderRequest(
            ClientOrderId("SLOW-1"), AAPL, Side.BUY, Decimal(1), OrderType.MARKET
        )
        task = asyncio.create_task(gate.submit_request(request))
        await wait_for(lambda: len(rig.broker.calls_to("submit")) == 2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    results = [p for k, p in await recorded(tmp_path / "audit.db") if k == "broker.submit_result"]
    assert (results[-1]["client_order_ids"], results[-1]["status"]) == (["SLOW-1"], "INTERRUPTED")
    await assert_every_submit_has_its_result(tmp_path / "audit.db")


async def wait_for(condition: object) -> None:
    """Yield until `condition()` holds (bounded by WAIT seconds)."""
    assert callable(condition)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not condition():
        assert loop.time() < deadline, "condition never held"
        await asyncio.sleep(0.01)
