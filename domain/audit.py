"""Audit records: what the audit log stores, and the result of verifying it.

Payloads are JSON-compatible mappings (str keys; str, int, bool, None, lists and dicts as values):
Decimals and datetimes are written as strings by the code that builds the record, so a record
reads back exactly as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ordergate.domain.errors import InvalidValue
from ordergate.domain.values import CorrelationId, utc_field

__all__ = ["AuditEntry", "AuditHead", "AuditRecord", "VerifyResult"]

_JSON_SCALARS = (str, int, bool, type(None))
_MAPPINGS = (dict, Mapping)  # dict first: a plain dict is answered before the ABC's hook runs
_SEQUENCES = (list, tuple)


def _is_json(value: Any) -> bool:
    """The rule `_check_json` enforces, answered without building a path for every key.

    Every record is checked, almost always successfully: paths are only worth building for the
    error message, so `_payload` walks again with `_check_json` once this says no.
    """
    if isinstance(value, _MAPPINGS):
        for key, item in value.items():
            if not isinstance(key, str):
                return False
            if not isinstance(item, _JSON_SCALARS) and not _is_json(item):
                return False
        return True
    if isinstance(value, _SEQUENCES):
        for item in value:
            if not isinstance(item, _JSON_SCALARS) and not _is_json(item):
                return False
        return True
    return isinstance(value, _JSON_SCALARS)


def _check_json(path: str, value: Any) -> None:
    if isinstance(value, float):
        raise InvalidValue(
            path, value, "floats are not allowed in audit payloads; use str(Decimal)"
        )
    if isinstance(value, _JSON_SCALARS):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidValue(path, key, "payload keys must be strings")
            _check_json(f"{path}.{key}", item)
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_json(f"{path}[{index}]", item)
        return
    raise InvalidValue(path, value, "must be JSON-compatible (str, int, bool, None, list, dict)")


def _payload(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, _MAPPINGS):
        raise InvalidValue("AuditRecord.payload", value, "must be a mapping")
    if not _is_json(value):
        _check_json("AuditRecord.payload", value)  # walks again to name the first bad value


@attrs.frozen
class AuditRecord:
    """One thing that happened: `kind` (e.g. "risk.decision", "broker.submit"), when, and what."""

    kind: str
    ts: datetime = utc_field()
    payload: Mapping[str, Any] = attrs.field(factory=dict, validator=_payload)
    correlation_id: CorrelationId | None = None


@attrs.frozen
class AuditEntry:
    """A stored record with its position in the chain and its hash."""

    sequence: int
    record: AuditRecord
    prev_hash: str
    hash: str


@attrs.frozen
class AuditHead:
    """The head checkpoint of a log: how far it reaches, and where it starts.

    `sequence` and `hash` are the last record's (0 and the genesis hash for an empty log);
    `purged_through` and `anchor_hash` the last record a retention purge removed (0 and the
    genesis hash when none was); `keyed` says whether the chain is HMAC-SHA256 (else SHA-256);
    `mac` covers all of them, under the HMAC key when keyed. Hashes are hex. Saved elsewhere, a
    head is an anchor that a later `verify(anchor=...)` proves the log still extends.
    """

    sequence: int
    hash: str
    purged_through: int
    anchor_hash: str
    keyed: bool
    mac: str


@attrs.frozen
class VerifyResult:
    """Outcome of `AuditLog.verify()`: ok, how many records were checked, the first bad one, and
    the head checkpoint the chain was held against (save it as an anchor when `ok`)."""

    ok: bool
    checked: int
    first_bad_sequence: int | None = None
    reason: str = ""
    head: AuditHead | None = None
