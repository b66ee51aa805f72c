"""The operator commands as a user runs them: `serve`, `positions`, `flatten`, `halt`/`resume`,
`reconcile [--dry-run]` — subprocesses with a temporary config and audit file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from ordergate.application.bootstrap import sim_session
from ordergate.application.config import Settings

CLI = [sys.executable, "-m", "ordergate.adapters.cli.main"]
SIM_NOW = sim_session(Settings()).clock.now()
"""The simulated broker's clock, which a signal's `ts` must lie near (the last bundled bar)."""


def clean_env() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERGATE_")}
    return {**base, "COLUMNS": "200"}


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m ordergate.adapters.cli.main` with a clean ORDERGATE_* environment."""
    return subprocess.run(
        [*CLI, *args],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def signal_line(sid: str, symbol: str = "AAPL", qty: int = 5) -> str:
    return json.dumps(
        {
            "signal_id": sid,
            "instrument": {"_type": "Stock", "symbol": symbol},
            "side": "BUY",
            "ts": SIM_NOW.isoformat(),
            "quantity": str(qty),
        }
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "ordergate.toml"
    path.write_text(f'[audit]\npath = "{tmp_path / "audit.db"}"\n')
    return path


def audit_kinds(config: Path) -> list[str]:
    """Every record kind in the audit file, read back through `ordergate audit export`."""
    result = run_cli("audit", "export", "--config", str(config))
    assert result.returncode == 0, result.stderr
    return [json.loads(line)["kind"] for line in result.stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("broker", ["fake", "sim"])
@pytest.mark.parametrize("command", [["reconcile", "--dry-run"], ["positions"], ["flatten"]])
def test_without_a_service_the_sim_and_fake_commands_exit_5_and_record_nothing(
    config: Path, broker: str, command: list[str]
) -> None:
    """A one-shot process on the sim or fake broker would see a brand-new, empty market (the
    account lives inside `serve`): the command says so with exit 5 instead of printing
    "(none)" (tests/e2e/test_cli_service.py drives them through a running service)."""
    result = run_cli(*command, "--broker", broker, "--config", str(config))
    assert result.returncode == 5, result.stdout + result.stderr
    assert "the simulated broker lives inside `ordergate serve`" in result.stderr
    assert not (config.parent / "audit.db").exists()


def test_flatten_in_unarmed_live_mode_is_refused_with_exit_3(config: Path) -> None:
    result = run_cli("flatten", "--mode", "live", "--config", str(config))
    assert result.returncode == 3
    assert result.stderr.startswith("error: ")


def test_unknown_broker_kind_exits_2_naming_the_value(config: Path) -> None:
    result = run_cli("positions", "--broker", "ibkrr", "--config", str(config))
    assert result.returncode == 2
    assert "'ibkrr'" in result.stderr


def test_halt_then_serve_denies_new_risk_and_resume_lets_it_through(
    config: Path, tmp_path: Path
) -> None:
    halted = run_cli("halt", "--reason", "lunch", "--config", str(config))
    assert halted.returncode == 0, halted.stderr
    control = tmp_path / "audit.control.json"
    assert f"requested HALTED through file {control}" in halted.stdout
    assert json.loads(control.read_text())["reason"] == "lunch"

    first = tmp_path / "first.jsonl"
    first.write_text(signal_line("S1") + "\n")
    served = run_cli("serve", "--signals-file", str(first), "--config", str(config))
    assert served.returncode == 0, served.stderr
    assert "DENIED 1" in served.stdout

    resumed = run_cli("resume", "--config", str(config))
    assert resumed.returncode == 0, resumed.stderr
    second = tmp_path / "second.jsonl"
    second.write_text(signal_line("S2") + "\n")
    served = run_cli("serve", "--signals-file", str(second), "--config", str(config))
    assert served.returncode == 0, served.stderr
    assert "SUBMITTED 1" in served.stdout
    assert audit_kinds(config).count("risk.trading_state") == 1  # HALTED; resume found ACTIVE


def test_serve_audits_malformed_lines_and_skips_duplicates(config: Path, tmp_path: Path) -> None:
    lines = [signal_line("S1"), "not json", signal_line("S1"), signal_line("S2", "MSFT")]
    signals = tmp_path / "signals.jsonl"
    signals.write_text("\n".join(lines) + "\n")
    result = run_cli("serve", "--signals-file", str(signals), "--config", str(config))
    assert result.returncode == 0, result.stderr
    for expected in ("deliveries", "max signals (4) reached", "audit verify"):
        assert expected in result.stdout
    kinds = audit_kinds(config)
    assert kinds.count("signal.malformed") == 1
    assert kinds.count("signal.duplicate") == 1
    assert kinds.count("broker.submit") == 2


def test_serve_quarantines_a_line_that_is_not_utf8_and_trades_the_rest(
    config: Path, tmp_path: Path
) -> None:
    signals = tmp_path / "signals.jsonl"
    bad_id = signal_line("S\u00001")  # a NUL in the id, escaped in JSON
    signals.write_bytes(
        b"\xff\xfe{not utf-8\n" + bad_id.encode() + b"\n" + signal_line("S2").encode() + b"\n"
    )
    result = run_cli("serve", "--signals-file", str(signals), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    kinds = audit_kinds(config)
    assert (kinds.count("signal.malformed"), kinds.count("broker.submit")) == (2, 1)


def test_serve_with_the_memory_source_needs_a_signals_file(config: Path) -> None:
    result = run_cli("serve", "--config", str(config))
    assert result.returncode == 2
    assert "--signals-file" in result.stderr


def test_serve_stops_on_sigterm_and_prints_its_summary(config: Path, tmp_path: Path) -> None:
    signals = tmp_path / "signals.jsonl"
    signals.write_text(signal_line("S1") + "\n")
    process = subprocess.Popen(
        [*CLI, "serve", "--signals-file", str(signals), "--max-signals", "5", "-c", str(config)],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()  # printed once the service is running
        assert "serving signals" in banner
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "stop requested" in out


@pytest.mark.services
def test_serve_consumes_a_redis_stream_and_obeys_a_redis_halt(
    redis_url: str, tmp_path: Path
) -> None:
    stream = f"ordergate_test_{uuid.uuid4().hex[:12]}:signals"
    config = tmp_path / "ordergate.toml"
    config.write_text(
        f'[audit]\npath = "{tmp_path / "audit.db"}"\n'
        f'[signals]\nkind = "redis"\nurl = "{redis_url}"\nstream = "{stream}"\n'
    )
    client = redis.Redis.from_url(redis_url)
    try:
        client.xadd(stream, {"data": signal_line("S1")})
        client.xadd(stream, {"data": "not a signal"})
        served = run_cli("serve", "--max-signals", "2", "--config", str(config))
        assert served.returncode == 0, served.stderr
        assert "SUBMITTED 1" in served.stdout
        assert client.xpending(stream, "ordergate")["pending"] == 0

        halted = run_cli("halt", "--config", str(config))
        assert halted.returncode == 0, halted.stderr
        assert f"redis key {stream}:control" in halted.stdout
        client.xadd(stream, {"data": signal_line("S2")})
        served = run_cli("serve", "--max-signals", "1", "--config", str(config))
        assert served.returncode == 0, served.stderr
        assert "DENIED 1" in served.stdout
    finally:
        client.delete(stream, f"{stream}:control")
        client.close()
