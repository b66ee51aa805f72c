"""The main job as a user runs it: `ordergate run` completes a session on the simulated broker,
prints the summary, and leaves an audit file that `ordergate audit verify` accepts — until one
byte of one record is changed, when verify fails naming that record."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from ordergate.adapters.sqlite.schema import drop_triggers


def ordergate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "ordergate.adapters.cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_run_completes_a_session_and_leaves_a_verifiable_audit_file(tmp_path: Path) -> None:
    audit = tmp_path / "session-audit.db"
    result = ordergate("run", "--bars", "250", "--audit", str(audit), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for line in (
        "cycles (trading days)",
        "orders sent",
        "orders denied by risk (not sent)",
        "orders rejected by the broker",
        "fills",
        "closures (Strategy C)",
        "realized PnL",
        "denials by reason",
        "closures by reason",
    ):
        assert line in result.stdout
    assert re.search(r"audit verify\s+│\s+OK", result.stdout), result.stdout
    verify = ordergate("audit", "verify", "--path", str(audit), cwd=tmp_path)
    assert verify.returncode == 0, verify.stderr
    assert "OK:" in verify.stdout

    with sqlite3.connect(audit) as conn:
        count = conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
        target = count // 2
        drop_triggers(conn)
        (body,) = conn.execute("SELECT body FROM audit_log WHERE seq = ?", (target,)).fetchone()
        data = bytearray(body)
        index = data.index(b'"kind":"') + len(b'"kind":"')
        data[index] = ord("X") if data[index] != ord("X") else ord("Y")  # one byte changed
        conn.execute("UPDATE audit_log SET body = ? WHERE seq = ?", (bytes(data), target))
    conn.close()
    tampered = ordergate("audit", "verify", "--path", str(audit), cwd=tmp_path)
    assert tampered.returncode == 1
    assert f"record {target}" in tampered.stdout + tampered.stderr


def test_dry_run_session_sends_nothing(tmp_path: Path) -> None:
    audit = tmp_path / "dry.db"
    result = ordergate(
        "run", "--mode", "dry_run", "--bars", "120", "--audit", str(audit), "--quiet", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(audit) as conn:
        kinds = {row[0] for row in conn.execute("SELECT kind FROM audit_log")}
    conn.close()
    assert "risk.decision" in kinds
    assert "broker.submit" not in kinds


def test_live_mode_is_refused_without_the_double_arm(tmp_path: Path) -> None:
    result = ordergate("run", "--mode", "live", "--quiet", cwd=tmp_path)
    assert result.returncode == 3
    assert "live" in result.stderr.lower()
