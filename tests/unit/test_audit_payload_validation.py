"""Audit payload validation: a good payload is accepted without naming paths; a bad one is
refused with the path of its first bad value, exactly as before the check was made cheap."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordergate.domain.audit import AuditRecord, _check_json, _is_json
from ordergate.domain.errors import InvalidValue

NOW = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)
FLOAT_RULE = "floats are not allowed in audit payloads; use str(Decimal)"
JSON_RULE = "must be JSON-compatible (str, int, bool, None, list, dict)"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"px": 1.5}, f"AuditRecord.payload.px: {FLOAT_RULE}; got 1.5 (float)"),
        (
            {"ok": {"a": "1", "b": [1, None, True]}, "bad": {"deep": [{"x": "y"}, {"px": 2.5}]}},
            f"AuditRecord.payload.bad.deep[1].px: {FLOAT_RULE}; got 2.5 (float)",
        ),
        (
            {"nested": {"ok": "1", 7: "a"}},
            "AuditRecord.payload.nested: payload keys must be strings; got 7 (int)",
        ),
        ({"set": {1, 2}}, f"AuditRecord.payload.set: {JSON_RULE}; got {{1, 2}} (set)"),
        (
            {"tuple": ("a", ("b", 0.1))},
            f"AuditRecord.payload.tuple[1][1]: {FLOAT_RULE}; got 0.1 (float)",
        ),
        (
            MappingProxyType({"m": MappingProxyType({"f": 1.0})}),
            f"AuditRecord.payload.m.f: {FLOAT_RULE}; got 1.0 (float)",
        ),
        ({"a": [], "b": {}, "c": 3.0}, f"AuditRecord.payload.c: {FLOAT_RULE}; got 3.0 (float)"),
        (["a"], "AuditRecord.payload: must be a mapping; got ['a'] (list)"),
    ],
)
def test_a_bad_payload_is_refused_naming_its_first_bad_value(payload: Any, message: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        AuditRecord("x", NOW, payload)
    assert message == str(refused.value)


@pytest.mark.parametrize(
    "payload",
    [{}, {"a": {"b": {"c": [("d", None, 1, True)]}}}, MappingProxyType({"a": "b"})],
)
def test_a_json_payload_is_kept_as_given(payload: Any) -> None:
    assert payload == AuditRecord("x", NOW, payload).payload


_leaves = st.one_of(
    st.text(max_size=3),
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.just(NOW),
    st.frozensets(st.integers(), max_size=2),
)
_trees = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), inner, max_size=3),
    ),
    max_leaves=12,
)


@given(_trees)
def test_the_quick_check_accepts_exactly_what_the_path_naming_walk_accepts(value: Any) -> None:
    try:
        _check_json("p", value)
    except InvalidValue:
        walk_accepts = False
    else:
        walk_accepts = True
    assert walk_accepts == _is_json(value)
