"""Framing and handshake of the TWS gateway emulator: bytes in, messages out, versions agreed."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ordergate.adapters.gateway_sim.framing import (
    SERVER_MAX_VERSION,
    ClientGreeting,
    FrameDecoder,
    FramingError,
    UnsupportedClientVersion,
    encode_field,
    encode_frame,
    encode_message,
    negotiate_version,
    parse_greeting,
)


def test_fields_are_rendered_as_ib_expects() -> None:
    rendered = [
        encode_field(v)
        for v in (None, True, False, 7, Decimal("1.50"), Decimal("100"), "x",
                  datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    ]
    assert rendered == ["", "1", "0", "7", "1.5", "100", "x", "20260102 03:04:05 UTC"]


def test_encoding_refuses_values_that_would_corrupt_the_stream() -> None:
    with pytest.raises(FramingError):
        encode_field("a\0b")
    with pytest.raises(FramingError):
        encode_field(Decimal("NaN"))
    with pytest.raises(FramingError):
        encode_field(datetime(2026, 1, 2))


def test_a_frame_is_a_length_prefix_and_nul_terminated_fields() -> None:
    frame = encode_message([9, 1, 42])
    assert frame == struct.pack(">I", 7) + b"9\x001\x0042\x00"


def test_decoder_returns_whole_messages_in_order() -> None:
    decoder = FrameDecoder()
    data = encode_frame(["15", "1", "DU1"]) + encode_frame(["9", "1", "5"])
    assert decoder.feed(data) == [["15", "1", "DU1"], ["9", "1", "5"]]


def test_decoder_buffers_partial_frames_byte_by_byte() -> None:
    decoder = FrameDecoder()
    data = encode_frame(["71", "2", "1", ""]) + encode_frame(["61", "1"])
    out: list[list[str]] = []
    for i in range(len(data)):
        out += decoder.feed(data[i : i + 1])
    assert out == [["71", "2", "1", ""], ["61", "1"]]
    assert decoder.pending_bytes == 0


def test_decoder_keeps_empty_fields() -> None:
    assert FrameDecoder().feed(encode_frame(["1", "", "", "x"])) == [["1", "", "", "x"]]


def test_decoder_rejects_an_absurd_frame_length() -> None:
    decoder = FrameDecoder(max_frame_bytes=1000)
    with pytest.raises(FramingError, match="exceeds"):
        decoder.feed(struct.pack(">I", 10_000) + b"x")


def test_greeting_of_ib_async_is_a_version_range() -> None:
    assert parse_greeting(["v157..178"]) == ClientGreeting(157, 178, "")


def test_greeting_may_carry_connect_options_and_a_single_version() -> None:
    assert parse_greeting(["v100..187 +PACEAPI"]) == ClientGreeting(100, 187, "+PACEAPI")
    assert parse_greeting(["v176"]) == ClientGreeting(176, 176, "")


@pytest.mark.parametrize("text", ["157..178", "vabc", "v178..157", ""])
def test_malformed_greetings_are_refused(text: str) -> None:
    with pytest.raises(FramingError):
        parse_greeting([text])


def test_negotiation_picks_the_highest_common_version() -> None:
    assert negotiate_version(ClientGreeting(157, 178)) == 178
    assert negotiate_version(ClientGreeting(100, 200)) == SERVER_MAX_VERSION
    assert negotiate_version(ClientGreeting(157, 176)) == 176


def test_negotiation_refuses_clients_below_the_minimum() -> None:
    with pytest.raises(UnsupportedClientVersion, match="upgrade"):
        negotiate_version(ClientGreeting(100, 151))
