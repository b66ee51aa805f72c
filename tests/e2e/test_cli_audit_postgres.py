"""`ordergate audit verify|export` over a PostgreSQL chain chosen by configuration."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from ordergate.adapters.postgres.testing import PostgresAuditLogHarness, drop_schema
from ordergate.domain.audit import AuditRecord

pytestmark = pytest.mark.services
Chain = tuple[PostgresAuditLogHarness, dict[str, str]]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `python -m ordergate.adapters.cli.main` with a clean ORDERGATE_* environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "ordergate.adapters.cli.main", *args],
        env={**base, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def chain(postgres_dsn: str) -> Iterator[Chain]:
    """Four records in a schema of their own, and the variables that point the CLI at them."""

    async def create() -> PostgresAuditLogHarness:
        harness = await PostgresAuditLogHarness.create(postgres_dsn)
        for n in range(4):
            await harness.audit_log.append(
                AuditRecord(
                    kind="broker.submit",
                    ts=datetime(2024, 1, 2, 15, 0, n, tzinfo=UTC),
                    payload={"n": n},
                )
            )
        await harness.audit_log.close()
        return harness

    harness = asyncio.run(create())
    env = {
        "ORDERGATE_AUDIT__KIND": "postgres",
        "ORDERGATE_AUDIT__DSN": postgres_dsn,
        "ORDERGATE_AUDIT__SCHEMA": harness.names.schema,
        "ORDERGATE_AUDIT__TABLE": harness.names.table,
    }
    try:
        yield harness, env
    finally:
        asyncio.run(drop_schema(postgres_dsn, harness.names.schema))


def test_verify_reads_the_postgres_chain_from_the_configuration(
    chain: Chain,
) -> None:
    _, env = chain

    result = run_cli("audit", "verify", env=env)

    assert result.returncode == 0, result.stderr
    assert "OK: 4 records verified" in result.stdout


def test_verify_names_the_tampered_postgres_record(chain: Chain) -> None:
    harness, env = chain
    asyncio.run(harness.tamper(2))

    result = run_cli("audit", "verify", env=env)

    assert result.returncode == 1
    assert "FAILED: record 2: hash does not match the stored content" in result.stdout


def test_export_reads_the_postgres_chain(chain: Chain) -> None:
    _, env = chain

    result = run_cli("audit", "export", env=env)

    assert result.returncode == 0, result.stderr
    assert [0, 1, 2, 3] == [json.loads(line)["payload"]["n"] for line in result.stdout.splitlines()]
