"""The main job through IB, as a user runs it: `ordergate gateway-sim --replay` in one process,
`ordergate run --broker ibkr` in another, both reading the same config — and the summary it prints
equals that of `ordergate run` on the simulated broker, row for row."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

BARS = "100"
# Rows that name the broker or the audit file or time the run; every other row must be equal.
_DIFFERENT_BY_DESIGN = ("mode / broker", "audit log", "elapsed")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ORDERGATE_")}


def ordergate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ordergate.adapters.cli.main", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "ordergate.toml"
    path.write_text(
        f'mode = "paper"\noperator_id = "E2E"\n\n[broker]\nport = {free_port()}\n'
        "request_timeout = 20.0\n\n[session]\nseed = 3\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def emulator(config: Path, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ordergate.adapters.cli.main",
            "gateway-sim",
            "--replay",
            "--config",
            str(config),
            "--bars",
            BARS,
        ],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while "listening on" not in line:
            line = process.stdout.readline()
            assert line or process.poll() is None, "the emulator exited before listening"
            assert time.monotonic() < deadline, "the emulator did not start listening"
        assert "replaying the configured session" in line
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def summary_rows(stdout: str) -> dict[str, str]:
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line) if c.strip()]
        if len(cells) == 2:
            rows[cells[0]] = cells[1]
    return rows


def fills_of(audit: Path, cwd: Path) -> list[tuple[object, ...]]:
    exported = ordergate("audit", "export", "--path", str(audit), cwd=cwd)
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    keys = ("ts_event", "client_order_id", "instrument", "side", "quantity", "price")
    # IB reports commissions apart from executions: they are compared through the summary.
    return sorted(
        tuple(_number(r["payload"].get(k)) for k in keys)
        for r in records
        if r["kind"] == "broker.fill"
    )


def _number(text: object) -> object:
    """A numeric string by value ("195.1000" from the simulator, "195.10" from IB's tick)."""
    if isinstance(text, str) and text.replace(".", "", 1).isdigit():
        return Decimal(text).normalize()
    return text


def test_run_through_ibkr_against_the_emulator_prints_the_sim_brokers_results(
    config: Path, emulator: subprocess.Popen[str], tmp_path: Path
) -> None:
    on_ib = ordergate(
        "run",
        "--broker",
        "ibkr",
        "--config",
        str(config),
        "--bars",
        BARS,
        "--audit",
        str(tmp_path / "ib.db"),
        "--quiet",
        cwd=tmp_path,
    )
    assert on_ib.returncode == 0, on_ib.stderr + on_ib.stdout
    on_sim = ordergate(
        "run",
        "--config",
        str(config),
        "--bars",
        BARS,
        "--audit",
        str(tmp_path / "sim.db"),
        "--quiet",
        cwd=tmp_path,
    )
    assert on_sim.returncode == 0, on_sim.stderr

    ib_rows, sim_rows = summary_rows(on_ib.stdout), summary_rows(on_sim.stdout)
    assert ib_rows["mode / broker"] == "paper / ibkr"
    assert sim_rows["mode / broker"] == "paper / sim"
    assert sim_rows["cycles (trading days)"] == BARS
    assert int(sim_rows["fills"]) > 0
    for name, value in sim_rows.items():
        if name not in _DIFFERENT_BY_DESIGN:
            assert ib_rows.get(name) == value, name
    assert ib_rows["audit verify"] == "OK"

    sim_fills = fills_of(tmp_path / "sim.db", tmp_path)
    assert sim_fills
    assert fills_of(tmp_path / "ib.db", tmp_path) == sim_fills


def test_run_through_ibkr_without_an_emulator_exits_4_naming_the_address(
    config: Path, tmp_path: Path
) -> None:
    result = ordergate("run", "--broker", "ibkr", "--config", str(config), "--quiet", cwd=tmp_path)
    assert result.returncode == 4, result.stderr
    assert "gateway-sim --replay" in result.stderr
