"""Alerts to a real local webhook receiver (http.server in a thread): a tripped breaker, three
reconnects within the window and a broker rejection each arrive once, with the documented JSON,
and each is audited; a dead receiver does not slow trading (measured, reported, not asserted)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.observability.webhook import WebhookAlertSink
from ordergate.application.alerts import AlertRules
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.domain.risk.breakers import BreakerConfig
from ordergate.domain.risk.limits import RiskLimits
from ordergate.domain.signals import Signal
from ordergate.domain.values import Side, SignalId
from ordergate.ports.alert_sink import ALERT_RULES
from tests.unit._signal_rig import AAPL, T0

DOCUMENTED_KEYS = {"version", "rule", "severity", "summary", "ts", "operator_id", "details"}


class Receiver:
    """A real HTTP server on loopback that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                assert self.headers["Content-Type"] == "application/json"
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def dead_url() -> str:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/alerts"


def build(sink: WebhookAlertSink | None, **breakers: Any) -> tuple[OrderGate, FakeBroker, Any]:
    clock = FakeClock(T0)
    broker = FakeBroker(clock, [AAPL])
    market = FakeMarketData(clock, [AAPL])
    broker.set_price(AAPL, Decimal(100))
    market.set_price(AAPL, Decimal(100))
    audit = InMemoryAuditLog(clock=clock)
    gate = OrderGate(
        Ports(broker, market, audit, clock, InMemoryPublisher(), alerts=sink),
        GateOptions(
            operator_id="CSATSPRIM",
            breakers=BreakerConfig(**breakers),
            limits=RiskLimits(max_submit_rate=1_000_000, max_open_orders=1_000_000),
            alerts=AlertRules(reconnects=3, reconnect_window=timedelta(minutes=5)),
        ),
    )
    return gate, broker, audit


async def wait_for(condition: Any, seconds: float = 10.0) -> None:
    """Behavioural timeout: poll until `condition()` holds."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.01)


async def test_breaker_reconnects_and_rejection_each_arrive_once_and_are_audited(
    receiver: Receiver,
) -> None:
    sink = WebhookAlertSink(receiver.url, backoff=0.01)
    gate, broker, audit = build(sink, max_consecutive_rejections=1)
    async with gate:
        broker.reject_next("[201] Order rejected - reason: no permissions")
        await gate.submit_signal(Signal(SignalId("r-1"), AAPL, Side.BUY, T0, quantity=Decimal(5)))
        await gate.settle()
        for _ in range(3):
            broker.drop_connection()
            await gate.settle()
            broker.restore_connection()
            await gate.settle()
        wanted = {"breaker_tripped", "reconnects", "broker_rejection"}
        await wait_for(lambda: wanted <= {b["rule"] for b in receiver.bodies})
        await gate.settle()
    rules = [b["rule"] for b in receiver.bodies]
    assert 1 == rules.count("breaker_tripped")
    assert 1 == rules.count("reconnects")
    assert 1 == rules.count("broker_rejection")
    assert set(rules) <= set(ALERT_RULES)
    for body in receiver.bodies:
        assert DOCUMENTED_KEYS == set(body)
        assert 1 == body["version"]
        assert body["severity"] in {"critical", "warning", "info"}
        assert "CSATSPRIM" == body["operator_id"]
    by_rule = {b["rule"]: b for b in receiver.bodies}
    assert "consecutive_rejections" == by_rule["breaker_tripped"]["details"]["breaker"]
    assert 3 == by_rule["reconnects"]["details"]["reconnects"]
    assert "[201]" in by_rule["broker_rejection"]["details"]["reason"]
    audited = [
        e.record.payload for e in await InMemoryAuditLog(audit.store).query(kind="alert.raised")
    ]
    assert sorted(rules) == sorted(p["rule"] for p in audited)
    assert sink.stats.delivered == len(receiver.bodies)


async def submit_latency(sink: WebhookAlertSink | None, signals: int) -> tuple[list[float], int]:
    """Seconds of each signal → submit with a rejection every other signal (so every other
    signal raises an alert), and how many orders reached the broker."""
    gate, broker, _ = build(sink, max_consecutive_rejections=1_000)
    samples: list[float] = []
    async with gate:
        for n in range(signals):
            if n % 2:
                broker.reject_next(f"[201] rejected {n}")
            signal = Signal(
                SignalId(f"s-{n}"),
                AAPL,
                Side.BUY if n % 4 < 2 else Side.SELL,
                T0,
                quantity=Decimal(1),
            )
            started = time.perf_counter()
            await gate.submit_signal(signal)
            samples.append(time.perf_counter() - started)
            await gate.settle()
        sent = len(broker.calls_to("submit"))
    return samples, sent


async def test_a_dead_receiver_does_not_slow_trading(capsys: pytest.CaptureFixture[str]) -> None:
    signals = 40
    dead = WebhookAlertSink(dead_url(), retries=3, backoff=0.05, queue=5, close_timeout=0.5)
    none_samples, none_sent = await submit_latency(None, signals)
    dead_samples, dead_sent = await submit_latency(dead, signals)
    # behaviour: every signal was sent to the broker either way; alerts were queued and dropped
    assert signals == none_sent == dead_sent
    assert 0 == dead.stats.delivered
    assert dead.stats.dropped + dead.stats.failed > 0
    ratio = sorted(dead_samples)[signals // 2] / sorted(none_samples)[signals // 2]
    with capsys.disabled():
        print(f"\nsignal → submit p50, dead webhook receiver / no alerts: {ratio:.2f}x")
