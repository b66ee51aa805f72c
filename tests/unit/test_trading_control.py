"""`FileTradingControl`: the halt/resume channel between `ordergate halt` and a running serve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ordergate.adapters.control import (
    FileTradingControl,
    TradingControlError,
    decode_request,
    default_control_path,
)
from ordergate.application.service import TradingControl
from ordergate.domain.risk.decision import TradingState


async def test_missing_file_means_nothing_requested(tmp_path: Path) -> None:
    assert await FileTradingControl(tmp_path / "none.json").requested_state() is None


async def test_request_is_read_back_with_its_reason_and_time(tmp_path: Path) -> None:
    control = FileTradingControl(tmp_path / "sub" / "control.json")
    written = await control.request(TradingState.HALTED, "lunch")
    assert await control.requested_state() is TradingState.HALTED
    assert await control.read() == written
    assert written.reason == "lunch"
    assert written.requested_at is not None


async def test_write_replaces_the_file_atomically_leaving_no_temporary(tmp_path: Path) -> None:
    control = FileTradingControl(tmp_path / "control.json")
    await control.request(TradingState.HALTED)
    await control.request(TradingState.ACTIVE)
    assert [p.name for p in tmp_path.iterdir()] == ["control.json"]
    assert json.loads((tmp_path / "control.json").read_text())["state"] == "ACTIVE"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("{not json", "not a JSON document"),
        ('["HALTED"]', "expected a JSON object"),
        ('{"state": "PAUSED"}', "'PAUSED' is not one of ACTIVE, REDUCING, HALTED"),
        ('{"state": "HALTED", "requested_at": "noon"}', "'noon' is not an ISO time"),
    ],
)
async def test_unreadable_document_is_a_typed_error_naming_file_and_value(
    tmp_path: Path, text: str, named: str
) -> None:
    path = tmp_path / "control.json"
    path.write_text(text)
    with pytest.raises(TradingControlError) as error:
        await FileTradingControl(path).requested_state()
    assert str(path) in str(error.value)
    assert named in str(error.value)


def test_state_names_are_case_insensitive() -> None:
    request = decode_request('{"state": "reducing"}', "here")
    assert request.state is TradingState.REDUCING


def test_default_path_sits_beside_the_audit_file() -> None:
    assert default_control_path("/var/og/audit.db") == Path("/var/og/audit.control.json")
    assert default_control_path(None) == Path("ordergate-control.json")


def test_file_control_is_a_trading_control(tmp_path: Path) -> None:
    assert isinstance(FileTradingControl(tmp_path / "c.json"), TradingControl)
