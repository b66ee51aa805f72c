"""The JSON edge: canonical audit bytes, the chain hash, verify_chain, readable bad-input errors.

The golden values freeze the on-disk format: if one changes, every stored chain stops verifying.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest

from ordergate.adapters.serialization import (
    GENESIS_HASH,
    AuditKeyError,
    RetentionViolation,
    canonical_record_json,
    chain_hash,
    decode_anchor,
    decode_event,
    decode_signal,
    encode_anchor,
    encode_event,
    encode_signal,
    format_ts,
    hmac_key_from_env,
    retention_limit,
    verify_chain,
)
from ordergate.domain.audit import AuditHead, AuditRecord
from ordergate.domain.errors import InvalidValue
from ordergate.domain.events import OrderEventKind, OrderLifecycleEvent
from ordergate.domain.instruments import OptionContract, OptionRight, Stock
from ordergate.domain.signals import Signal
from ordergate.domain.values import ClientOrderId, CorrelationId, Side, SignalId

TS = datetime(2024, 3, 5, 15, 0, 0, 123456, tzinfo=UTC)
RECORD = AuditRecord(
    "risk.decision",
    TS,
    {"qty": "10", "approved": True, "codes": ["B", "A"], "nested": {"z": None, "a": 1}},
    CorrelationId("corr-1"),
)
GOLDEN_BODY = (
    b'{"correlation_id":"corr-1","kind":"risk.decision","payload":{"approved":true,'
    b'"codes":["B","A"],"nested":{"a":1,"z":null},"qty":"10"},'
    b'"ts":"2024-03-05T15:00:00.123456+00:00"}'
)
GOLDEN_HASH = "436511c1a7cbb3140b75d3def01f9a63302c1d04d2a0aabfc7d9c48ed3caeb8e"
GOLDEN_HMAC = "74a68092b5c1e3151b42c3a610ffe3ad859c646cf2670048e7a911a8751d9942"


def signal_json(**changes: object) -> str:
    signal = Signal(SignalId("S-1"), Stock("AAPL"), Side.BUY, TS, quantity=Decimal(5))
    document = json.loads(encode_signal(signal))
    document.update(changes)
    return json.dumps(document)


def chain(bodies: list[bytes]) -> list[tuple[int, bytes, bytes, bytes]]:
    rows, prev = [], bytes(32)
    for sequence, body in enumerate(bodies, start=1):
        digest = chain_hash(prev, body)
        rows.append((sequence, prev, digest, body))
        prev = digest
    return rows


def test_canonical_bytes_are_sorted_compact_and_stable() -> None:
    assert GOLDEN_BODY == canonical_record_json(RECORD)


def test_chain_hash_is_sha256_over_previous_hash_and_body() -> None:
    expected = hashlib.sha256(bytes(32) + GOLDEN_BODY).hexdigest()
    assert (GOLDEN_HASH, GOLDEN_HASH) == (expected, chain_hash(bytes(32), GOLDEN_BODY).hex())


def test_keyed_chain_hash_is_hmac_sha256() -> None:
    expected = hmac.new(b"key", bytes(32) + GOLDEN_BODY, "sha256").hexdigest()
    assert (GOLDEN_HMAC, GOLDEN_HMAC) == (
        expected,
        chain_hash(bytes(32), GOLDEN_BODY, b"key").hex(),
    )


def test_genesis_hash_is_64_zeros() -> None:
    assert "0" * 64 == GENESIS_HASH


def test_another_utc_tzinfo_writes_the_same_bytes() -> None:
    local = datetime(2024, 3, 5, 15, 0, 0, 123456, tzinfo=ZoneInfo("UTC"))
    assert GOLDEN_BODY == canonical_record_json(
        AuditRecord(RECORD.kind, local, RECORD.payload, RECORD.correlation_id)
    )


def test_a_whole_second_still_writes_six_microsecond_digits() -> None:
    record = AuditRecord("k", datetime(2024, 3, 5, 15, 0, tzinfo=UTC), {})
    assert canonical_record_json(record).endswith(b'"ts":"2024-03-05T15:00:00.000000+00:00"}')


def test_canonical_bytes_equal_json_dumps_of_the_whole_record() -> None:
    payload = MappingProxyType({"é": ("x", 2), "a": {"b": [None, False]}, "s": 'q"\\\u2028'})
    record = AuditRecord("kind\n", TS, payload, None)
    expected = json.dumps(
        {"correlation_id": None, "kind": "kind\n", "payload": dict(payload), "ts": format_ts(TS)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert expected.encode("utf-8") == canonical_record_json(record)


def test_float_deep_in_a_payload_is_refused_naming_its_path() -> None:
    payload: dict[str, object] = {"legs": [{"px": "1"}]}
    record = AuditRecord("k", TS, payload)
    payload["legs"] = [{"px": 1.5}]
    with pytest.raises(InvalidValue, match=r"payload\.legs\[0\]\.px"):
        canonical_record_json(record)


def test_verify_chain_accepts_an_intact_chain() -> None:
    result = verify_chain(chain([b"a", b"b", b"c"]))
    assert (True, 3, None) == (result.ok, result.checked, result.first_bad_sequence)


def test_verify_chain_names_a_changed_body() -> None:
    rows = chain([b"a", b"b", b"c"])
    rows[1] = (2, rows[1][1], rows[1][2], b"B")
    result = verify_chain(rows)
    assert (False, 2, 1) == (result.ok, result.first_bad_sequence, result.checked)


def test_verify_chain_names_a_broken_link() -> None:
    rows = chain([b"a", b"b", b"c"])
    forged_prev = bytes(32)
    rows[2] = (3, forged_prev, chain_hash(forged_prev, b"c"), b"c")
    result = verify_chain(rows)
    assert (False, 3) == (result.ok, result.first_bad_sequence)
    assert "link" in result.reason


def test_verify_chain_names_a_missing_record() -> None:
    rows = chain([b"a", b"b", b"c"])
    del rows[1]
    result = verify_chain(rows)
    assert (False, 2) == (result.ok, result.first_bad_sequence)
    assert "missing" in result.reason


def test_verify_chain_starts_from_an_anchor_after_a_purge() -> None:
    rows = chain([b"a", b"b", b"c"])
    result = verify_chain(rows[1:], first_sequence=2, anchor=rows[0][2])
    assert (True, 2) == (result.ok, result.checked)


def test_extra_key_is_refused_naming_the_key() -> None:
    with pytest.raises(InvalidValue, match=r"extra fields found \(bogus\)"):
        decode_signal(signal_json(bogus=1))


def test_wrong_type_is_refused_naming_the_key() -> None:
    with pytest.raises(InvalidValue, match=r"\$\.quantity") as caught:
        decode_signal(signal_json(quantity=2.5))
    assert "float" in str(caught.value)


def test_wrong_enum_value_is_refused_naming_the_key() -> None:
    with pytest.raises(InvalidValue, match=r"'UP' is not a valid Side.*\$\.side"):
        decode_signal(signal_json(side="UP"))


def test_domain_rule_violation_keeps_the_domain_message() -> None:
    with pytest.raises(InvalidValue, match=r"confidence: must be <= 1"):
        decode_signal(signal_json(confidence="1.5"))


def test_missing_field_is_named() -> None:
    document = json.loads(signal_json())
    del document["instrument"]
    with pytest.raises(InvalidValue, match=r"required field missing @ \$\.instrument"):
        decode_signal(json.dumps(document))


def test_signal_without_tag_and_version_is_accepted() -> None:
    document = json.loads(signal_json())
    del document["_type"], document["version"]
    assert SignalId("S-1") == decode_signal(json.dumps(document)).signal_id


def test_signal_of_an_unknown_version_is_refused() -> None:
    with pytest.raises(InvalidValue, match="unsupported signal version 2"):
        decode_signal(signal_json(version=2))


def test_unknown_event_tag_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(InvalidValue, match=r"_type.*ExecutionFill"):
        decode_event('{"_type": "OrderTeleported"}')


def test_text_that_is_not_json_is_refused() -> None:
    with pytest.raises(InvalidValue, match="not valid JSON"):
        decode_event("{oops")


def test_event_json_is_tagged_and_decimals_and_times_are_strings() -> None:
    event = OrderLifecycleEvent(
        ClientOrderId("C-1"), OrderEventKind.UPDATED, TS, TS, quantity=Decimal("10.50")
    )
    document = json.loads(encode_event(event))
    assert ("OrderLifecycleEvent", "10.50", "2024-03-05T15:00:00.123456+00:00", "UPDATED") == (
        document["_type"],
        document["quantity"],
        document["ts_event"],
        document["kind"],
    )


def test_retention_limit_is_the_same_calendar_instant_years_earlier() -> None:
    assert datetime(2017, 3, 5, tzinfo=UTC) == retention_limit(datetime(2024, 3, 5, tzinfo=UTC), 7)
    assert datetime(2017, 2, 28, tzinfo=UTC) == retention_limit(
        datetime(2024, 2, 29, tzinfo=UTC), 7
    )


def test_retention_violation_names_cutoff_limit_and_period() -> None:
    error = RetentionViolation(
        datetime(2020, 1, 1, tzinfo=UTC), datetime(2017, 1, 1, tzinfo=UTC), 7
    )
    assert "2020-01-01" in str(error)
    assert "2017-01-01" in str(error)
    assert "7-year" in str(error)


def test_hmac_key_from_env() -> None:
    assert hmac_key_from_env(None, {"K": "x"}) is None
    assert b"x" == hmac_key_from_env("K", {"K": "x"})
    with pytest.raises(AuditKeyError, match="names K, which is set but empty"):
        hmac_key_from_env("K", {"K": ""})


def test_a_named_key_variable_that_is_unset_is_an_error_naming_it() -> None:
    with pytest.raises(AuditKeyError, match="names MY_AUDIT_KEY, which is not set"):
        hmac_key_from_env("MY_AUDIT_KEY", {})


def test_an_anchor_file_round_trips_and_bad_ones_name_the_field() -> None:
    head = AuditHead(7, "ab" * 32, 0, "00" * 32, True, "cd" * 32)
    assert head == decode_anchor(encode_anchor(head, "somewhere.db"))
    with pytest.raises(InvalidValue, match="not an anchor file"):
        decode_anchor("[1, 2]")
    with pytest.raises(InvalidValue, match="not JSON"):
        decode_anchor("{")
    text = encode_anchor(head, "x").replace('"sequence": 7', '"sequence": -7')
    with pytest.raises(InvalidValue, match=r"anchor\.sequence"):
        decode_anchor(text)
    text = encode_anchor(head, "x").replace("ab" * 32, "zz" * 32)
    with pytest.raises(InvalidValue, match=r"anchor\.hash: must be 64 hex digits"):
        decode_anchor(text)


def test_option_expiry_is_an_iso_date() -> None:
    option = OptionContract("SPY", date(2025, 1, 17), Decimal(500), OptionRight.CALL)
    signal = Signal(SignalId("S-2"), option, Side.SELL, TS)
    document = json.loads(encode_signal(signal))
    assert ("OptionContract", "2025-01-17", "C") == (
        document["instrument"]["_type"],
        document["instrument"]["expiry"],
        document["instrument"]["right"],
    )
