"""Worker processes contend for accounts through leases while the test SIGKILLs them at random:
every signal is decided exactly once, each account's chain verifies, tokens only rose.

Each child is a real process with its own connections (`CHILD`): it keeps leases on every
account it can get (`AccountLeaseKeeper`, TTL 1 s) and, for the accounts it holds, decides the
account's signals in order through `PostgresAccountAuditLog.decide` — a restarted child starts
again from the first signal, so only the decision table keeps the decisions unique, and only the
fence keeps a killed-and-replaced worker's late appends out.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import uuid
from typing import Any

import psycopg
import pytest
from psycopg import sql

from ordergate.adapters.postgres.account_log import PostgresAccountAuditLog
from ordergate.adapters.postgres.lease import Fence
from ordergate.adapters.postgres.testing import drop_schema

pytestmark = pytest.mark.services

ACCOUNTS = ["ACC1", "ACC2", "ACC3", "ACC4"]
SIGNALS = 60
WORKERS = 3
KILLS = 8

CHILD = r"""
import asyncio, sys
import psycopg
from datetime import UTC, datetime, timedelta
from ordergate.adapters.postgres.account_log import PostgresAccountAuditLog
from ordergate.adapters.postgres.keeper import AccountLeaseKeeper
from ordergate.adapters.postgres.lease import LeaseLost, PostgresAccountLeases
from ordergate.adapters.serialization import AuditStoreError
from ordergate.domain.audit import AuditRecord
from ordergate.domain.values import CorrelationId

dsn, schema, holder, signals, *accounts = sys.argv[1:]

async def main():
    leases = await PostgresAccountLeases.open(
        dsn, holder=holder, ttl=timedelta(seconds=1), schema=schema)
    logs = {}
    async def acquired(lease):
        log = logs.get(lease.account)
        if log is None:
            logs[lease.account] = await PostgresAccountAuditLog.open(
                dsn, fence=leases.fence(lease), schema=schema)
        else:
            log.refence(leases.fence(lease))
    async def lost(lease):
        pass
    keeper = AccountLeaseKeeper(leases, accounts, on_acquired=acquired, on_lost=lost)
    total = int(signals) * len(accounts)
    counter = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    while True:
        await keeper.step()
        for account in list(keeper.held):
            log = logs[account]
            for i in range(int(signals)):
                sid = f"{account}-s{i}"
                record = AuditRecord(kind="risk.decision", ts=datetime.now(UTC),
                    payload={"signal": sid, "by": holder}, correlation_id=CorrelationId(sid))
                try:
                    await log.decide(sid, [record], f"approved by {holder}")
                except (LeaseLost, AuditStoreError):
                    break
                # Paced, so the work outlasts the test's kills on a fast, idle machine too.
                await asyncio.sleep(0.02)
                if i % 10 == 0:
                    await keeper.step()
                    if account not in keeper.held:
                        break
        try:
            cur = await counter.execute(f'SELECT count(*) FROM "{schema}".ordergate_decision')
            if (await cur.fetchone())[0] == total:
                break
        except psycopg.errors.UndefinedTable:
            pass
        await asyncio.sleep(0.05)
    await keeper.release_all()
    print("done", flush=True)

asyncio.run(main())
"""


def spawn(dsn: str, schema: str, holder: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, dsn, schema, holder, str(SIGNALS), *ACCOUNTS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def stop(child: subprocess.Popen[bytes]) -> None:
    """SIGKILL `child` (if still running), reap it and close its pipes."""
    if child.poll() is None:
        child.kill()
    child.wait()
    for pipe in (child.stdout, child.stderr):
        if pipe is not None:
            pipe.close()


async def count_decisions(dsn: str, schema: str) -> int:
    conn: Any
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        try:
            row = await (
                await conn.execute(
                    sql.SQL("SELECT count(*) FROM {}.ordergate_decision").format(
                        sql.Identifier(schema)
                    )
                )
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    assert row is not None
    return int(row[0])


async def test_sigkilled_workers_decide_every_signal_exactly_once(postgres_dsn: str) -> None:
    schema = f"ordergate_test_{uuid.uuid4().hex[:12]}"
    rng = random.Random(17)
    children = {f"w{i}": spawn(postgres_dsn, schema, f"w{i}") for i in range(WORKERS)}
    generation = 0
    try:
        kills = 0
        for _ in range(2000):
            await asyncio.sleep(rng.uniform(0.1, 0.5))
            decided = await count_decisions(postgres_dsn, schema)
            if kills < KILLS and decided < len(ACCOUNTS) * SIGNALS:
                name = rng.choice(sorted(children))
                stop(children[name])
                kills += 1
                generation += 1
                children[name] = spawn(postgres_dsn, schema, name)
            elif decided == len(ACCOUNTS) * SIGNALS:
                break
        assert kills == KILLS
        for child in children.values():
            _, err = child.communicate(timeout=240)
            assert child.returncode == 0, err.decode()[-3000:]
        assert await count_decisions(postgres_dsn, schema) == len(ACCOUNTS) * SIGNALS
        conn: Any
        async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as conn:
            tokens = await (
                await conn.execute(
                    sql.SQL("SELECT account, token FROM {}.ordergate_lease").format(
                        sql.Identifier(schema)
                    )
                )
            ).fetchall()
        for account in ACCOUNTS:
            fence = Fence(sql.Composed([]), account, "reader", 0)
            log = await PostgresAccountAuditLog.open(postgres_dsn, fence=fence, schema=schema)
            try:
                assert (await log.verify()).ok
                ids = [str(e.record.correlation_id) for e in await log.query(kind="risk.decision")]
            finally:
                await log.close()
            assert sorted(ids) == sorted({f"{account}-s{i}" for i in range(SIGNALS)}), account
        assert {account for account, _ in tokens} == set(ACCOUNTS)
    finally:
        for child in children.values():
            stop(child)
        await drop_schema(postgres_dsn, schema)
