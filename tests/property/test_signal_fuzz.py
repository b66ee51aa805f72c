"""Fuzz the signal service with hostile deliveries (issue 10, signals 4): seeded and bounded.

`SEED` and `DELIVERIES` fix the run (replay one by changing nothing). Every delivery goes through
the real `SignalService` loop over a real source — the Redis stream (`RedisSignalSource`, most
of the volume) and the in-memory source — into a gate on fakes. Hostile deliveries bend a valid
signal's JSON structure, types, sizes, encodings, ids, numbers and times; valid signals and
duplicates (of valid and of hostile payloads) are mixed in. Asserted:

- the loop survives: it stops only at its delivery limit, with no source error;
- every delivery is acknowledged (acked or quarantined) exactly once and has one audited
  outcome; nothing is left pending;
- nothing hostile reaches the broker: every order sent is one of the valid signals, as built;
  every valid signal was decided by the risk gate exactly once;
- quarantined deliveries are exactly the malformed and rejected ones, one dead letter each;
- a valid signal sent afterwards is processed (approved and submitted).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog, MemoryAuditStore
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.fakes.signal_source import InMemorySignalSource
from ordergate.adapters.serialization import MAX_SIGNAL_BYTES, decode_signal, encode_signal
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.service import ServiceOptions, SignalService
from ordergate.domain.instruments import Stock
from ordergate.domain.risk.limits import RiskLimits
from ordergate.domain.signals import Signal
from ordergate.domain.values import Side, SignalId
from ordergate.ports.signal_source import SignalDelivery, SignalSource

SEED = 20_261_207
DELIVERIES = 1_200
T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)
AAPL = Stock("AAPL")
Payload = str | bytes


# -- the generator -------------------------------------------------------------------------------


class Generator:
    """Seeded hostile deliveries. `valid` maps each valid signal id to its signal; every hostile
    payload carries an id starting with `H` (or none), never one of `valid`."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.valid: dict[str, Signal] = {}
        self.sent: list[Payload] = []
        self.expect: list[str] = []  # per payload: gated, duplicate, malformed or rejected
        self.n = 0
        self.kinds: Counter[str] = Counter()

    def valid_signal(self, sid: str, ts: datetime = T0) -> Signal:
        return Signal(SignalId(sid), AAPL, Side.BUY, ts, strategy="fuzz", quantity=Decimal(1))

    def document(self) -> dict[str, Any]:
        self.n += 1
        doc: dict[str, Any] = json.loads(encode_signal(self.valid_signal(f"H{self.n}")))
        return doc

    def next(self) -> Payload:
        rng = self.rng
        roll = rng.random()
        if roll < 0.15:
            kind, payload, expect = "valid", self._valid(), "gated"
        elif roll < 0.22 and self.valid:
            kind, expect = "duplicate_valid", "duplicate"
            payload = encode_signal(rng.choice(list(self.valid.values())))
        elif roll < 0.27 and self.sent:
            kind = "duplicate_any"
            index = rng.randrange(len(self.sent))
            payload, earlier = self.sent[index], self.expect[index]
            expect = "malformed" if earlier == "malformed" else "duplicate"
        else:
            kind, mutate = rng.choice(MUTATIONS)
            payload = mutate(self, self.document())
            expect = "rejected" if kind == "far_time" else "malformed"
        self.kinds[kind] += 1
        self.sent.append(payload)
        self.expect.append(expect)
        return payload

    def _valid(self) -> str:
        sid = f"V{len(self.valid) + 1}"
        self.valid[sid] = self.valid_signal(sid)
        return encode_signal(self.valid[sid])

    def field(self, doc: dict[str, Any]) -> str:
        return self.rng.choice(sorted(doc))

    def nest(self, depth: int) -> Any:
        value: Any = 1
        for _ in range(depth):
            value = [value] if self.rng.random() < 0.5 else {"a": value}
        return value


def _dumps(doc: Any) -> str:
    return json.dumps(doc)


def deep_nesting(g: Generator, doc: dict[str, Any]) -> Payload:
    depth = g.rng.choice([9, 12, 50, 1_000, 5_000])
    if depth > 500:  # the raw text: json.dumps itself would recurse too deep
        return '{"signal_id": "H", "x": ' + "[" * depth + "]" * depth + "}"
    doc[g.field(doc)] = g.nest(depth)
    return _dumps(doc)


def not_an_object(g: Generator, doc: dict[str, Any]) -> Payload:
    return g.rng.choice(["[]", "null", "true", "1", '"signal"', "[" + _dumps(doc) + "]", ""])


def truncated(g: Generator, doc: dict[str, Any]) -> Payload:
    text = _dumps(doc)
    return text[: g.rng.randrange(0, len(text) - 1)]


def missing_key(g: Generator, doc: dict[str, Any]) -> Payload:
    doc.pop(g.rng.choice(["signal_id", "instrument", "side", "ts"]))
    return _dumps(doc)


def extra_key(g: Generator, doc: dict[str, Any]) -> Payload:
    doc[g.rng.choice(["bogus", "account", "Signal_id", "quantity "])] = "x"
    return _dumps(doc)


def repeated_key(g: Generator, doc: dict[str, Any]) -> Payload:
    key = g.field(doc)
    return _dumps(doc)[:-1] + f", {json.dumps(key)}: {json.dumps(doc[key])}}}"


def wrong_tag(g: Generator, doc: dict[str, Any]) -> Payload:
    choice = g.rng.randrange(3)
    if choice == 0:
        doc["_type"] = g.rng.choice(["Order", "signal", "", 1])
    elif choice == 1:
        doc["version"] = g.rng.choice([0, 2, "1", "1.0", None])
    else:
        doc["instrument"]["_type"] = g.rng.choice(["Bond", "stock", None])
    return _dumps(doc)


WRONG_TYPES: dict[str, list[Any]] = {
    "signal_id": [1, 1.5, None, True, [], {}, ["V1"]],
    "side": ["buy", "SIDEWAYS", 1, None, ["BUY"]],
    "ts": [0, 1.7e9, None, [], "yesterday", "2024-01-08", "2024-01-08T15:00:00"],
    "quantity": [1.0, True, [], {}, "one", "NaN", "Infinity", "-1", "0", "1e28", "1e-30", "0.5"],
    "confidence": [2, "1.5", "-0.1", 0.5, "NaN", []],
    "order_type": ["MKT ", "", 3, None],
    "time_in_force": ["FOREVER", 1, None],
    "limit_price": ["100.001", "-1", "0", 100.0, "1e30"],
    "instrument": [None, "AAPL", [], 1, {"_type": "Stock"}],
}


def wrong_type(g: Generator, doc: dict[str, Any]) -> Payload:
    key = g.rng.choice(sorted(WRONG_TYPES))
    doc[key] = g.rng.choice(WRONG_TYPES[key])
    return _dumps(doc)


def oversized(g: Generator, doc: dict[str, Any]) -> Payload:
    size = g.rng.choice([MAX_SIGNAL_BYTES + 1, 40_000, 200_000, 1_048_576])
    key = g.rng.choice(["signal_id", "strategy", "padding"])
    doc[key] = "x" * size
    return _dumps(doc)


def many_keys(g: Generator, doc: dict[str, Any]) -> Payload:
    for number in range(g.rng.choice([50, 2_000])):
        doc[f"k{number}"] = number
    return _dumps(doc)


def bad_encoding(g: Generator, doc: dict[str, Any]) -> Payload:
    text = _dumps(doc)
    choice = g.rng.randrange(5)
    if choice == 0:  # a byte that is not UTF-8, inside the id
        return text.encode().replace(b'"H', b'"\xffH', 1)
    if choice == 1:
        return text.encode("utf-16")
    if choice == 2:
        return "\ufeff" + text
    if choice == 3:  # an overlong encoding of '"'
        return text.encode().replace(b'"H', b'"\xc0\xa2H', 1)
    return text.replace('"H', '"\\ud800H', 1)  # a lone surrogate, escaped in JSON


def hostile_id(g: Generator, doc: dict[str, Any]) -> Payload:
    sid = doc["signal_id"]
    doc["signal_id"] = g.rng.choice(
        [
            f"{sid}\u0000",
            f"\u0000{sid}",
            f"{sid}\n",
            f" {sid}",
            f"{sid} X",
            f"{sid}\u202e",
            f"{sid}é",
            f"{sid}\u200b",
            "",
            "   ",
            sid + "x" * g.rng.choice([64, 100_000 // 2]),
        ]
    )
    if g.rng.random() < 0.3:
        doc["correlation_id"] = g.rng.choice(["\u0000", "x" * 129, " c"])
        doc["signal_id"] = sid + "\u0000"
    return _dumps(doc)


def hostile_instrument(g: Generator, doc: dict[str, Any]) -> Payload:
    instrument = doc["instrument"]
    key, value = g.rng.choice(
        [
            ("symbol", "aapl"),
            ("symbol", "AA\u0000PL"),
            ("symbol", "A" * 33),
            ("exchange", "SMART\u0000"),
            ("currency", "US D"),
            ("tick_size", "0"),
            ("tick_size", "1e-99"),
            ("size_increment", "1e30"),
            ("size_increment", "-1"),
        ]
    )
    instrument[key] = value
    return _dumps(doc)


def far_time(g: Generator, doc: dict[str, Any]) -> Payload:
    """Valid JSON and values, but a time outside the clock's window: rejected, not malformed."""
    when = g.rng.choice(
        [
            datetime(1, 1, 1, tzinfo=UTC),
            datetime(9999, 12, 31, tzinfo=UTC),
            T0 - timedelta(hours=2),
            T0 + timedelta(minutes=5),
        ]
    )
    doc["ts"] = when.isoformat()
    return _dumps(doc)


def non_utc_time(g: Generator, doc: dict[str, Any]) -> Payload:
    doc["ts"] = g.rng.choice(["2024-01-08T10:00:00-05:00", "2024-01-08T15:00:00", "15:00"])
    return _dumps(doc)


MUTATIONS: list[tuple[str, Callable[[Generator, dict[str, Any]], Payload]]] = [
    (function.__name__, function)
    for function in (
        deep_nesting,
        not_an_object,
        truncated,
        missing_key,
        extra_key,
        repeated_key,
        wrong_tag,
        wrong_type,
        oversized,
        many_keys,
        bad_encoding,
        hostile_id,
        hostile_instrument,
        far_time,
        non_utc_time,
    )
]


# -- the rig ---------------------------------------------------------------------------------


class Counting:
    """A `SignalSource` around the real one that counts what the service does per delivery."""

    def __init__(self, inner: SignalSource) -> None:
        self.inner = inner
        self.received: list[SignalDelivery] = []
        self.settled: Counter[str] = Counter()  # acks + quarantines per delivery id
        self.quarantined: list[str] = []

    async def receive(self, *, max_count: int, timeout: float) -> list[SignalDelivery]:
        deliveries = await self.inner.receive(max_count=max_count, timeout=timeout)
        self.received += deliveries
        return deliveries

    async def ack(self, delivery_id: str) -> None:
        self.settled[delivery_id] += 1
        await self.inner.ack(delivery_id)

    async def quarantine(self, delivery_id: str, reason: str) -> None:
        self.settled[delivery_id] += 1
        self.quarantined.append(delivery_id)
        await self.inner.quarantine(delivery_id, reason)

    async def close(self) -> None:
        await self.inner.close()


class Transport:
    """Where deliveries are pushed and how their leftovers are inspected."""

    source: SignalSource

    async def push(self, payloads: list[Payload]) -> list[str]:
        raise NotImplementedError

    async def pending(self) -> int:
        raise NotImplementedError

    async def dead_letter_ids(self) -> list[str]:
        raise NotImplementedError


class RedisTransport(Transport):
    def __init__(self, harness: Any) -> None:
        self.harness = harness
        self.source = harness.source

    async def push(self, payloads: list[Payload]) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(payloads), 200):
            pipe = self.harness.client.pipeline(transaction=False)
            for payload in payloads[start : start + 200]:
                pipe.xadd(self.harness.stream, {"data": payload})
            ids += [entry.decode() for entry in await pipe.execute()]
        return ids

    async def pending(self) -> int:
        summary = await self.harness.client.xpending(self.harness.stream, "contract")
        return int(summary["pending"])

    async def dead_letter_ids(self) -> list[str]:
        stream = self.harness.redis_source.dead_letter_stream
        entries = await self.harness.client.xrange(stream)
        return [fields[b"delivery_id"].decode() for _id, fields in entries]


class MemoryTransport(Transport):
    def __init__(self, clock: FakeClock) -> None:
        self.fake = InMemorySignalSource(clock, visibility_timeout=30, decode=decode_signal)
        self.source = self.fake

    async def push(self, payloads: list[Payload]) -> list[str]:
        # The in-memory source carries text: bytes that are not UTF-8 become lone surrogates.
        return [
            self.fake.push_raw(p if isinstance(p, str) else p.decode("utf-8", "surrogateescape"))
            for p in payloads
        ]

    async def pending(self) -> int:
        return self.fake.pending

    async def dead_letter_ids(self) -> list[str]:
        return [letter.delivery_id for letter in self.fake.dead_letters]


Transports = Callable[[FakeClock], Transport]


@pytest.fixture(params=["redis", "memory"])
async def transports(request: pytest.FixtureRequest) -> AsyncIterator[Transports]:
    if request.param == "memory":
        yield MemoryTransport
        return
    url = request.getfixturevalue("redis_url")  # skips (fails under CI) without Redis
    from ordergate.adapters.redis.testing import RedisSignalSourceHarness

    harness = await RedisSignalSourceHarness.create(url, visibility_timeout=60)
    try:
        yield lambda _clock: RedisTransport(harness)
    finally:
        await harness.close()


def gate_on_fakes(clock: FakeClock, audit: InMemoryAuditLog, broker: FakeBroker) -> OrderGate:
    market = FakeMarketData(clock, [AAPL])
    market.set_price(AAPL, Decimal(100))
    broker.set_price(AAPL, Decimal(100))
    # Room for every valid signal: the fuzz is about the edge, not about the limits.
    limits = RiskLimits(max_submit_rate=10_000, max_open_orders=10_000)
    ports = Ports(broker, market, audit, clock, InMemoryPublisher())
    return OrderGate(ports, GateOptions(operator_id="FUZZ", limits=limits))


# -- the test --------------------------------------------------------------------------------


async def test_hostile_deliveries_never_crash_stall_or_slip_through(
    transports: Transports,
) -> None:
    generator = Generator(SEED)
    payloads = [generator.next() for _ in range(DELIVERIES)]
    assert len(MUTATIONS) + 3 == len(generator.kinds)  # every kind was generated
    clock = FakeClock(T0)
    transport = transports(clock)
    broker = FakeBroker(clock, [AAPL])
    audit = InMemoryAuditLog(MemoryAuditStore(), clock=clock)
    source = Counting(transport.source)
    pushed = await transport.push(payloads)
    expected_outcome = dict(zip(pushed, generator.expect, strict=True))

    async with gate_on_fakes(clock, audit, broker) as gate:
        options = ServiceOptions(
            max_count=100, receive_timeout=0.5, monitor_interval=None, max_signals=DELIVERIES
        )
        summary = await asyncio.wait_for(
            SignalService(gate, source, clock, options=options).run(asyncio.Event()), 60
        )
        # A valid signal sent afterwards is processed: approved and submitted.
        clock.advance(1)
        final = generator.valid_signal("FINAL", clock.now())
        [final_id] = await transport.push([encode_signal(final)])
        expected_outcome[final_id] = "gated"
        options = attrs.evolve(options, max_signals=1)
        final_summary = await asyncio.wait_for(
            SignalService(gate, source, clock, options=options).run(asyncio.Event()), 20
        )
        records = [entry.record for entry in await audit.query()]

    # The loop survived, and stopped only at its limit.
    assert summary.stopped_because == f"max signals ({DELIVERIES}) reached"
    assert (summary.source_errors, summary.unacked, summary.failed) == (0, 0, 0)
    # Every delivery arrived once and was acknowledged exactly once; nothing is pending.
    delivered = [d.delivery_id for d in source.received]
    assert sorted(delivered) == sorted(expected_outcome)
    assert set(source.settled.values()) == {1}
    assert set(source.settled) == set(delivered)
    assert await transport.pending() == 0
    # Every delivery has exactly one audited outcome, the one its payload deserves.
    outcome: dict[str, list[str]] = {d: [] for d in delivered}
    for record in records:
        if "delivery_id" in record.payload:
            outcome[str(record.payload["delivery_id"])].append(record.kind.split(".")[1])
    decided = Counter(
        r.payload["request"]["signal_id"] for r in records if r.kind == "risk.decision"
    )
    for delivery in source.received:
        if delivery.signal is not None and not outcome[delivery.delivery_id]:
            assert decided[delivery.signal.signal_id.value] == 1
            outcome[delivery.delivery_id].append("gated")
    wrong = {
        d: (outcome[d], expected_outcome[d])
        for d in delivered
        if outcome[d] != [expected_outcome[d]]
    }
    assert wrong == {}
    # Nothing hostile reached the broker; every valid signal was decided exactly once.
    expected = {**generator.valid, "FINAL": final}
    assert decided == Counter(dict.fromkeys(expected, 1))
    for call in broker.calls_to("submit"):
        request = call.argument("order").request
        sent = expected[request.signal_id.value]
        assert (request.instrument, request.side, request.quantity) == (
            sent.instrument,
            sent.side,
            sent.quantity,
        )
    # Quarantined: exactly the malformed and rejected deliveries, one dead letter each.
    counts = Counter(generator.expect)
    assert (summary.malformed, summary.rejected) == (counts["malformed"], counts["rejected"])
    assert (summary.duplicates, summary.gated) == (counts["duplicate"], counts["gated"])
    assert len(source.quarantined) == summary.malformed + summary.rejected
    assert sorted(await transport.dead_letter_ids()) == sorted(source.quarantined)
    sent_ids = [c.argument("order").request.signal_id.value for c in broker.calls_to("submit")]
    assert sent_ids.count("FINAL") == 1
    assert final_summary.gated == 1
    assert final_summary.status_counts()["DENIED"] == 0
