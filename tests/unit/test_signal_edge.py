"""Hostile signal values are refused at the edge, by the domain, with the field and the limit
named, audited, and never sent (issue 10, signals 1-2)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from _signal_rig import AAPL, T0, Rig, signal  # shared test rig

from ordergate.adapters.fakes.signal_source import InMemorySignalSource
from ordergate.adapters.serialization import (
    MAX_SIGNAL_BYTES,
    MAX_SIGNAL_DEPTH,
    decode_signal,
    encode_signal,
)
from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import Stock
from ordergate.domain.signals import MAX_SIGNAL_QUANTITY, Signal, SignalWindow
from ordergate.domain.values import ClientOrderId, CorrelationId, Side, SignalId


def wire(**changes: Any) -> str:
    """The JSON of a valid signal with some keys replaced (None removes a key)."""
    document = json.loads(encode_signal(signal("S1")))
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return json.dumps(document)


# -- identifiers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("a\x00b", "printable characters only ('\\x00' at index 1"),
        ("x" * 1_048_576, "at most 64 characters (it has 1048576)"),
        ("x" * 100_000, "at most 64 characters (it has 100000)"),
        ("S\u202e1", "printable characters only"),  # a right-to-left override
        ("S 1", "printable ASCII without spaces"),
        ("Sé", "printable ASCII without spaces"),
        (" S1", "must not start or end with whitespace"),
        ("", "non-empty"),
    ],
)
def test_a_signal_id_has_a_length_and_character_rule(value: str, rule: str) -> None:
    with pytest.raises(InvalidValue) as error:
        SignalId(value)
    assert error.value.field == "SignalId.value"
    assert rule in str(error.value)
    assert len(str(error.value)) < 400  # a megabyte of id is not quoted back in full


@pytest.mark.parametrize("kind", [CorrelationId, ClientOrderId])
def test_every_identifier_refuses_control_characters_and_unbounded_length(kind: type) -> None:
    assert kind("AAPL  240119C00150000").value == "AAPL  240119C00150000"  # inner spaces: OK
    with pytest.raises(InvalidValue, match="printable"):
        kind("x\x00")
    with pytest.raises(InvalidValue, match="at most 128 characters"):
        kind("x" * 129)


def test_a_signal_id_nul_through_the_wire_is_malformed_not_submitted() -> None:
    with pytest.raises(InvalidValue) as error:
        decode_signal(wire(signal_id="S\u00001"))
    assert "signal_id" in str(error.value)
    assert "printable" in str(error.value)


def test_strategy_names_and_instrument_codes_are_bounded_text() -> None:
    with pytest.raises(InvalidValue, match="strategy: must be at most 64"):
        Signal(SignalId("S1"), AAPL, Side.BUY, T0, strategy="s" * 65)
    with pytest.raises(InvalidValue, match=r"Stock\.exchange: must hold printable characters"):
        Stock("AAPL", exchange="SMART\x00")
    with pytest.raises(InvalidValue, match=r"Stock\.symbol: must be at most 32"):
        Stock("A" * 33)


# -- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "rule"),
    [
        ("1e28", f"must be at most {MAX_SIGNAL_QUANTITY}"),
        ("1e400", f"must be at most {MAX_SIGNAL_QUANTITY}"),
        ("0.5", "multiple of the instrument's size increment 1"),
        ("1.00000000000000000000000000001", "at most 28 significant digits"),
    ],
)
def test_a_quantity_must_fit_the_instruments_precision(quantity: str, rule: str) -> None:
    with pytest.raises(InvalidValue) as error:
        Signal(SignalId("S1"), AAPL, Side.BUY, T0, quantity=Decimal(quantity))
    assert error.value.field == "Signal[S1].quantity"
    assert rule in str(error.value)


def test_prices_must_lie_on_the_tick_and_under_the_bound() -> None:
    with pytest.raises(InvalidValue, match="limit_price: must be a multiple of the instrument's"):
        Signal(SignalId("S1"), AAPL, Side.BUY, T0, limit_price=Decimal("100.001"))
    with pytest.raises(InvalidValue, match="stop_loss: must be at most"):
        Signal(SignalId("S1"), AAPL, Side.BUY, T0, stop_loss=Decimal("1e28"))
    ok = Signal(SignalId("S1"), AAPL, Side.BUY, T0, limit_price=Decimal("100.25"))
    assert ok.limit_price == Decimal("100.25")


def test_a_huge_tick_or_increment_from_the_wire_is_refused() -> None:
    with pytest.raises(InvalidValue, match="size_increment"):
        decode_signal(wire(instrument={"_type": "Stock", "symbol": "A", "size_increment": "1e-99"}))


# -- the decoder's bounds --------------------------------------------------------------------


def test_the_size_is_checked_first_and_named() -> None:
    text = wire(strategy="s" * MAX_SIGNAL_BYTES)
    with pytest.raises(InvalidValue) as error:
        decode_signal(text)
    assert f"must be at most {MAX_SIGNAL_BYTES} bytes" in str(error.value)


def test_the_depth_is_checked_without_recursion_before_parsing() -> None:
    for deep in ("[" * 5_000 + "]" * 5_000, "{" + '"a":[' * 9 + "]" * 9 + "}"):
        with pytest.raises(InvalidValue, match=f"at most {MAX_SIGNAL_DEPTH} deep"):
            decode_signal(deep)
    tricky = "[" * 30 + '"' + "{" * 30  # brackets inside a string do not nest
    assert decode_signal(wire(strategy=tricky)).strategy == tricky


def test_the_depth_scan_follows_json_string_escapes() -> None:
    # An escaped quote does not end the string, so the brackets after it do not count...
    tricky = '"' + "[" * 20 + '"' + "{" * 20  # in JSON: "\"[[[...\"{{{..."
    assert '\\"' + "[" * 20 in wire(strategy=tricky)
    assert decode_signal(wire(strategy=tricky)).strategy == tricky
    # ...but an escaped backslash does not escape the quote after it: what follows is structure.
    with pytest.raises(InvalidValue, match="at most 8 deep"):
        decode_signal('{"a": "\\\\", "b": ' + "[" * 9 + "]" * 9 + "}")
    with pytest.raises(InvalidValue, match="is not valid JSON"):  # unterminated, 16,001 bytes
        decode_signal('"' + '\\"' * 8_000)


def test_bytes_must_be_utf8_and_keys_unique() -> None:
    with pytest.raises(InvalidValue, match="is not valid UTF-8"):
        decode_signal(b'{"signal_id": "\xff"}')
    with pytest.raises(InvalidValue, match="'quantity' appears more than once"):
        decode_signal(wire()[:-1] + ', "quantity": "900"}')


# -- the clock window, through the service -----------------------------------------------------


@pytest.mark.parametrize("year", [1, 9999])
async def test_a_signal_far_from_the_clock_is_rejected_audited_and_quarantined(
    year: int,
) -> None:
    rig = Rig()
    rig.price("100")
    far = Signal(
        SignalId(f"Y{year}"), AAPL, Side.BUY, datetime(year, 1, 1, tzinfo=UTC), quantity=Decimal(1)
    )
    delivery_id = rig.source.push_raw(encode_signal(far))
    rig.source.push(signal("S2"))
    async with rig.gate:
        summary = await rig.service(max_signals=2).run(asyncio.Event())
        [rejected] = await rig.records("signal.rejected")
    assert (summary.rejected, summary.gated) == (1, 1)
    assert rejected["delivery_id"] == delivery_id
    assert rejected["field"] == f"Signal[Y{year}].ts"
    assert "must lie within 1:00:00 before and 0:01:00 after the clock" in str(rejected["error"])
    assert [d.delivery_id for d in rig.source.dead_letters] == [delivery_id]
    assert rig.source.pending == 0
    assert [c.argument("order").request.signal_id for c in rig.broker.calls_to("submit")] == [
        SignalId("S2")
    ]


async def test_the_facade_refuses_a_stale_signal_with_a_typed_error_and_a_record() -> None:
    rig = Rig()
    rig.price("100")
    stale = Signal(SignalId("OLD"), AAPL, Side.BUY, T0 - timedelta(hours=2), quantity=Decimal(1))
    async with rig.gate as gate:
        with pytest.raises(InvalidValue, match=r"Signal\[OLD\].ts: must lie within"):
            await gate.submit_signal(stale)
        [rejected] = await rig.records("signal.rejected")
        assert await gate.signal_decided(stale)
    assert rejected["signal_id"] == "OLD"
    assert rig.submits() == 0


def test_the_window_is_configurable_and_checked() -> None:
    window = SignalWindow(max_age=timedelta(0), max_ahead=timedelta(0))
    window.check(signal("S1"), T0)
    with pytest.raises(InvalidValue, match="0:00:00 before"):
        window.check(signal("S1"), T0 + timedelta(microseconds=1))
    with pytest.raises(InvalidValue, match="max_age"):
        SignalWindow(max_age=timedelta(seconds=-1))


# -- malformed deliveries -----------------------------------------------------------------------


async def test_a_malformed_delivery_is_audited_then_quarantined_once() -> None:
    rig = Rig()
    rig.price("100")
    poison = "[" * 5_000 + "]" * 5_000
    delivery_id = rig.source.push_raw(poison)
    rig.source.push(signal("S1"))
    async with rig.gate:
        summary = await rig.service(max_signals=2).run(asyncio.Event())
        [malformed] = await rig.records("signal.malformed")
    assert (summary.malformed, summary.gated) == (1, 1)
    assert malformed["delivery_id"] == delivery_id
    [letter] = rig.source.dead_letters
    assert (letter.delivery_id, letter.raw) == (delivery_id, poison)
    assert letter.reason.startswith("malformed: ")
    assert rig.source.pending == 0


async def test_a_decoder_that_raises_anything_makes_that_delivery_malformed_alone() -> None:
    def explode(text: str) -> Signal:
        raise RecursionError("maximum recursion depth exceeded")

    rig = Rig()
    source = InMemorySignalSource(rig.clock, decode=explode)
    source.push_raw("x")
    source.push(signal("S1"))
    bad, good = await source.receive(max_count=5, timeout=0.1)
    assert (bad.signal, "RecursionError" in bad.error) == (None, True)
    assert good.signal == signal("S1")


async def test_the_facade_refuses_what_is_not_a_signal_with_a_typed_error() -> None:
    rig = Rig()
    async with rig.gate as gate:
        with pytest.raises(InvalidValue, match=r"submit_signal\(signal\): must be a Signal"):
            await gate.submit_signal({"signal_id": "S1"})  # type: ignore[arg-type]
    assert rig.submits() == 0


async def test_a_rejected_signal_is_not_tried_again_after_a_restart() -> None:
    rig = Rig()
    rig.price("100")
    late = Signal(SignalId("LATE"), AAPL, Side.BUY, T0 + timedelta(minutes=5), quantity=Decimal(1))
    rig.source.push(late)
    async with rig.gate:
        first = await rig.service(max_signals=1).run(asyncio.Event())
    # After a restart the clock has caught up with LATE's ts; it arrives again.
    rig.clock.advance(5 * 60)
    rig.gate = rig.new_gate()
    rig.source.push(late)
    async with rig.gate:
        second = await rig.service(max_signals=1).run(asyncio.Event())
    assert (first.rejected, second.duplicates, second.gated) == (1, 1, 0)
    assert rig.submits() == 0
