"""`ordergate audit verify|tail|export` over a file written by the SQLite audit log."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ordergate.adapters.sqlite import SqliteAuditLog
from ordergate.adapters.sqlite.schema import drop_triggers
from ordergate.domain.audit import AuditRecord
from ordergate.domain.values import CorrelationId


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m ordergate.adapters.cli.main` with a clean ORDERGATE_* environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "ordergate.adapters.cli.main", *args],
        env={**base, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write_log(path: Path, count: int, key: bytes | None = None) -> None:
    async def append_all() -> None:
        log = await SqliteAuditLog.open(path, hmac_key=key)
        try:
            for n in range(count):
                await log.append(
                    AuditRecord(
                        kind="risk.decision" if n % 2 == 0 else "broker.submit",
                        ts=datetime(2024, 1, 2, 15, 0, n, tzinfo=UTC),
                        payload={"n": n},
                        correlation_id=CorrelationId(f"sig-{n}"),
                    )
                )
        finally:
            await log.close()

    asyncio.run(append_all())


def tamper(path: Path, sequence: int) -> None:
    """Change one byte of a record's body behind the log's back (its triggers refuse UPDATE)."""
    with sqlite3.connect(path) as conn:
        drop_triggers(conn)
        (body,) = conn.execute("SELECT body FROM audit_log WHERE seq = ?", (sequence,)).fetchone()
        changed = bytes(body).replace(f'"n":{sequence - 1}'.encode(), b'"n":7')
        assert changed != bytes(body)
        conn.execute("UPDATE audit_log SET body = ? WHERE seq = ?", (changed, sequence))
    conn.close()


@pytest.fixture
def audit_file(tmp_path: Path) -> Path:
    path = tmp_path / "audit.db"
    write_log(path, 6)
    return path


def test_verify_reports_ok_with_the_record_count(audit_file: Path) -> None:
    result = run_cli("audit", "verify", "--path", str(audit_file))

    assert result.returncode == 0, result.stderr
    assert f"OK: 6 records verified in {audit_file}" in result.stdout


def test_verify_after_tampering_one_byte_exits_1_naming_the_record(audit_file: Path) -> None:
    tamper(audit_file, 4)

    result = run_cli("audit", "verify", "--path", str(audit_file))

    assert result.returncode == 1
    assert "FAILED: record 4: hash does not match the stored content" in result.stdout


def test_verify_takes_the_file_from_the_config(audit_file: Path, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[audit]\npath = "{audit_file.as_posix()}"\n', encoding="utf-8")

    result = run_cli("audit", "verify", "--config", str(config))

    assert result.returncode == 0, result.stderr
    assert "OK: 6 records" in result.stdout


def test_verify_with_the_hmac_key_from_the_named_variable(tmp_path: Path) -> None:
    path = tmp_path / "keyed.db"
    write_log(path, 3, key=b"k3y")

    keyed = run_cli(
        "audit",
        "verify",
        "--path",
        str(path),
        "--hmac-key-env",
        "OG_KEY",
        env={"OG_KEY": "k3y"},
    )
    unkeyed = run_cli("audit", "verify", "--path", str(path))

    assert keyed.returncode == 0, keyed.stderr
    assert unkeyed.returncode == 2  # the file says it is keyed: verify refuses without the key
    assert "HMAC-keyed" in unkeyed.stderr


def test_verify_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("audit", "verify", "--path", str(tmp_path / "absent.db"))

    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert not (tmp_path / "absent.db").exists()


def test_verify_of_a_file_that_is_not_sqlite_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"not a database at all, not even close" * 100)

    result = run_cli("audit", "verify", "--path", str(path))

    assert result.returncode == 1
    assert "not a database" in result.stderr


def test_tail_prints_the_last_records_as_a_table(audit_file: Path) -> None:
    result = run_cli("audit", "tail", "--path", str(audit_file), "-n", "2")

    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if "sig-" in line]
    assert ["sig-4", "sig-5"] == [
        next(cell.strip() for cell in row.split("│") if "sig-" in cell) for row in rows
    ]


def test_export_writes_json_lines_filtered_by_kind(audit_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"

    result = run_cli(
        "audit", "export", "--path", str(audit_file), "--kind", "broker.submit", "-o", str(out)
    )

    assert result.returncode == 0, result.stderr
    documents = [json.loads(line) for line in out.read_text().splitlines()]
    assert [2, 4, 6] == [d["sequence"] for d in documents]
    assert {"broker.submit"} == {d["kind"] for d in documents}
    assert documents[0]["payload"] == {"n": 1}
    assert documents[1]["prev_hash"] != documents[0]["hash"]  # seq 3 sits between them


def test_export_to_stdout_with_a_time_window(audit_file: Path) -> None:
    result = run_cli(
        "audit",
        "export",
        "--path",
        str(audit_file),
        "--since",
        "2024-01-02T15:00:02",
        "--until",
        "2024-01-02T15:00:03",
    )

    assert result.returncode == 0, result.stderr
    assert [3, 4] == [json.loads(line)["sequence"] for line in result.stdout.splitlines()]
