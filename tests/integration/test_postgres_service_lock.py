"""Two `ordergate serve`s on one PostgreSQL audit log, on any hosts: the second is refused,
naming the first; the lock goes with its holder's connection, SIGKILL included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ordergate.adapters.service_lock import ServiceLocked

pytestmark = pytest.mark.services

HOLD = """
import sys, time
from ordergate.adapters.postgres.service_lock import PostgresServiceLock
lock = PostgresServiceLock.acquire(sys.argv[1], schema=sys.argv[2], table="audit_log")
print("held", flush=True)
time.sleep(120)
"""


def test_a_second_serve_is_refused_naming_the_first_and_a_release_lets_it_in(
    postgres_dsn: str,
) -> None:
    from ordergate.adapters.postgres.service_lock import PostgresServiceLock

    schema = f"ordergate_test_{uuid.uuid4().hex[:12]}"
    first = PostgresServiceLock.acquire(postgres_dsn, schema=schema, table="audit_log")
    with pytest.raises(ServiceLocked) as refused:
        PostgresServiceLock.acquire(postgres_dsn, schema=schema, table="audit_log")
    assert f"pid {os.getpid()}" in str(refused.value)
    assert first.holder["started"] in str(refused.value)
    other = PostgresServiceLock.acquire(postgres_dsn, schema=f"{schema}_b", table="audit_log")
    other.release()
    first.release()
    first.release()  # idempotent
    with PostgresServiceLock.acquire(postgres_dsn, schema=schema, table="audit_log") as again:
        assert again.holder["pid"] == os.getpid()


def test_a_sigkilled_holder_releases_the_lock(postgres_dsn: str) -> None:
    from ordergate.adapters.postgres.service_lock import PostgresServiceLock

    schema = f"ordergate_test_{uuid.uuid4().hex[:12]}"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, postgres_dsn, schema], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert "held" == holder.stdout.readline().strip()
        with pytest.raises(ServiceLocked, match=f"pid {holder.pid}"):
            PostgresServiceLock.acquire(postgres_dsn, schema=schema, table="audit_log")
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
    for _ in range(50):  # the server notices the dead connection almost at once
        try:
            lock = PostgresServiceLock.acquire(postgres_dsn, schema=schema, table="audit_log")
        except ServiceLocked:
            import time

            time.sleep(0.1)
            continue
        lock.release()
        return
    pytest.fail("the lock of a SIGKILLed holder was not released")


def test_serve_on_a_postgres_audit_held_elsewhere_is_refused_naming_the_holder(
    postgres_dsn: str, tmp_path: Path
) -> None:
    """Another host's serve shares no lock file: the advisory lock refuses the second (exit 3)."""
    from ordergate.adapters.postgres.service_lock import PostgresServiceLock

    schema = f"ordergate_test_{uuid.uuid4().hex[:12]}"
    config = tmp_path / "ordergate.toml"
    config.write_text(
        'mode = "paper"\noperator_id = "E2E"\n[broker]\nkind = "fake"\n'
        f'[audit]\nkind = "postgres"\ndsn = "{postgres_dsn}"\nschema = "{schema}"\n'
    )
    signals = tmp_path / "signals.jsonl"
    signals.write_text("")
    with PostgresServiceLock.acquire(postgres_dsn, schema=schema, table="ordergate_audit"):
        for command in (["serve", "--signals-file", str(signals)], ["reset-paper"]):
            result = subprocess.run(
                [sys.executable, "-m", "ordergate.adapters.cli.main", *command,
                 "--config", str(config)],
                cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert 3 == result.returncode, result.stdout + result.stderr
            assert f"pid {os.getpid()}" in result.stderr
            assert "postgresql advisory lock" in result.stderr
