"""The operator commands and the running service, as an operator uses them: `ordergate serve`
with the control API in one process, `ordergate status` / `positions` / `orders` / `halt` /
`resume` / `flatten` / `kill` / `reconcile` in others; and the same commands when no service
runs (exit 5 on the sim and fake brokers; IBKR read directly), none of the reads leaving a file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ordergate.application.bootstrap import sim_session
from ordergate.application.config import Settings

CLI = [sys.executable, "-m", "ordergate.adapters.cli.main"]
SIM_NOW = sim_session(Settings()).clock.now()
TOKEN = "e2e-token-0123456789abcdef"
NO_SERVICE = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env(token: str | None = TOKEN) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERGATE_")}
    base["COLUMNS"] = "200"
    base["USER"] = "tester"
    if token is not None:
        base["ORDERGATE_API_TOKEN"] = token
    return base


def run_cli(*args: str, cwd: Path, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env=env(token),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def json_lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode in (0, 1), result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def signal_line(sid: str, qty: int = 5) -> str:
    return json.dumps(
        {
            "signal_id": sid,
            "instrument": {"_type": "Stock", "symbol": "AAPL"},
            "side": "BUY",
            "ts": SIM_NOW.isoformat(),
            "quantity": str(qty),
            "order_type": "LIMIT",
            "limit_price": "340",  # below the last close (360): it stays working
        }
    )


# -- with a running service --------------------------------------------------------------------
@pytest.fixture
def service_dir(tmp_path: Path) -> Path:
    (tmp_path / "ordergate.toml").write_text(
        f'[audit]\npath = "{tmp_path / "audit.db"}"\n'
        f"[service]\nenabled = true\nport = {free_port()}\n"
    )
    (tmp_path / "signals.jsonl").write_text(signal_line("S1") + "\n")
    return tmp_path


@pytest.fixture
def service(service_dir: Path) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [*CLI, "serve", "--config", str(service_dir / "ordergate.toml"),
         "--signals-file", str(service_dir / "signals.jsonl"), "--idle-exit", "300"],
        cwd=service_dir, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 60
        line = ""
        while "control API on" not in line:
            line = process.stderr.readline()
            assert line or process.poll() is None, "serve exited before its API started"
            assert time.monotonic() < deadline, "the API did not start"
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def status_of(cwd: Path) -> dict[str, Any]:
    [status] = json_lines(run_cli("status", "--json", "--config", "ordergate.toml", cwd=cwd))
    return status


def test_the_commands_go_through_the_running_service(
    service: subprocess.Popen[str], service_dir: Path
) -> None:
    cwd, config = service_dir, ("--config", "ordergate.toml")
    deadline = time.monotonic() + 30
    while status_of(cwd)["counts"]["working_orders"] == 0:  # the signal becomes a working order
        assert time.monotonic() < deadline, "the signal was not traded"
        time.sleep(0.2)
    status = status_of(cwd)
    assert (status["service"], status["trading"]["state"]) == ("ordergate", "ACTIVE")
    [order] = json_lines(run_cli("orders", "--json", *config, cwd=cwd))
    assert (order["instrument"], order["side"], order["quantity"]) == ("AAPL", "BUY", "5")
    assert json_lines(run_cli("positions", "--json", *config, cwd=cwd)) == []
    table = run_cli("status", *config, cwd=cwd)
    assert "service at http://127.0.0.1:" in table.stdout

    wrong = run_cli("halt", *config, cwd=cwd, token="not-the-token")
    assert wrong.returncode == 2
    assert "401" in wrong.stderr
    assert status_of(cwd)["trading"]["state"] == "ACTIVE"
    tokenless = run_cli("halt", *config, cwd=cwd, token=None)
    assert tokenless.returncode == 2
    assert "ORDERGATE_API_TOKEN" in tokenless.stderr

    halted = run_cli("halt", *config, "--reason", "lunch", cwd=cwd)
    assert halted.returncode == 0, halted.stderr
    assert "HALTED through the service" in halted.stdout
    assert status_of(cwd)["trading"]["state"] == "HALTED"
    resumed = run_cli("resume", *config, "--operator", "bob", cwd=cwd)
    assert resumed.returncode == 0, resumed.stderr
    assert status_of(cwd)["trading"]["state"] == "ACTIVE"

    dry = run_cli("reconcile", "--dry-run", "--json", *config, cwd=cwd)
    assert json_lines(dry)[0]["dry_run"] is True
    flattened = run_cli("flatten", *config, cwd=cwd)
    assert flattened.returncode == 0, flattened.stdout + flattened.stderr
    assert "cancelled" in flattened.stdout
    assert json_lines(run_cli("orders", "--json", *config, cwd=cwd)) == []
    killed = run_cli("kill", *config, cwd=cwd)
    assert killed.returncode == 0, killed.stdout + killed.stderr
    assert status_of(cwd)["trading"]["kill_switch"] is True

    service.send_signal(signal.SIGTERM)
    assert service.wait(timeout=60) == 0
    exported = run_cli("audit", "export", *config, cwd=cwd)
    records = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    asked = [
        (r["payload"]["operator"], r["payload"]["endpoint"])
        for r in records
        if r["kind"] == "control.request"
    ]
    assert asked == [("tester", "halt"), ("bob", "resume"), ("tester", "flatten"),
                     ("tester", "kill")]  # fmt: skip
    results = [r["payload"]["outcome"] for r in records if r["kind"] == "control.result"]
    assert results == ["ok", "ok", "ok", "ok"]
    verified = run_cli("audit", "verify", *config, cwd=cwd)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_serve_refuses_to_start_the_api_without_its_token(service_dir: Path) -> None:
    result = run_cli(
        "serve", "--config", "ordergate.toml", "--signals-file", "signals.jsonl",
        cwd=service_dir, token=None,
    )  # fmt: skip
    assert result.returncode == 2
    assert "service.token_env" in result.stderr
    assert "ORDERGATE_API_TOKEN" in result.stderr
    assert not (service_dir / "audit.db").exists()  # refused before anything started


def test_serve_refuses_a_non_loopback_host_unless_allowed(tmp_path: Path) -> None:
    (tmp_path / "ordergate.toml").write_text('[service]\nenabled = true\nhost = "0.0.0.0"\n')
    (tmp_path / "s.jsonl").write_text("")
    result = run_cli(
        "serve", "--config", "ordergate.toml", "--signals-file", "s.jsonl", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "service.host" in result.stderr
    assert "allow_remote" in result.stderr


# -- without a service ---------------------------------------------------------------------------
BROKER_COMMANDS = [
    ["status"],
    ["positions"],
    ["orders"],
    ["reconcile", "--dry-run"],
    ["reconcile"],
    ["flatten"],
]


@pytest.mark.parametrize("broker", ["sim", "fake"])
@pytest.mark.parametrize("command", BROKER_COMMANDS, ids=" ".join)
def test_without_a_service_the_sim_and_fake_commands_exit_5_saying_why(
    tmp_path: Path, broker: str, command: list[str]
) -> None:
    result = run_cli(*command, "--broker", broker, cwd=tmp_path)
    assert result.returncode == NO_SERVICE, result.stdout + result.stderr
    assert "lives inside `ordergate serve`" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_without_a_service_kill_persists_the_switch_then_exits_5(tmp_path: Path) -> None:
    result = run_cli("kill", "--broker", "fake", cwd=tmp_path)
    assert result.returncode == NO_SERVICE
    assert "kill switch engaged" in result.stdout
    document = json.loads((tmp_path / "ordergate-audit.control.json").read_text())
    assert (document["state"], document["kill_switch"]) == ("HALTED", True)


def test_a_configured_service_that_is_not_running_falls_back(tmp_path: Path) -> None:
    (tmp_path / "ordergate.toml").write_text(f"[service]\nenabled = true\nport = {free_port()}\n")
    result = run_cli("positions", "--config", "ordergate.toml", cwd=tmp_path)
    assert result.returncode == NO_SERVICE
    assert "no ordergate service answers at 127.0.0.1:" in result.stderr
    halted = run_cli("halt", "--config", "ordergate.toml", cwd=tmp_path)
    assert halted.returncode == 0, halted.stderr
    assert "requested HALTED through file" in halted.stdout


# -- read-only commands write nothing ----------------------------------------------------------
READ_ONLY = [["positions"], ["positions", "--json"], ["orders"], ["status", "--json"],
             ["reconcile", "--dry-run"]]  # fmt: skip


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_a_read_only_command_in_an_empty_folder_leaves_it_empty(
    tmp_path: Path, command: list[str]
) -> None:
    run_cli(*command, cwd=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Path]:
    """`ordergate gateway-sim` in a folder of its own; yields the config (in that folder)."""
    home = tmp_path / "emulator"
    home.mkdir()
    config = home / "ordergate.toml"
    config.write_text(
        f'mode = "paper"\noperator_id = "E2E"\n[broker]\nkind = "ibkr"\nport = {free_port()}\n'
        '[market_data]\nkind = "ibkr"\n'
    )
    process = subprocess.Popen(
        [*CLI, "gateway-sim", "--config", str(config)],
        cwd=home, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while "listening on" not in line:
            line = process.stdout.readline()
            assert line or process.poll() is None, "the emulator exited before listening"
            assert time.monotonic() < deadline, "the emulator did not start listening"
        yield config
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.parametrize("command", [["positions", "--json"], ["orders"], ["status", "--json"],
                                     ["reconcile", "--dry-run", "--json"]],
                         ids=" ".join)  # fmt: skip
def test_on_ibkr_without_a_service_reads_come_from_the_broker_and_write_nothing(
    emulator: Path, tmp_path: Path, command: list[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli(*command, "--config", str(emulator), cwd=empty)
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(empty.iterdir()) == []
    assert sorted(p.name for p in emulator.parent.iterdir()) == ["ordergate.toml"]
    if command == ["status", "--json"]:
        [status] = json_lines(result)
        assert status["connection"] == {
            "broker_kind": "ibkr", "broker_connected": True, "link_lost": False
        }  # fmt: skip


def test_on_ibkr_a_dry_run_reconcile_reads_the_stored_audit_and_writes_nothing(
    emulator: Path, tmp_path: Path
) -> None:
    """`reconcile --dry-run` through a one-shot gate reads what the stored log knows and leaves
    the log's bytes as they were; the same command without --dry-run does record."""
    work = tmp_path / "work"
    work.mkdir()
    audit = work / "audit.db"
    args = ("--config", str(emulator), "--audit", str(audit))
    recorded = run_cli("reconcile", *args, cwd=work)
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    before = audit.read_bytes()
    verify = run_cli("audit", "verify", "--audit", str(audit), cwd=work)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    result = run_cli("reconcile", "--dry-run", "--json", *args, cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    [answer] = json_lines(result)
    assert (True, True) == (answer["dry_run"], answer["clean"])
    assert before == audit.read_bytes()
    assert verify.stdout == run_cli("audit", "verify", "--audit", str(audit), cwd=work).stdout


def test_the_cli_loads_no_http_server_unless_the_api_is_served() -> None:
    """uvicorn and the API's modules load only when serve starts the API. (FastAPI itself may
    be loaded by dependency_injector, which imports it when it is installed.)"""
    modules = ("uvicorn", "ordergate.adapters.http.app", "ordergate.adapters.http.server")
    probe = (
        "import sys; from ordergate.adapters.cli.main import build_app; build_app(); "
        f"print(sorted(m for m in {modules!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
