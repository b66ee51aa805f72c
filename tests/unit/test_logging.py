"""Logging: one JSON line per signal decision (id, outcome, reason codes, latency), order and
state changes logged, ib_async's lines through the same redacting handler, and the CLI's
`--log-level` / `--log-format` options."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ordergate.adapters.cli.logs import JsonFormatter, configure_logging
from ordergate.adapters.cli.main import build_app
from ordergate.application.config import Secrets
from tests.unit._signal_rig import Rig, signal


@pytest.fixture
def sink() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = configure_logging("INFO", "json", stream=stream, secrets=Secrets())
    yield stream
    logging.getLogger().removeHandler(handler)
    logging.getLogger().setLevel(logging.WARNING)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_one_line_per_signal_decision_with_outcome_reasons_and_latency(
    sink: io.StringIO,
) -> None:
    rig = Rig()
    rig.price("100")
    async with rig.gate:
        rig.source.push(signal("ok-1", qty=5))
        rig.source.push(signal("big-1", qty=10**7))
        rig.source.push_raw("{nope")
        service = rig.service(max_signals=3)
        await service.run(asyncio.Event())
    decisions = [x for x in lines(sink) if x["logger"] == "ordergate.signals"]
    assert ["approved", "denied", "malformed"] == [x["outcome"] for x in decisions]
    assert ["ok-1", "big-1", None] == [x["signal_id"] for x in decisions]
    assert [] == decisions[0]["reasons"]
    assert decisions[1]["reasons"]  # the denial's reason codes
    assert all(isinstance(x["latency_s"], float) for x in decisions)
    orders = [x for x in lines(sink) if x["logger"] == "ordergate.orders"]
    assert "ACCEPTED" in {x["status"] for x in orders}


async def test_statuses_the_gate_decides_are_logged_per_order(sink: io.StringIO) -> None:
    """SUBMITTED and DENIED are decided by the gate, not reported by the broker: each still gets
    its own order line, in order, beside the broker-reported ones."""
    rig = Rig()
    rig.price("100")
    async with rig.gate:
        rig.source.push(signal("ok-2", qty=5))
        rig.source.push(signal("big-2", qty=10**7))
        await rig.service(max_signals=2).run(asyncio.Event())
    orders = [
        (x["client_order_id"], x["status"])
        for x in lines(sink)
        if x["logger"] == "ordergate.orders"
    ]
    ok = [status for cid, status in orders if str(cid).startswith("ok-2")]
    big = [(status, cid) for cid, status in orders if str(cid).startswith("big-2")]
    assert "SUBMITTED" == ok[0]
    assert "ACCEPTED" in ok[1:]
    assert ["DENIED"] == [status for status, _ in big]
    [denial] = [x for x in lines(sink) if x.get("status") == "DENIED"]
    assert denial["reason"]  # the gate's reason travels with the line


async def test_trading_state_changes_are_logged(sink: io.StringIO) -> None:
    rig = Rig()
    async with rig.gate:
        await rig.gate.halt("test")
    changes = [x for x in lines(sink) if x["logger"] == "ordergate.state"]
    assert [("trading", "HALTED", "ACTIVE")] == [
        (x["change"], x["state"], x["previous"]) for x in changes
    ]


def test_ib_async_lines_go_through_the_same_redacting_handler() -> None:
    stream = io.StringIO()
    secrets = Secrets.from_env({"ORDERGATE_REDIS_PASSWORD": "hunter2secret"})
    handler = configure_logging("INFO", "text", stream=stream, secrets=secrets)
    try:
        logging.getLogger("ib_async.client").info("connecting redis://u:hunter2secret@h with %s", 1)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)
    text = stream.getvalue()
    assert "ib_async.client" in text
    assert "hunter2secret" not in text
    assert "***" in text


def test_cli_refuses_an_unknown_log_format_by_name() -> None:
    result = CliRunner().invoke(build_app(), ["--log-format", "xml", "check-config"])
    assert 2 == result.exit_code
    assert "--log-format" in result.output
    assert "'xml'" in result.output
    logging.getLogger().setLevel(logging.WARNING)


def test_the_config_file_sets_logging_unless_the_command_line_says(tmp_path: Path) -> None:
    config = tmp_path / "ordergate.toml"
    config.write_text('[logging]\nlevel = "INFO"\nformat = "json"\n')
    root = logging.getLogger()
    try:
        result = CliRunner().invoke(build_app(), ["check-config", "--config", str(config)])
        assert 0 == result.exit_code, result.output
        assert logging.INFO == root.level
        (handler,) = [h for h in root.handlers if h.get_name() == "ordergate"]
        assert isinstance(handler.formatter, JsonFormatter)
        args = ["--log-level", "ERROR", "check-config", "--config", str(config)]
        result = CliRunner().invoke(build_app(), args)
        assert 0 == result.exit_code, result.output
        assert logging.ERROR == root.level
    finally:
        for h in [h for h in root.handlers if h.get_name() == "ordergate"]:
            root.removeHandler(h)
        root.setLevel(logging.WARNING)
