"""docs/events.md's JSON Schemas are generated from the event classes and up to date, and real
published payloads (a sim session's, through the gate, and one sample of every type) validate
against them."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import jsonschema

from ordergate.adapters.event_schema import event_schemas, event_types, events_markdown
from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.serialization import encode_event
from ordergate.adapters.sim.session import DAILY_BAR, SimSession
from ordergate.adapters.topics import TOPIC_NAMES
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.session import MomentumStrategyA, SessionRunner
from ordergate.application.testing.contracts.publisher import sample_events

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def validate(payload: dict[str, object]) -> None:
    schema = event_schemas()[str(payload["_type"])]
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(payload)


def test_the_doc_holds_the_schemas_generated_from_the_code() -> None:
    assert events_markdown() in DOC.read_text(), (
        "docs/events.md is stale: python -m ordergate.adapters.event_schema docs/events.md"
    )
    assert set(TOPIC_NAMES) == set(event_types())  # every event has its topic


def test_a_sample_of_every_type_validates_and_a_wrong_one_does_not() -> None:
    for event in sample_events():
        validate(json.loads(encode_event(event)))
    bad = json.loads(encode_event(sample_events()[1]))  # an ExecutionFill
    bad["quantity"] = 10.5  # a float where a decimal string belongs
    try:
        validate(bad)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("a float quantity passed the schema")


async def test_what_a_sim_session_publishes_validates_and_has_the_snapshots() -> None:
    sim = SimSession.build(["AAPL", "MSFT", "IBM"], bars=120, seed=7)
    publisher = InMemoryPublisher()
    gate = OrderGate(
        Ports(sim.broker, sim.market_data, InMemoryAuditLog(clock=sim.clock), sim.clock, publisher),
        GateOptions(
            operator_id="CSATSPRIM",
            snapshot_window=timedelta(days=120),
            snapshot_bar_size=DAILY_BAR,
            staleness_seconds=3 * 86_400,
        ),
    )
    stocks = [s for s in sim.stocks if s.symbol != "AAPL"]
    calls = [s for s in sim.stocks if s.symbol == "AAPL"]
    strategies = [
        MomentumStrategyA(stocks),
        MomentumStrategyA(calls, name="A-calls", option_picker=sim.pick_call),
    ]
    async with gate:
        await SessionRunner(gate, sim.pacer, strategies).run()
        await gate.publish_snapshots()
        await gate.settle()
    published = [(topic, json.loads(encode_event(event))) for topic, event in publisher.published]
    for _topic, payload in published:
        validate(payload)
    kinds = {payload["_type"] for _, payload in published}
    assert {"ExecutionFill", "PositionSnapshot", "PnLSnapshot", "RiskDecisionMade"} <= kinds
    fills = sum(1 for _, p in published if p["_type"] == "ExecutionFill")
    snapshots = sum(1 for _, p in published if p["_type"] == "PnLSnapshot")
    assert snapshots >= fills  # one after every fill (and the timer's)
    assert {t for t, p in published if p["_type"] == "PositionSnapshot"} == {"positions:stream"}
    assert {t for t, p in published if p["_type"] == "PnLSnapshot"} == {"pnl:stream"}
