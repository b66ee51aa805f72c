"""Prometheus metrics during a whole sim session: the figures scraped from the registry's
exposition equal what the audit log records for the same session (signals by outcome,
decisions, denials by reason, fills, breaker trips), and the gauges read the running gate."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from decimal import Decimal

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.fakes.signal_source import InMemorySignalSource
from ordergate.adapters.observability.metrics import PrometheusMetrics
from ordergate.adapters.serialization import decode_signal
from ordergate.adapters.sim.session import DAILY_BAR, SimSession
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.service import ServiceOptions, SignalService
from ordergate.application.session import MomentumStrategyA, SessionRunner
from ordergate.domain.risk.breakers import BreakerConfig
from ordergate.domain.signals import Signal
from ordergate.domain.values import Side, SignalId

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(metrics: PrometheusMetrics) -> Samples:
    """Every sample of the exposition text, parsed by prometheus_client's own parser."""
    text = generate_latest(metrics.registry).decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    return {
        dict(labels)[label]: value for (n, labels), value in samples.items() if n == name and value
    }


async def test_scraped_figures_equal_the_audit_log_of_the_session() -> None:
    sim = SimSession.build(["AAPL", "MSFT", "IBM"], bars=200, seed=7)
    audit = InMemoryAuditLog(clock=sim.clock)
    metrics = PrometheusMetrics()
    gate = OrderGate(
        Ports(sim.broker, sim.market_data, audit, sim.clock, InMemoryPublisher(), metrics=metrics),
        GateOptions(
            operator_id="CSATSPRIM",
            snapshot_window=timedelta(days=120),
            snapshot_bar_size=DAILY_BAR,
            staleness_seconds=3 * 86_400,
            # one losing trade trips a breaker: the session has trips to count
            breakers=BreakerConfig(max_consecutive_losses=1, cooldown=timedelta(days=3)),
        ),
    )
    metrics.watch(gate)
    source = InMemorySignalSource(sim.clock, visibility_timeout=30, decode=decode_signal)
    async with gate:
        await SessionRunner(gate, sim.pacer, [MomentumStrategyA(sim.stocks)]).run()
        # signals through the service: one gated, its duplicate, one malformed, one denied
        now = sim.clock.now()
        ibm = next(s for s in sim.stocks if s.symbol == "IBM")
        source.push(Signal(SignalId("svc-1"), ibm, Side.BUY, now, quantity=Decimal(1)))
        source.push(Signal(SignalId("svc-1"), ibm, Side.BUY, now, quantity=Decimal(1)))
        source.push_raw("{not json")
        source.push(Signal(SignalId("svc-2"), ibm, Side.BUY, now, quantity=Decimal(10**7)))
        service = SignalService(
            gate,
            source,
            sim.clock,
            options=ServiceOptions(receive_timeout=0.02, monitor_interval=None, max_signals=4),
        )
        await service.run(asyncio.Event())
        samples = scrape(metrics)  # while the gate still runs
        entries = [e.record for e in await audit.query()]
        state = gate.trading_state
        fills_in_portfolio = len(list(gate.portfolio.open_positions()))

    kinds = Counter(r.kind for r in entries)
    decisions = [r.payload for r in entries if r.kind == "risk.decision"]
    assert kinds["broker.fill"] > 0, "the session must fill orders to be a test"
    assert kinds["risk.breaker_tripped"] > 0, "the session must trip a breaker to be a test"

    # signals by outcome, as the audit log records them
    gated_ids = {d["request"]["signal_id"] for d in decisions if d["request"].get("signal_id")} & {
        "svc-1",
        "svc-2",
    }
    outcomes = by_label(samples, "ordergate_signals_total", "outcome")
    assert kinds["signal.malformed"] == outcomes.get("malformed", 0) == 1
    assert kinds["signal.duplicate"] == outcomes.get("duplicate", 0) == 1
    assert len(gated_ids) == outcomes.get("approved", 0) + outcomes.get("denied", 0)
    assert outcomes.get("denied", 0) >= 1
    # decisions and denials by reason code
    approved = sum(1 for d in decisions if d["approved"])
    assert approved == samples[("ordergate_decisions_total", (("outcome", "approved"),))]
    denied = len(decisions) - approved
    assert denied == samples[("ordergate_decisions_total", (("outcome", "denied"),))]
    reasons = Counter(x["code"] for d in decisions for x in d["denials"])
    assert reasons
    assert dict(reasons) == by_label(samples, "ordergate_denials_total", "reason")
    # fills and breakers
    fills = kinds["broker.fill"] + kinds["broker.fill_recovered"]
    assert fills == samples[("ordergate_fills_total", ())]
    trips = Counter(r.payload["breaker"] for r in entries if r.kind == "risk.breaker_tripped")
    assert dict(trips) == by_label(samples, "ordergate_breaker_trips_total", "breaker")
    assert len(entries) == samples[("ordergate_audit_appends_total", ())]
    # gauges read the running gate
    assert samples[("ordergate_trading_state", (("state", state.value),))] == 1
    assert samples[("ordergate_positions", ())] == fills_in_portfolio
    assert samples[("ordergate_signal_to_submit_seconds_count", ())] == 4
    assert samples[("ordergate_audit_append_seconds_count", ())] > 0
    assert samples[("ordergate_event_pump_lag_seconds_count", ())] > 0
    assert samples[("ordergate_broker_ack_seconds_count", ())] > 0
