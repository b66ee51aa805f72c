"""Account leases, fenced audit appends, exactly-once decisions and per-account chains on a real
PostgreSQL (a random schema per test, dropped afterwards)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from ordergate.adapters.postgres.account_log import PostgresAccountAuditLog, account_chain_table
from ordergate.adapters.postgres.keeper import AccountLeaseKeeper
from ordergate.adapters.postgres.lease import Lease, LeaseLost, PostgresAccountLeases
from ordergate.adapters.postgres.testing import drop_schema
from ordergate.adapters.serialization import AuditStoreError
from ordergate.domain.audit import AuditRecord
from ordergate.domain.errors import InvalidValue
from ordergate.domain.values import CorrelationId

pytestmark = pytest.mark.services

T0 = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)
LONG = timedelta(minutes=5)
SHORT = timedelta(seconds=2)


def decision(signal: str, index: int = 0) -> AuditRecord:
    return AuditRecord(
        kind="risk.decision",
        ts=T0 + timedelta(seconds=index),
        payload={"signal": signal, "approved": True, "qty": "10"},
        correlation_id=CorrelationId(signal),
    )


@pytest.fixture
async def schema(postgres_dsn: str) -> AsyncIterator[str]:
    name = f"ordergate_test_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        await drop_schema(postgres_dsn, name)


Opener = Callable[..., Awaitable[PostgresAccountLeases]]


@pytest.fixture
async def workers(postgres_dsn: str, schema: str) -> AsyncIterator[Opener]:
    opened: list[Any] = []

    async def open_worker(holder: str, ttl: timedelta = LONG) -> PostgresAccountLeases:
        leases = await PostgresAccountLeases.open(
            postgres_dsn, holder=holder, ttl=ttl, schema=schema
        )
        opened.append(leases)
        return leases

    try:
        yield open_worker
    finally:
        for leases in opened:
            await leases.close()


@pytest.fixture
async def account_logs(postgres_dsn: str, schema: str) -> AsyncIterator[Any]:
    opened: list[PostgresAccountAuditLog] = []

    async def open_log(leases: PostgresAccountLeases, lease: Lease) -> PostgresAccountAuditLog:
        log = await PostgresAccountAuditLog.open(
            postgres_dsn, fence=leases.fence(lease), schema=schema
        )
        opened.append(log)
        return log

    try:
        yield open_log
    finally:
        for log in opened:
            await log.close()


async def expire_and_take(leases: PostgresAccountLeases, account: str) -> Lease:
    """Acquire `account` as soon as the server says the previous lease expired."""
    for _ in range(200):
        lease = await leases.acquire(account)
        if lease is not None:
            return lease
        await asyncio.sleep(0.05)
    raise AssertionError(f"{account} never became free")


async def test_two_workers_contend_only_one_holds(workers: Opener) -> None:
    a, b = await workers("w-a"), await workers("w-b")
    first = await a.acquire("ACC1")
    assert first is not None
    assert first.token == 1
    assert await b.acquire("ACC1") is None
    renewed = await a.renew(first)
    assert renewed.token == first.token
    assert renewed.expires_at >= first.expires_at
    assert await b.acquire("ACC1") is None
    other = await b.acquire("ACC2")  # leases are per account
    assert other is not None
    assert other.holder == "w-b"


async def test_expiry_hands_over_and_the_stale_append_is_refused(
    workers: Opener, account_logs: Any, postgres_dsn: str, schema: str
) -> None:
    a, b = await workers("w-a", SHORT), await workers("w-b", LONG)
    lease_a = await a.acquire("ACC1")
    assert lease_a is not None
    log_a = await account_logs(a, lease_a)
    await log_a.append(decision("s-1"))
    lease_b = await expire_and_take(b, "ACC1")
    assert lease_b.token > lease_a.token
    with pytest.raises(LeaseLost, match=r"ACC1.*w-a.*nothing was stored or sent"):
        await log_a.append(decision("s-2"))
    with pytest.raises(LeaseLost):
        await log_a.decide("s-3", [decision("s-3")], "approved")
    with pytest.raises(LeaseLost):
        await a.renew(lease_a)
    assert isinstance(LeaseLost("x", "y", 1, "z"), AuditStoreError)  # the gate stops on it
    log_b = await account_logs(b, lease_b)
    await log_b.append(decision("s-4"))
    stored = [e.record.payload["signal"] for e in await log_b.query()]
    assert stored == ["s-1", "s-4"]
    assert (await log_b.verify()).ok


async def test_tokens_only_increase_and_reacquiring_fences_the_old_handle(
    workers: Opener, account_logs: Any
) -> None:
    a, b = await workers("w-a"), await workers("w-b")
    tokens = []
    lease = await a.acquire("ACC1")
    assert lease is not None
    log = await account_logs(a, lease)
    tokens.append(lease.token)
    again = await a.acquire("ACC1")  # the same worker id, e.g. a restarted process
    assert again is not None
    tokens.append(again.token)
    with pytest.raises(LeaseLost):  # the predecessor's handle is fenced out
        await log.append(decision("s-1"))
    log.refence(a.fence(again))
    await log.append(decision("s-1"))
    assert await a.release(again)
    assert not await a.release(again)
    taken = await b.acquire("ACC1")
    assert taken is not None
    tokens.append(taken.token)
    assert tokens == sorted(set(tokens))
    assert len(tokens) == 3


async def test_a_takeover_waits_for_an_append_already_admitted(
    workers: Opener, account_logs: Any, postgres_dsn: str, schema: str
) -> None:
    """The fence share-locks the lease row: an acquire cannot slip in before the commit."""
    a, b = await workers("w-a", SHORT), await workers("w-b")
    lease = await a.acquire("ACC1")
    assert lease is not None
    conn: Any
    async with await psycopg.AsyncConnection.connect(postgres_dsn) as conn:
        async with conn.transaction():
            row = await (
                await conn.execute(a.fence(lease).statement(), a.fence(lease).params())
            ).fetchone()
            assert row is not None  # admitted while live; now let it expire under the lock
            await asyncio.sleep(SHORT.total_seconds() * 2)
            takeover = asyncio.create_task(b.acquire("ACC1"))
            await asyncio.sleep(0.3)
            assert not takeover.done()  # blocked behind the admitted append's transaction
        taken = await asyncio.wait_for(takeover, 30)
    assert taken is not None
    assert taken.token == lease.token + 1


async def test_a_signal_is_decided_once_however_often_delivered(
    workers: Opener, account_logs: Any
) -> None:
    a, b = await workers("w-a"), await workers("w-b")
    lease = await a.acquire("ACC1")
    assert lease is not None
    log_a = await account_logs(a, lease)
    first = await log_a.decide("s-1", [decision("s-1")], "approved qty=10")
    repeat = await log_a.decide("s-1", [decision("s-1", 1)], "denied")
    assert first.first
    assert not repeat.first
    assert (repeat.sequence, repeat.outcome, repeat.entries) == (1, "approved qty=10", ())
    concurrent = await asyncio.gather(
        *(log_a.decide("s-2", [decision("s-2", i)], f"outcome {i}") for i in range(5))
    )
    assert sum(d.first for d in concurrent) == 1
    assert len({d.outcome for d in concurrent}) == 1
    assert await a.release(lease)  # handed over (expiry is the other test's subject)
    lease_b = await b.acquire("ACC1")
    assert lease_b is not None
    log_b = await account_logs(b, lease_b)
    redelivered = await log_b.decide("s-1", [decision("s-1", 9)], "denied")
    assert (redelivered.first, redelivered.outcome) == (False, "approved qty=10")
    signals = [e.record.correlation_id for e in await log_b.query(kind="risk.decision")]
    assert signals == [CorrelationId("s-1"), CorrelationId("s-2")]
    assert (await log_b.verify()).ok


async def test_each_account_has_its_own_chain_and_head(
    workers: Opener, account_logs: Any, postgres_dsn: str, schema: str
) -> None:
    a = await workers("w-a")
    leases = [await a.acquire(acc) for acc in ("ACC1", "ACC2")]
    assert leases[0] is not None
    assert leases[1] is not None
    log1, log2 = [await account_logs(a, lease) for lease in leases]
    head1 = sql.SQL(".").join(
        [
            sql.Identifier(schema),
            sql.Identifier(account_chain_table("ordergate_audit", "ACC1") + "_head"),
        ]
    )
    conn: Any
    async with await psycopg.AsyncConnection.connect(postgres_dsn) as conn:
        async with conn.transaction():  # another worker holds ACC1's head lock...
            await conn.execute(sql.SQL("SELECT seq FROM {} FOR UPDATE").format(head1))
            blocked = asyncio.create_task(log1.append(decision("s-1")))
            entries = [await log2.append(decision(f"t-{i}", i)) for i in range(3)]
            assert not blocked.done()  # ...which ACC2's appends never wait for
        assert (await asyncio.wait_for(blocked, 30)).sequence == 1
    assert [e.sequence for e in entries] == [1, 2, 3]
    assert (await log1.verify()).checked == 1
    assert (await log2.verify()).checked == 3


def test_account_names_are_checked() -> None:
    with pytest.raises(InvalidValue, match=r"account.*letters"):
        account_chain_table("ordergate_audit", "bad name;")
    with pytest.raises(InvalidValue, match="at most 46 characters"):
        account_chain_table("ordergate_audit", "A" * 40)
    with pytest.raises(InvalidValue, match="lease ttl"):
        PostgresAccountLeases(None, "s", "t", "w", timedelta(0))  # type: ignore[arg-type]


async def test_keepers_split_preferred_accounts_and_take_over_a_dead_workers(
    workers: Opener,
) -> None:
    a, b = await workers("w-a", SHORT), await workers("w-b")
    events: list[tuple[str, str, str, int]] = []

    def keeper(leases: PostgresAccountLeases, mine: list[str], other: list[str]) -> Any:
        async def acquired(lease: Lease) -> None:
            events.append(("acquired", lease.holder, lease.account, lease.token))

        async def lost(lease: Lease) -> None:
            events.append(("lost", lease.holder, lease.account, lease.token))

        return AccountLeaseKeeper(leases, mine, other, on_acquired=acquired, on_lost=lost)

    keeper_b = keeper(b, ["ACC3", "ACC4"], ["ACC1", "ACC2"])
    keeper_a = keeper(a, ["ACC1", "ACC2"], ["ACC3", "ACC4"])
    await keeper_b.step()  # ACC1/ACC2 were never held: a standby leaves them to their worker
    assert sorted(keeper_b.held) == ["ACC3", "ACC4"]
    await keeper_a.step()
    assert sorted(keeper_a.held) == ["ACC1", "ACC2"]
    # w-a stops renewing (killed); w-b takes its accounts once the server says they expired
    for _ in range(200):
        await keeper_b.step()
        if len(keeper_b.held) == 4:
            break
        await asyncio.sleep(0.05)
    assert sorted(keeper_b.held) == ["ACC1", "ACC2", "ACC3", "ACC4"]
    assert keeper_b.held["ACC1"].token == 2
    await keeper_a.step()  # w-a comes back: its renewals are refused, it gains nothing
    assert keeper_a.held == {}
    assert sorted(e[2] for e in events if e[:2] == ("lost", "w-a")) == ["ACC1", "ACC2"]
    assert sorted(e[2] for e in events if e[:2] == ("acquired", "w-b")) == [
        "ACC1",
        "ACC2",
        "ACC3",
        "ACC4",
    ]
    stop = asyncio.Event()
    running = asyncio.create_task(keeper_b.run(stop))
    stop.set()
    await asyncio.wait_for(running, 30)  # a clean stop releases: w-a may take over at once
    assert keeper_b.held == {}
    await keeper_a.step()
    assert sorted(keeper_a.held) == ["ACC1", "ACC2", "ACC3", "ACC4"]
