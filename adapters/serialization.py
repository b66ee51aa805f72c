"""The JSON edge shared by the audit stores and Redis: one cattrs converter, canonical audit JSON,
and the audit chain hash.

- Lifecycle events and signals travel as JSON made by one cattrs converter
  (`forbid_extra_keys=True`): Decimals as strings, datetimes as ISO-8601, ids as plain strings,
  enums by value, and a `_type` tag (the class name) on every union member. Bad input raises
  `InvalidValue` whose message names the offending key (via `cattrs.transform_error`).
- Audit records are hashed over their *canonical* JSON (sorted keys, no whitespace, `ts` as
  ISO-8601 UTC with microseconds); every store keeps those exact bytes, so the SQLite and the
  PostgreSQL logs compute and verify the same chain.

This module must never do I/O, read the environment on import, log a key, or accept floats for
money (a float quantity is refused, not rounded).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, TypeVar

import cattrs
from cattrs.preconf.json import JsonConverter, make_converter
from cattrs.strategies import configure_tagged_union
from cattrs.v import format_exception

from ordergate.domain.audit import AuditHead, AuditRecord, VerifyResult
from ordergate.domain.errors import InvalidValue, OrdergateError
from ordergate.domain.events import LifecycleEvent
from ordergate.domain.instruments import Instrument
from ordergate.domain.signals import Signal
from ordergate.domain.values import (
    BrokerOrderId,
    ClientOrderId,
    CorrelationId,
    ExecutionId,
    InstrumentId,
    PositionId,
    SignalId,
)

__all__ = [
    "ANCHOR_FORMAT",
    "AUDIT_APPLICATION_ID",
    "AUDIT_FORMAT_VERSION",
    "GENESIS_HASH",
    "GENESIS_HASH_BYTES",
    "MAX_SIGNAL_BYTES",
    "MAX_SIGNAL_DEPTH",
    "SIGNAL_WIRE_VERSION",
    "AuditKeyError",
    "AuditStoreError",
    "LegacyAuditLog",
    "NotAnAuditLog",
    "RetentionViolation",
    "canonical_record_json",
    "canonical_record_parts",
    "chain_hash",
    "check_anchor",
    "check_head",
    "check_key",
    "converter",
    "decode_anchor",
    "decode_event",
    "decode_signal",
    "encode_anchor",
    "encode_event",
    "encode_signal",
    "format_ts",
    "head_mac",
    "hmac_key_from_env",
    "make_head",
    "record_from_canonical",
    "retention_limit",
    "verify_chain",
    "walk_chain",
]

GENESIS_HASH = "0" * 64
"""The `prev_hash` of record 1 (hex)."""
GENESIS_HASH_BYTES = bytes(32)
SIGNAL_WIRE_VERSION = 1
"""Version of the signal message layout (`version` key next to `_type`)."""
AUDIT_APPLICATION_ID = 0x4F47414C  # "OGAL": SQLite's `PRAGMA application_id` of an audit file
AUDIT_FORMAT_VERSION = 2
"""Audit store layout: 2 adds the head checkpoint (1, unversioned, had none; see docs/audit.md)."""
ANCHOR_FORMAT = "ordergate-audit-anchor/1"
_HEAD_DOMAIN = b"ordergate.audit.head.v2\x00"

_IDS: tuple[type, ...] = (
    BrokerOrderId,
    ClientOrderId,
    CorrelationId,
    ExecutionId,
    InstrumentId,
    PositionId,
    SignalId,
)
_T = TypeVar("_T")


class AuditStoreError(OrdergateError):
    """An audit store could not durably store or read records; the caller must stop."""


class NotAnAuditLog(AuditStoreError):
    """The file or table named is not an ordergate audit log (nothing was read or changed)."""


class LegacyAuditLog(AuditStoreError):
    """A log written before the head checkpoint existed: upgrade it once (docs/audit.md)."""


class AuditKeyError(OrdergateError, ValueError):
    """The HMAC key and the log do not fit: a named variable is unset or empty, a keyed log was
    opened without its key, or a key was given for a log created without one."""


class RetentionViolation(OrdergateError):
    """A purge asked to delete records younger than the retention period allows."""

    def __init__(self, cutoff: datetime, limit: datetime, retention_years: int) -> None:
        self.cutoff = cutoff
        self.limit = limit
        self.retention_years = retention_years
        super().__init__(
            f"purge cutoff {format_ts(cutoff)} is inside the {retention_years}-year retention "
            f"period: only records older than {format_ts(limit)} may be deleted "
            "(choose a cutoff at or before that instant)"
        )


def retention_limit(now: datetime, years: int) -> datetime:
    """The newest cutoff a purge may use at `now`: the same calendar instant `years` earlier."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:  # 29 February in a year that has none
        return now.replace(year=now.year - years, day=28)


def hmac_key_from_env(variable: str | None, environ: Mapping[str, str]) -> bytes | None:
    """The HMAC key held in environment variable `variable` (None when no variable is named).

    A variable that is named but unset or empty is an `AuditKeyError` (a log meant to be keyed
    must never be written or checked without its key). The message names the variable, never
    its value.
    """
    if not variable:
        return None
    value = environ.get(variable)
    if value is None:
        raise AuditKeyError(
            f"audit.hmac_key_env names {variable}, which is not set in the environment: "
            f"export {variable} with the log's HMAC key, or remove audit.hmac_key_env "
            "for an unkeyed (SHA-256) log"
        )
    if not value:
        raise AuditKeyError(
            f"audit.hmac_key_env names {variable}, which is set but empty: "
            "the audit HMAC key must not be empty"
        )
    return value.encode("utf-8")


# --- audit records -----------------------------------------------------------------------------


def format_ts(ts: datetime) -> str:
    """ISO-8601 at UTC with microseconds, fixed width: string order is time order."""
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON-compatible")


_PAYLOAD_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
)
_quote = json.encoder.encode_basestring


def _payload_encoder() -> Callable[[object], str]:
    """`_PAYLOAD_ENCODER.encode`, minus the encoder object it builds on every call.

    `JSONEncoder.encode` makes a new C encoder per call; this one is made once with the same
    settings, so the text is the same. It keeps no circular-reference markers: `_json_ok` walks
    the payload first and a cycle never gets here (it ends in `RecursionError` either way).
    """
    make = getattr(json.encoder, "c_make_encoder", None)  # not in the typeshed stubs
    if make is None:  # an interpreter without the C accelerator
        return _PAYLOAD_ENCODER.encode
    chunks = make(None, _plain, _quote, None, ":", ",", True, False, True)
    join = "".join

    def encode(payload: object) -> str:
        return join(chunks(payload, 0))

    return encode


_encode_payload = _payload_encoder()


def canonical_record_json(record: AuditRecord) -> bytes:
    """The bytes that are hashed and stored: sorted keys, no whitespace, UTF-8."""
    return canonical_record_parts(record)[0]


_SCALARS = (str, int, type(None))  # bool is an int
_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})


def _json_ok(value: object) -> bool:
    """Fast check on exact built-in types (runs per append); False sends to `_explain`."""
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return True
    if kind is dict:
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str or (type(item) not in _PLAIN_SCALARS and not _json_ok(item)):
                return False
        return True
    if kind is list or kind is tuple:
        for item in value:  # type: ignore[attr-defined]  # noqa: SIM110 - faster than all()
            if type(item) not in _PLAIN_SCALARS and not _json_ok(item):
                return False
        return True
    return False


def _explain(value: object, path: str) -> None:
    """Raise `InvalidValue` at the first value a payload may not hold (floats above all).

    Returns quietly when everything is acceptable after all (subclasses, other Mappings).
    """
    if isinstance(value, float):
        raise InvalidValue(
            path, value, "floats are not allowed in audit payloads; use str(Decimal)"
        )
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidValue(path, key, "payload keys must be strings")
            _explain(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _explain(item, f"{path}[{index}]")
    elif not isinstance(value, _SCALARS):
        raise InvalidValue(
            path, value, "must be JSON-compatible (str, int, bool, None, list, dict)"
        )


def canonical_record_parts(record: AuditRecord) -> tuple[bytes, str]:
    """The canonical bytes and the `ts` string inside them (stores index it).

    The bytes equal `json.dumps({"correlation_id", "kind", "payload", "ts"}, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)`; assembled by hand because it runs per append.
    """
    # Checked again here: a caller holding a reference may have changed the payload after the
    # record was validated, and the encoder would happily write a float.
    if not _json_ok(record.payload):
        _explain(record.payload, "AuditRecord.payload")
    correlation = record.correlation_id
    # AuditRecord's validator guarantees a zero UTC offset, so no conversion is needed here.
    # Plain `isoformat()` is the cheaper call; it omits a zero microsecond, which must show.
    moment = record.ts
    ts = moment.isoformat() if moment.microsecond else moment.isoformat(timespec="microseconds")
    if not ts.endswith("+00:00"):  # a UTC tzinfo that is not datetime.UTC still prints +00:00
        ts = format_ts(moment)
    cid = "null" if correlation is None else _quote(correlation.value)
    kind = _quote(record.kind)
    payload = _encode_payload(record.payload)
    text = f'{{"correlation_id":{cid},"kind":{kind},"payload":{payload},"ts":"{ts}"}}'
    try:
        return text.encode("utf-8"), ts
    except UnicodeEncodeError as exc:  # lone surrogates cannot be stored as UTF-8
        raise InvalidValue(
            "AuditRecord", exc.object[exc.start : exc.end], "must be valid Unicode"
        ) from None


def record_from_canonical(body: bytes | str) -> AuditRecord:
    """Read a stored record back (lists come back as lists; payloads should not hold tuples)."""
    document = json.loads(body)
    correlation = document["correlation_id"]
    return AuditRecord(
        kind=document["kind"],
        ts=datetime.fromisoformat(document["ts"]),
        payload=document["payload"],
        correlation_id=None if correlation is None else CorrelationId(correlation),
    )


def chain_hash(prev_hash: bytes | bytearray, body: bytes, key: bytes | None = None) -> bytes:
    """SHA-256 (HMAC-SHA256 when `key` is given) over the previous raw hash and the record body."""
    if key is None:
        return hashlib.sha256(prev_hash + body).digest()
    return hmac.digest(key, prev_hash + body, "sha256")


def verify_chain(
    rows: Iterable[tuple[int, bytes, bytes, bytes]],
    *,
    first_sequence: int = 1,
    anchor: bytes = GENESIS_HASH_BYTES,
    key: bytes | None = None,
) -> VerifyResult:
    """Check `(sequence, prev_hash, hash, body)` rows in sequence order; name the first bad one.

    `anchor` is the hash the first row must link to (genesis, or the last purged record's).
    """
    return walk_chain(rows, first_sequence=first_sequence, anchor=anchor, key=key)[0]


def walk_chain(
    rows: Iterable[tuple[int, bytes, bytes, bytes]],
    *,
    first_sequence: int = 1,
    anchor: bytes = GENESIS_HASH_BYTES,
    key: bytes | None = None,
) -> tuple[VerifyResult, bytes]:
    """`verify_chain`, and the hash the walk ended on (the last good record's, or `anchor`).

    The loop is deliberately bare: it runs once per stored record.
    """
    expected = first_sequence
    prev = anchor
    sha256 = hashlib.sha256
    hmac_digest = hmac.digest
    for sequence, prev_hash, digest, body in rows:
        if sequence != expected:
            missing = f"record {expected} is missing (next: {sequence})"
            return _bad(expected, first_sequence, missing), prev
        if prev_hash != prev:
            return _bad(
                expected, first_sequence, "prev_hash does not link to its predecessor"
            ), prev
        data = prev + body
        computed = sha256(data).digest() if key is None else hmac_digest(key, data, "sha256")
        if computed != digest:
            return _bad(expected, first_sequence, "hash does not match the stored content"), prev
        prev = digest
        expected += 1
    return VerifyResult(ok=True, checked=expected - first_sequence), bytes(prev)


def _bad(sequence: int, first: int, reason: str) -> VerifyResult:
    return VerifyResult(
        ok=False,
        checked=sequence - first,
        first_bad_sequence=sequence,
        reason=f"{sequence}: {reason}",
    )


# --- the head checkpoint and anchors ---------------------------------------------------------


def head_mac(  # noqa: PLR0917 - the checkpoint's fields, in their stored order
    sequence: int,
    last_hash: bytes,
    purged_through: int,
    anchor_hash: bytes,
    keyed: bool,
    key: bytes | None,
) -> bytes:
    """The MAC of a head checkpoint: HMAC-SHA256 under `key` for a keyed log, else SHA-256.

    Without a key it is only a checksum (anyone can recompute it); with one, a checkpoint cannot
    be moved — to hide a truncation, say — without the key.
    """
    data = b"".join(
        (
            _HEAD_DOMAIN,
            sequence.to_bytes(8, "big"),
            bytes(last_hash),
            purged_through.to_bytes(8, "big"),
            bytes(anchor_hash),
            b"\x01" if keyed else b"\x00",
        )
    )
    if key is None:
        return hashlib.sha256(data).digest()
    return hmac.digest(key, data, "sha256")


def make_head(  # noqa: PLR0917 - the stored columns, in order
    sequence: int,
    last_hash: bytes,
    purged_through: int,
    anchor_hash: bytes,
    keyed: bool,
    mac: bytes,
) -> AuditHead:
    """An `AuditHead` from stored (raw) values."""
    return AuditHead(
        sequence=int(sequence),
        hash=bytes(last_hash).hex(),
        purged_through=int(purged_through),
        anchor_hash=bytes(anchor_hash).hex(),
        keyed=bool(keyed),
        mac=bytes(mac).hex(),
    )


def _head_mac_of(head: AuditHead, key: bytes | None) -> str:
    return head_mac(
        head.sequence,
        bytes.fromhex(head.hash),
        head.purged_through,
        bytes.fromhex(head.anchor_hash),
        head.keyed,
        key,
    ).hex()


def check_key(head: AuditHead, key: bytes | None, where: str) -> VerifyResult | None:
    """Refuse a keyed log without its key (`AuditKeyError`); a failure when a key is given for
    a log that says it is unkeyed (a keyed log re-chained without the key, or the wrong log)."""
    if head.keyed and key is None:
        raise AuditKeyError(
            f"{where} is HMAC-keyed: it cannot be verified without its key; name the variable "
            "holding it with --hmac-key-env or audit.hmac_key_env"
        )
    if key is not None and not head.keyed:
        return _bad(
            1,
            1,
            "the log says it is not HMAC-keyed, but a key was given: a keyed log re-chained "
            "without its key, or not the log that key belongs to",
        )
    return None


def check_head(
    walked: VerifyResult,
    first: int,
    last_hash: bytes,
    head: AuditHead,
    key: bytes | None,
) -> VerifyResult:
    """Hold a chain walk (from `first`, ending on `last_hash`) against the head checkpoint.

    Records missing after the last one stored (a truncation), records beyond the checkpoint,
    a last hash that is not the checkpoint's (a re-chained log) and a checkpoint that fails its
    MAC are each named by the first sequence they make unverifiable.
    """
    tip = first + walked.checked - 1  # the last record the walk accepted (first - 1: none)
    if not walked.ok:
        bad = walked.first_bad_sequence
        if bad is not None and bad > head.sequence:  # every record up to the head was sound
            return _beyond(head, first)
        return walked
    if tip < head.sequence:
        return _bad(
            tip + 1,
            first,
            f"record {tip + 1} is missing: the head checkpoint says the log holds records "
            f"through {head.sequence}, the last one stored is {tip}",
        )
    if tip > head.sequence:
        return _beyond(head, first)
    if last_hash.hex() != head.hash:
        return _bad(
            head.sequence,
            first,
            "hash differs from the head checkpoint: records up to this one were rewritten "
            "and the chain recomputed",
        )
    if _head_mac_of(head, key) != head.mac:
        return _bad(
            1,
            1,
            "the head checkpoint fails its MAC: its purge anchor or key flag was rewritten "
            "behind the log (records from 1 may have been removed)",
        )
    return walked


def _beyond(head: AuditHead, first: int) -> VerifyResult:
    return _bad(
        head.sequence + 1,
        first,
        f"record {head.sequence + 1} is beyond the head checkpoint (through {head.sequence}): "
        "records were added behind the log",
    )


def check_anchor(
    head: AuditHead, anchor: AuditHead, hash_at_anchor: str | None, key: bytes | None
) -> VerifyResult | None:
    """Does a log whose (verified) checkpoint is `head` still extend `anchor`? None if so.

    `hash_at_anchor` is the stored hash of record `anchor.sequence` (None when it is purged).
    """
    if anchor.keyed != head.keyed:
        said = "keyed" if anchor.keyed else "not keyed"
        return _bad(1, 1, f"the anchor was taken from a log that was {said}: re-chained since")
    if key is not None and _head_mac_of(anchor, key) != anchor.mac:
        return _bad(1, 1, "the anchor fails its MAC under this key: not this log's anchor")
    if head.sequence < anchor.sequence:
        return _bad(
            head.sequence + 1,
            1,
            f"record {head.sequence + 1} is missing: the anchor says the log held records "
            f"through {anchor.sequence}, it now ends at {head.sequence} (truncated)",
        )
    if head.purged_through < anchor.purged_through:
        return _bad(
            head.purged_through + 1,
            1,
            f"the log starts after record {head.purged_through}, before the anchor's purge "
            f"point {anchor.purged_through}: its start was rewritten",
        )
    if anchor.sequence > head.purged_through:
        expected = hash_at_anchor
    elif anchor.sequence == head.purged_through:
        expected = head.anchor_hash
    else:
        return None  # every record the anchor covers was purged (retention): nothing to compare
    if expected != anchor.hash:
        return _bad(
            anchor.sequence,
            1,
            "hash differs from the anchor: records up to this one were rewritten and the "
            "chain recomputed",
        )
    return None


def encode_anchor(head: AuditHead, where: str) -> str:
    """The text of an anchor file (JSON) for `head` of the log at `where`."""
    document = {
        "format": ANCHOR_FORMAT,
        "log": where,
        "sequence": head.sequence,
        "hash": head.hash,
        "purged_through": head.purged_through,
        "anchor_hash": head.anchor_hash,
        "keyed": head.keyed,
        "mac": head.mac,
    }
    return json.dumps(document, indent=2) + "\n"


def decode_anchor(text: str, source: str = "anchor") -> AuditHead:
    """Read an anchor file written by `encode_anchor`; `InvalidValue` names what is wrong."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise InvalidValue(source, text[:40], f"is not an anchor file (not JSON: {exc})") from None
    if not isinstance(document, dict) or document.get("format") != ANCHOR_FORMAT:
        raise InvalidValue(source, text[:40], f"is not an anchor file (format {ANCHOR_FORMAT})")
    fields: dict[str, Any] = {}
    for name in ("sequence", "purged_through"):
        number = document.get(name)
        if type(number) is not int or number < 0:
            raise InvalidValue(f"{source}.{name}", number, "must be a whole number >= 0")
        fields[name] = number
    for name in ("hash", "anchor_hash", "mac"):
        text_value = document.get(name)
        if not isinstance(text_value, str) or len(text_value) != 64 or not _is_hex(text_value):
            raise InvalidValue(f"{source}.{name}", text_value, "must be 64 hex digits")
        fields[name] = text_value
    keyed = document.get("keyed")
    if type(keyed) is not bool:
        raise InvalidValue(f"{source}.keyed", keyed, "must be true or false")
    fields["keyed"] = keyed
    return AuditHead(**fields)


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return text == text.lower()


# --- events and signals ------------------------------------------------------------------------


def _structure_decimal(value: Any, _: type) -> Decimal:
    if isinstance(value, bool | float):
        raise TypeError(f'expected a decimal string such as "1.25", not {type(value).__name__}')
    if isinstance(value, int):
        return Decimal(value)
    if not isinstance(value, str):
        raise TypeError(f"expected a decimal string, not {type(value).__name__}")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None


def _structure_from_str(parse: Callable[[str], _T]) -> Callable[[Any, type], _T]:
    def structure(value: Any, _: type) -> _T:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, not {type(value).__name__}")
        return parse(value)

    return structure


def _structure_id(value: Any, cls: type[_T]) -> _T:
    if not isinstance(value, str):
        raise TypeError(f"expected an id string, not {type(value).__name__}")
    return cls(value)  # type: ignore[call-arg]


def _structure_signal(converter: JsonConverter) -> Callable[[Any, type], Signal]:
    inner = converter.get_structure_hook(Signal)

    def structure(value: Any, _: type) -> Signal:
        if not isinstance(value, dict):
            raise TypeError(f"expected a JSON object, not {type(value).__name__}")
        body = dict(value)
        tag = body.pop("_type", "Signal")
        version = body.pop("version", SIGNAL_WIRE_VERSION)
        if tag != "Signal":
            raise ValueError(f"_type must be 'Signal', got {tag!r}")
        if version != SIGNAL_WIRE_VERSION:
            raise ValueError(f"unsupported signal version {version!r} (this reader speaks 1)")
        signal: Signal = inner(body, Signal)
        return signal

    return structure


@cache
def converter() -> JsonConverter:
    """The one converter of the edge (built on first use, then shared)."""
    conv = make_converter(forbid_extra_keys=True)
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(Decimal, _structure_decimal)
    conv.register_unstructure_hook(datetime, lambda ts: ts.isoformat())
    conv.register_structure_hook(datetime, _structure_from_str(datetime.fromisoformat))
    conv.register_unstructure_hook(date, lambda d: d.isoformat())
    conv.register_structure_hook(date, _structure_from_str(date.fromisoformat))
    conv.register_unstructure_hook(time, lambda t: t.isoformat())
    conv.register_structure_hook(time, _structure_from_str(time.fromisoformat))
    for id_type in _IDS:
        conv.register_unstructure_hook(id_type, str)
        conv.register_structure_hook(id_type, _structure_id)
    configure_tagged_union(Instrument, conv, tag_name="_type")
    configure_tagged_union(LifecycleEvent, conv, tag_name="_type")
    signal_unstructure = conv.get_unstructure_hook(Signal)
    conv.register_unstructure_hook(
        Signal,
        lambda s: {"_type": "Signal", "version": SIGNAL_WIRE_VERSION, **signal_unstructure(s)},
    )
    conv.register_structure_hook(Signal, _structure_signal(conv))
    return conv


def encode_event(event: LifecycleEvent) -> str:
    """Compact JSON of `event`, tagged with its class name under `_type`."""
    return json.dumps(converter().unstructure(event, LifecycleEvent), separators=(",", ":"))


def decode_event(data: str | bytes) -> LifecycleEvent:
    """Parse an event; bad input raises `InvalidValue` naming the key and the problem."""
    return _decode(data, LifecycleEvent, "LifecycleEvent")  # type: ignore[no-any-return]


def encode_signal(signal: Signal) -> str:
    """Compact JSON of `signal` (`_type: "Signal"`, `version: 1`)."""
    return json.dumps(converter().unstructure(signal, Signal), separators=(",", ":"))


MAX_SIGNAL_BYTES = 16_384
"""The largest signal message (UTF-8 bytes) `decode_signal` parses; a bracket on an option is
well under 1 KiB."""
MAX_SIGNAL_DEPTH = 8
"""The deepest nesting of JSON objects and arrays in a signal message (a signal has 2)."""
_STRUCTURE = re.compile(r'[\[\]{}"\\]')
"""The characters that open or close nesting or strings; everything else is skipped in C."""


def decode_signal(data: str | bytes) -> Signal:
    """Parse a signal; `_type` and `version` may be omitted by producers.

    Hostile input is bounded before it is parsed: first the size (`MAX_SIGNAL_BYTES`), then
    the nesting depth (`MAX_SIGNAL_DEPTH`, by a flat scan that cannot recurse), then the JSON
    itself, which must be one object without repeated keys. Every failure is `InvalidValue`.
    """
    text = _bounded_signal_text(data)
    return _decode(text, Signal, "Signal", pairs_hook=_unique_keys)  # type: ignore[no-any-return]


def _bounded_signal_text(data: str | bytes) -> str:
    """`data` as text, if it is small enough, valid UTF-8 and not nested too deep."""
    if not isinstance(data, str | bytes | bytearray):
        raise InvalidValue("Signal", type(data).__name__, "must be text or UTF-8 bytes")
    size = len(data) if not isinstance(data, str) else len(data.encode("utf-8", "surrogatepass"))
    if size > MAX_SIGNAL_BYTES:
        raise InvalidValue(
            "Signal", f"<{size} bytes>", f"must be at most {MAX_SIGNAL_BYTES} bytes of JSON"
        )
    if isinstance(data, str):
        text = data
    else:
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidValue(
                "Signal", _shown(data), f"is not valid UTF-8 (byte {exc.start}: {exc.reason})"
            ) from None
    # One pass, no recursion, no backtracking: brackets inside strings do not count, and a
    # backslash inside a string escapes the character after it.
    depth = 0
    in_string = False
    escaped_at = -1
    for match in _STRUCTURE.finditer(text):
        at = match.start()
        token = match.group()
        if in_string:
            if at == escaped_at:
                continue
            if token == "\\":
                escaped_at = at + 1
            elif token == '"':
                in_string = False
        elif token == '"':
            in_string = True
        elif token in "[{":
            depth += 1
            if depth > MAX_SIGNAL_DEPTH:
                raise InvalidValue(
                    "Signal",
                    _shown(text),
                    f"must nest objects and arrays at most {MAX_SIGNAL_DEPTH} deep "
                    f"(deeper at character {at})",
                )
        elif token in "]}":
            depth -= 1
    return text


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's members as a dict; a repeated key is refused (which one would count?)."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"key {key!r} appears more than once in one object")
            seen.add(key)
    return document


def _shown(data: str | bytes | bytearray) -> str:
    shown = data if isinstance(data, str) else bytes(data).decode("utf-8", "replace")
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _decode(
    data: str | bytes,
    target: Any,
    name: str,
    *,
    pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
) -> Any:
    shown = _shown(data)
    try:
        document = json.loads(data, object_pairs_hook=pairs_hook)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidValue(name, shown, f"is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise InvalidValue(name, shown, "must be a JSON object")
    if target is LifecycleEvent and document.get("_type") not in _EVENT_TAGS:
        tag = document.get("_type")
        raise InvalidValue(
            f"{name}._type", tag, f"must name an event class ({', '.join(sorted(_EVENT_TAGS))})"
        )
    try:
        return converter().structure(document, target)
    except InvalidValue:
        raise
    except (cattrs.BaseValidationError, cattrs.ForbiddenExtraKeysError) as exc:
        problems = cattrs.transform_error(exc, format_exception=_format_problem)
        raise InvalidValue(name, shown, "; ".join(problems)) from None
    except (TypeError, ValueError, KeyError, ArithmeticError) as exc:
        raise InvalidValue(name, shown, str(exc) or type(exc).__name__) from None


def _format_problem(exc: BaseException, type_: type | None) -> str:
    """cattrs' wording, plus the reason our hooks and the domain validators gave."""
    if isinstance(exc, InvalidValue):
        return str(exc)
    base = format_exception(exc, type_)
    if isinstance(exc, KeyError | cattrs.ForbiddenExtraKeysError) or not str(exc):
        return base
    return f"{base} ({exc})"


_EVENT_TAGS = frozenset(member.__name__ for member in LifecycleEvent.__args__)
