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


def test_a_kill_request_is_always_halted() -> None:
    from ordergate.domain.risk.breakers import KillSwitchEngaged
    from ordergate.domain.risk.control import TradingRequest

    with pytest.raises(KillSwitchEngaged):
        TradingRequest(TradingState.ACTIVE, kill_switch=True)
    with pytest.raises(TradingControlError, match="kill_switch is true but state is ACTIVE"):
        decode_request('{"state": "ACTIVE", "kill_switch": true}', "here")
    with pytest.raises(TradingControlError, match="kill_switch 'yes' is not true or false"):
        decode_request('{"state": "HALTED", "kill_switch": "yes"}', "here")


def test_a_request_time_must_be_aware_utc() -> None:
    from datetime import datetime

    from ordergate.domain.errors import InvalidValue
    from ordergate.domain.risk.control import TradingRequest

    with pytest.raises(InvalidValue, match="requested_at"):
        TradingRequest(TradingState.HALTED, requested_at=datetime(2024, 1, 1))


async def test_an_unreadable_document_is_replaced_by_the_next_request(tmp_path: Path) -> None:
    path = tmp_path / "control.json"
    path.write_text("{not json")
    control = FileTradingControl(path)
    written = await control.request(TradingState.HALTED, "operator")
    assert await control.read() == written
