"""The tamper suite: every way of damaging an audit log that issue 10 found undetected, on both
stores (a real SQLite file; a real PostgreSQL chain in a schema of its own), each asserted to be
caught by `ordergate audit verify` naming the first bad record.

Tampering goes behind the log's back the way someone with write access to the store would: raw
SQL with the guard triggers dropped (SQLite) or disabled (`session_replication_role = replica`,
PostgreSQL). What stays undetectable without an anchor (a format-aware attacker of an unkeyed
log who also rewrites the head checkpoint) is asserted as such, beside the anchor that catches
it, so the limits stated in docs/audit.md are tested too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import Result
from typer.testing import CliRunner

from ordergate.adapters.cli.main import app
from ordergate.adapters.serialization import AuditStoreError, NotAnAuditLog, chain_hash, head_mac
from ordergate.adapters.sqlite import SqliteAuditLog
from ordergate.adapters.sqlite.schema import drop_triggers
from ordergate.domain.audit import AuditRecord

KEY = b"tamper-suite-key"
KEY_ENV = "ORDERGATE_TEST_TAMPER_KEY"
COUNT = 60
T0 = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)


def records(count: int, start: int = 0) -> list[AuditRecord]:
    return [
        AuditRecord("broker.submit", T0 + timedelta(seconds=n), {"n": n, "qty": "100"})
        for n in range(start, start + count)
    ]


class Store:
    """One log under attack: how to fill it, tamper with it and point the CLI at it."""

    name: str
    log: str  # the log table, as SQL
    head: str  # the head-checkpoint table, as SQL
    where: list[str]  # CLI arguments selecting the log
    env: dict[str, str]

    def fill(self, count: int, key: bytes | None = None, start: int = 0) -> None:
        """Append `count` records through the real adapter (one transaction)."""
        raise NotImplementedError

    def sql(self, *statements: tuple[str, Sequence[Any]]) -> list[list[tuple[Any, ...]]]:
        """Run statements in one transaction with every guard off; their rows."""
        raise NotImplementedError

    def q(self, text: str) -> str:
        return text.format(log=self.log, head=self.head)

    def rows(self) -> list[tuple[int, bytes, bytes, bytes]]:
        [found] = self.sql(
            (self.q("SELECT seq, prev_hash, hash, body FROM {log} ORDER BY seq"), ())
        )
        return [(int(s), bytes(p), bytes(h), bytes(b)) for s, p, h, b in found]

    def hash_of(self, sequence: int) -> bytes:
        return next(h for s, _, h, _ in self.rows() if s == sequence)

    def delete(self, condition: str) -> None:
        self.sql((self.q(f"DELETE FROM {{log}} WHERE {condition}"), ()))

    def rechain(self, start: int, key: bytes | None = None) -> None:
        """Edit record `start`'s body and recompute the chain from it to the end (with `key`,
        or plain SHA-256), leaving the head checkpoint alone."""
        rows = self.rows()
        prev = next(p for s, p, _, _ in rows if s == start)
        statements = []
        for sequence, _, _, stored in rows:
            if sequence < start:
                continue
            body = stored.replace(b'"qty":"100"', b'"qty":"900"') if sequence == start else stored
            digest = chain_hash(prev, body, key)
            statements.append(
                (
                    self.q("UPDATE {log} SET body = %s, prev_hash = %s, hash = %s WHERE seq = %s"),
                    (body, prev, digest, sequence),
                )
            )
            prev = digest
        self.sql(*statements)

    def forge_head(self, sequence: int, last: bytes, *, keyed: bool = False) -> None:
        """Rewrite the head checkpoint to (`sequence`, `last`) with a recomputed SHA-256 MAC —
        what an attacker who knows the format can do to an unkeyed log."""
        mac = head_mac(sequence, last, 0, bytes(32), keyed, None)
        self.sql(
            (
                self.q("UPDATE {head} SET seq = %s, hash = %s, keyed = %s, mac = %s"),
                (sequence, last, keyed, mac),
            )
        )

    def move_start(self, through: int) -> None:
        """Point the purge anchor after record `through` (as a retention purge would)."""
        raise NotImplementedError

    def make_legacy(self) -> None:
        """Remove the head checkpoint: the layout the previous version wrote."""
        raise NotImplementedError


class SqliteStore(Store):
    name = "sqlite"
    log = "audit_log"
    head = "audit_head"

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "audit.db"
        self.where = ["--path", str(self.path)]
        self.env = {}

    def fill(self, count: int, key: bytes | None = None, start: int = 0) -> None:
        async def write() -> None:
            log = await SqliteAuditLog.open(self.path, hmac_key=key)
            try:
                await log.append_many(records(count, start))
            finally:
                await log.close()

        asyncio.run(write())

    def sql(self, *statements: tuple[str, Sequence[Any]]) -> list[list[tuple[Any, ...]]]:
        with contextlib.closing(sqlite3.connect(self.path, isolation_level=None)) as conn:
            conn.execute("BEGIN IMMEDIATE")
            drop_triggers(conn)
            found = [
                conn.execute(text.replace("%s", "?"), params).fetchall()
                for text, params in statements
            ]
            conn.execute("COMMIT")
        return found

    def move_start(self, through: int) -> None:
        anchor = self.hash_of(through)
        self.delete(f"seq <= {through}")
        self.sql(("UPDATE audit_anchor SET purged_through = ?, anchor_hash = ?", (through, anchor)))

    def make_legacy(self) -> None:
        self.sql(("DROP TABLE audit_head", ()))
        with contextlib.closing(sqlite3.connect(self.path, isolation_level=None)) as conn:
            conn.execute("PRAGMA application_id = 0")
            conn.execute("PRAGMA user_version = 0")


# The head row's guard function as the previous version created it (no key flag to protect).
_LEGACY_HEAD_GUARD = """
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.retention_years = OLD.retention_years THEN
            IF NEW.purged_through = OLD.purged_through AND NEW.anchor_hash = OLD.anchor_hash THEN
                RETURN NEW;
            END IF;
            IF coalesce(current_setting('ordergate.audit_purge_through', true), '') <> '' THEN
                RETURN NEW;
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit log head: % of the anchor is refused outside purge_before', TG_OP;
END
"""


class PostgresStore(Store):
    name = "postgres"

    def __init__(self, dsn: str, schema: str) -> None:
        self.dsn = dsn
        self.schema = schema
        self.log = f'"{schema}"."audit"'
        self.head = f'"{schema}"."audit_head"'
        self.where = []
        self.env = {
            "ORDERGATE_AUDIT__KIND": "postgres",
            "ORDERGATE_AUDIT__DSN": dsn,
            "ORDERGATE_AUDIT__SCHEMA": schema,
            "ORDERGATE_AUDIT__TABLE": "audit",
        }

    def fill(self, count: int, key: bytes | None = None, start: int = 0) -> None:
        from ordergate.adapters.postgres import PostgresAuditLog

        async def write() -> None:
            log = await PostgresAuditLog.open(
                self.dsn, schema=self.schema, table="audit", hmac_key=key
            )
            try:
                await log.append_many(records(count, start))
            finally:
                await log.close()

        asyncio.run(write())

    def sql(self, *statements: tuple[str, Sequence[Any]]) -> list[list[tuple[Any, ...]]]:
        import psycopg

        found: list[list[tuple[Any, ...]]] = []
        with psycopg.connect(self.dsn) as conn, conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")  # no triggers fire
            for text, params in statements:
                # Without parameters, psycopg leaves `%` alone (plpgsql bodies use it).
                cur = conn.execute(text, params or None)  # type: ignore[arg-type]
                found.append(list(cur.fetchall()) if cur.description else [])
        return found

    def move_start(self, through: int) -> None:
        anchor = self.hash_of(through)
        self.delete(f"seq <= {through}")
        self.sql(
            (self.q("UPDATE {head} SET purged_through = %s, anchor_hash = %s"), (through, anchor))
        )

    def make_legacy(self) -> None:
        self.sql(
            (self.q("ALTER TABLE {head} DROP COLUMN keyed, DROP COLUMN mac"), ()),
            (
                f'CREATE OR REPLACE FUNCTION "{self.schema}"."audit_head_guard"()'
                f" RETURNS trigger LANGUAGE plpgsql AS $${_LEGACY_HEAD_GUARD}$$",
                (),
            ),
        )


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        yield SqliteStore(tmp_path)
        return
    yield request.getfixturevalue("pg_store")


@pytest.fixture
def pg_store(postgres_dsn: str) -> Iterator[PostgresStore]:
    from ordergate.adapters.postgres.testing import drop_schema

    schema = f"ordergate_tamper_{os.urandom(6).hex()}"
    try:
        yield PostgresStore(postgres_dsn, schema)
    finally:
        asyncio.run(drop_schema(postgres_dsn, schema))


def cli(store: Store, *args: str, key: bool = False) -> Result:
    """`ordergate audit ARGS` on the store, in process, with a clean ORDERGATE_* environment."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ORDERGATE_")}
    env.update(store.env)
    extra = []
    if key:
        env[KEY_ENV] = KEY.decode()
        extra = ["--hmac-key-env", KEY_ENV]
    return CliRunner().invoke(app, ["audit", *args, *store.where, *extra], env=env)


def assert_fails_at(result: Result, sequence: int, *words: str) -> None:
    assert 1 == result.exit_code, result.output
    assert f"FAILED: record {sequence}:" in result.output
    for word in words:
        assert word in result.output


def assert_ok(result: Result, count: int) -> None:
    assert 0 == result.exit_code, result.output
    assert f"OK: {count} records verified" in result.output


# --- truncation ---------------------------------------------------------------------------------


def test_the_last_records_deleted_are_named(store: Store) -> None:
    store.fill(COUNT)
    store.delete(f"seq > {COUNT - 48}")
    assert_fails_at(cli(store, "verify"), COUNT - 47, "missing", f"through {COUNT}")


def test_every_record_deleted_is_named(store: Store) -> None:
    store.fill(COUNT)
    store.delete("seq > 0")
    assert_fails_at(cli(store, "verify"), 1, "missing")


def test_the_start_deleted_with_the_purge_anchor_moved_to_match_is_named(store: Store) -> None:
    store.fill(COUNT)
    store.move_start(10)
    assert_fails_at(cli(store, "verify"), 1)


def test_a_record_edited_and_the_chain_recomputed_is_caught_at_the_head(store: Store) -> None:
    store.fill(COUNT)
    store.rechain(20)
    assert_fails_at(cli(store, "verify"), COUNT, "head checkpoint", "recomputed")


def test_appends_after_a_truncation_do_not_hide_it(tmp_path: Path) -> None:
    sqlite = SqliteStore(tmp_path)  # PostgreSQL chained on its head row already
    sqlite.fill(30)
    sqlite.delete("seq > 20")
    sqlite.fill(5, start=30)
    assert_fails_at(cli(sqlite, "verify"), 21, "missing")


def test_a_sqlite_log_whose_checkpoint_was_dropped_is_refused(tmp_path: Path) -> None:
    sqlite = SqliteStore(tmp_path)
    sqlite.fill(COUNT)
    sqlite.sql(("DROP TABLE audit_head", ()))  # the file still carries its application id
    sqlite.delete(f"seq > {COUNT - 5}")
    result = cli(sqlite, "verify")
    assert 1 == result.exit_code, result.output
    assert "has no audit_head table" in result.output
    with pytest.raises(AuditStoreError, match="changed behind ordergate"):
        asyncio.run(SqliteAuditLog.open(sqlite.path))  # and nothing is appended to it


def test_records_added_behind_the_log_are_named(store: Store) -> None:
    store.fill(10)
    last = store.hash_of(10)
    ts = "2024-01-02T15:01:00.000000+00:00"
    body = f'{{"correlation_id":null,"kind":"x","payload":{{}},"ts":"{ts}"}}'.encode()
    store.sql(
        (
            store.q(
                "INSERT INTO {log} (seq, ts, kind, correlation_id, body, prev_hash, hash)"
                " VALUES (11, %s, 'x', NULL, %s, %s, %s)"
            ),
            (ts, body, last, chain_hash(last, body)),
        )
    )
    assert_fails_at(cli(store, "verify"), 11, "beyond the head checkpoint")


# --- keys ---------------------------------------------------------------------------------------


def test_a_keyed_log_re_chained_without_its_key_is_refused_then_named(store: Store) -> None:
    store.fill(COUNT, key=KEY)
    store.rechain(1, key=None)  # the whole chain, plain SHA-256: the attacker has no key
    refused = cli(store, "verify")
    assert 2 == refused.exit_code, refused.output
    assert "HMAC-keyed" in refused.output
    assert_fails_at(cli(store, "verify", key=True), 1, "hash")


def test_a_keyed_log_downgraded_with_its_flag_is_caught_by_the_key(store: Store) -> None:
    store.fill(COUNT, key=KEY)
    store.rechain(1, key=None)
    store.forge_head(COUNT, store.hash_of(COUNT), keyed=False)
    assert_ok(cli(store, "verify"), COUNT)  # undetectable without the key or an anchor
    assert_fails_at(cli(store, "verify", key=True), 1, "not HMAC-keyed")


def test_a_forged_checkpoint_of_a_keyed_log_fails_its_mac(store: Store) -> None:
    store.fill(COUNT, key=KEY)
    store.delete(f"seq > {COUNT - 5}")
    store.forge_head(COUNT - 5, store.hash_of(COUNT - 5), keyed=True)  # no key: wrong MAC
    assert_fails_at(cli(store, "verify", key=True), 1, "MAC")


# --- anchors ------------------------------------------------------------------------------------


def take_anchor(store: Store, tmp_path: Path, key: bool = False) -> Path:
    out = tmp_path / f"{store.name}.anchor.json"
    result = cli(store, "anchor", "--out", str(out), key=key)
    assert 0 == result.exit_code, result.output
    return out


def test_truncation_with_a_forged_checkpoint_is_caught_by_an_anchor(
    store: Store, tmp_path: Path
) -> None:
    store.fill(40)
    anchor = take_anchor(store, tmp_path)
    store.delete("seq > 30")
    store.forge_head(30, store.hash_of(30))
    assert_ok(cli(store, "verify"), 30)  # self-consistent: only an anchor can tell
    assert_fails_at(cli(store, "verify", "--anchor", str(anchor)), 31, "anchor", "truncated")


def test_re_chaining_with_a_forged_checkpoint_is_caught_by_an_anchor(
    store: Store, tmp_path: Path
) -> None:
    store.fill(40)
    anchor = take_anchor(store, tmp_path)
    store.fill(10, start=40)  # the log goes on after the anchor was taken
    store.rechain(20)
    store.forge_head(50, store.hash_of(50))
    assert_ok(cli(store, "verify"), 50)
    assert_fails_at(cli(store, "verify", "--anchor", str(anchor)), 40, "anchor", "recomputed")


def test_a_keyed_downgrade_is_caught_by_an_anchor(store: Store, tmp_path: Path) -> None:
    store.fill(20, key=KEY)
    anchor = take_anchor(store, tmp_path, key=True)
    store.rechain(1, key=None)
    store.forge_head(20, store.hash_of(20), keyed=False)
    assert_fails_at(cli(store, "verify", "--anchor", str(anchor)), 1, "keyed")


def test_a_log_that_grew_still_extends_its_anchor(store: Store, tmp_path: Path) -> None:
    store.fill(20, key=KEY)
    anchor = take_anchor(store, tmp_path, key=True)
    store.fill(15, key=KEY, start=20)
    result = cli(store, "verify", "--anchor", str(anchor), key=True)
    assert_ok(result, 35)
    assert "extends the anchor at record 20" in result.output


# --- not a log ----------------------------------------------------------------------------------


def test_an_empty_sqlite_file_is_not_a_log(tmp_path: Path) -> None:
    sqlite = SqliteStore(tmp_path)
    sqlite.fill(COUNT)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sqlite.path}{suffix}").write_bytes(b"")
    result = cli(sqlite, "verify")
    assert 1 == result.exit_code, result.output
    assert "empty" in result.output
    assert 0 == sqlite.path.stat().st_size


def test_a_dropped_postgres_chain_is_not_a_log_and_is_not_recreated(
    pg_store: PostgresStore,
) -> None:
    store = pg_store  # the SQLite counterpart is the empty file
    store.fill(COUNT)
    store.sql((store.q("DROP TABLE {log}, {head}"), ()))
    result = cli(store, "verify")
    assert 1 == result.exit_code, result.output
    assert "not an ordergate audit log" in result.output
    [[(exists,)]] = store.sql(("SELECT to_regclass(%s) IS NOT NULL", (store.log,)))
    assert not exists


def foreign_sqlite_file(path: Path) -> bytes:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('another application')")
        conn.commit()
    return path.read_bytes()


def test_verify_refuses_another_applications_sqlite_file_and_leaves_it_unchanged(
    tmp_path: Path,
) -> None:
    path = tmp_path / "other-app.db"
    before = foreign_sqlite_file(path)
    result = CliRunner().invoke(app, ["audit", "verify", "--path", str(path)])
    assert 1 == result.exit_code, result.output
    assert "not an ordergate audit log" in result.output
    assert before == path.read_bytes()
    assert [path] == list(tmp_path.iterdir())  # no -wal or -shm beside it
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert "delete" == conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert [("notes",)] == conn.execute("SELECT name FROM sqlite_master").fetchall()


def test_the_writer_refuses_another_applications_sqlite_file_and_leaves_it_unchanged(
    tmp_path: Path,
) -> None:
    path = tmp_path / "other-app.db"
    before = foreign_sqlite_file(path)
    with pytest.raises(NotAnAuditLog, match="not an ordergate audit log"):
        asyncio.run(SqliteAuditLog.open(path))
    assert before == path.read_bytes()
    assert [path] == list(tmp_path.iterdir())


def test_another_applications_postgres_table_is_refused_and_left_unchanged(
    pg_store: PostgresStore,
) -> None:
    store = pg_store
    store.sql(
        (f'CREATE SCHEMA "{store.schema}"', ()),
        (store.q("CREATE TABLE {log} (id int PRIMARY KEY, note text)"), ()),
    )
    result = cli(store, "verify")
    assert 1 == result.exit_code, result.output
    assert "not an ordergate audit log" in result.output
    [[(head,)], [(triggers,)]] = store.sql(
        ("SELECT to_regclass(%s) IS NOT NULL", (store.head,)),
        ("SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass", (store.log,)),
    )
    assert (False, 0) == (head, triggers)


# --- copies -------------------------------------------------------------------------------------

_HOLDER = """
import asyncio, sqlite3, sys
from datetime import UTC, datetime, timedelta
from ordergate.adapters.sqlite import SqliteAuditLog
from ordergate.domain.audit import AuditRecord

async def main():
    log = await SqliteAuditLog.open(sys.argv[1])
    t0 = datetime(2024, 1, 2, tzinfo=UTC)
    batch = [AuditRecord("k", t0 + timedelta(seconds=n), {"n": n}) for n in range(519)]
    await log.append_many(batch[:300])
    merge = sqlite3.connect(sys.argv[1])  # as an automatic checkpoint would: 1..300 into the .db
    merge.execute("PRAGMA wal_checkpoint(PASSIVE)")
    merge.close()
    await log.append_many(batch[300:])  # 301..519 stay in the -wal
    print("ready", flush=True)
    sys.stdin.readline()  # hold the log open until killed

asyncio.run(main())
"""


def test_a_db_copied_without_its_wal_no_longer_verifies_and_backup_copies_everything(
    tmp_path: Path,
) -> None:
    live = tmp_path / "live.db"
    with subprocess.Popen(  # a writer in another process, SIGKILLed without closing
        [sys.executable, "-c", _HOLDER, str(live)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout is not None
            assert "ready" == holder.stdout.readline().strip()
            copy = tmp_path / "copied.db"
            shutil.copyfile(live, copy)  # the .db alone: what a careless backup takes
            backed_up = tmp_path / "backup.db"
            backup = CliRunner().invoke(
                app, ["audit", "backup", str(backed_up), "--path", str(live)]
            )
        finally:
            holder.kill()
    result = CliRunner().invoke(app, ["audit", "verify", "--path", str(copy)])
    assert 1 == result.exit_code, result.output
    # The copy holds the last checkpoint (records 1..300, with the writer's mark), not the -wal.
    assert_fails_at(result, 301, "copied while a writer had it open", "without its -wal")
    assert "(300 records before it verified)" in result.output
    assert 0 == backup.exit_code, backup.output
    assert "backed up 519 records" in backup.output
    assert_ok(CliRunner().invoke(app, ["audit", "verify", "--path", str(backed_up)]), 519)
    killed = CliRunner().invoke(app, ["audit", "verify", "--path", str(live)])
    assert_ok(killed, 519)  # the killed writer's own file, with its -wal, is whole


# --- upgrading a log of the previous layout ------------------------------------------------------


def test_a_log_of_the_previous_layout_asks_to_be_upgraded_then_verifies(store: Store) -> None:
    store.fill(COUNT)
    store.make_legacy()
    before = cli(store, "verify")
    assert 1 == before.exit_code, before.output
    assert "ordergate audit upgrade" in before.output
    upgraded = cli(store, "upgrade")
    assert 0 == upgraded.exit_code, upgraded.output
    assert f"head checkpoint at record {COUNT}" in upgraded.output
    assert_ok(cli(store, "verify"), COUNT)
    store.delete(f"seq > {COUNT - 3}")  # and from now on, truncation shows
    assert_fails_at(cli(store, "verify"), COUNT - 2, "missing")


def test_a_tampered_log_of_the_previous_layout_is_not_upgraded(store: Store) -> None:
    store.fill(COUNT)
    store.make_legacy()
    store.sql((store.q("UPDATE {log} SET body = %s WHERE seq = 7"), (b"{}",)))
    result = cli(store, "upgrade")
    assert_fails_at(result, 7)
    assert "ordergate audit upgrade" in cli(store, "verify").output  # still legacy, unchanged


# --- the key variable ---------------------------------------------------------------------------


def test_an_unset_key_variable_is_a_startup_error_naming_it(tmp_path: Path) -> None:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ORDERGATE_")}
    env.update(
        ORDERGATE_AUDIT__PATH=str(tmp_path / "run.db"),
        ORDERGATE_AUDIT__HMAC_KEY_ENV="ORDERGATE_TEST_UNSET_KEY",
        ORDERGATE_TEST_UNSET_KEY=None,
    )
    result = CliRunner().invoke(app, ["run", "--bars", "2"], env=env)
    assert 2 == result.exit_code, result.output
    assert "ORDERGATE_TEST_UNSET_KEY" in result.output
    assert "not set" in result.output
    assert not (tmp_path / "run.db").exists()  # nothing was written unkeyed


def test_an_unset_key_variable_stops_the_embedding_api_too(tmp_path: Path) -> None:
    from ordergate.adapters.serialization import AuditKeyError
    from ordergate.application.bootstrap import build_application
    from ordergate.application.config import load_settings

    env = {
        "ORDERGATE_AUDIT__PATH": str(tmp_path / "embedded.db"),
        "ORDERGATE_AUDIT__HMAC_KEY_ENV": "ORDERGATE_TEST_UNSET_KEY",
    }
    settings = load_settings(None, environ=env)
    with pytest.raises(AuditKeyError, match="ORDERGATE_TEST_UNSET_KEY, which is not set"):
        asyncio.run(build_application(settings, environ=env))
    assert not (tmp_path / "embedded.db").exists()


def test_the_embedding_api_verifies_against_an_anchor(tmp_path: Path) -> None:
    from ordergate.application.bootstrap import build_application
    from ordergate.application.config import load_settings

    env = {"ORDERGATE_AUDIT__PATH": str(tmp_path / "embedded.db")}

    async def scenario() -> tuple[bool, bool, int | None, int]:
        async with await build_application(load_settings(None, environ=env), environ=env) as app:
            await app.gate.record("app.note", {"n": "1"})
            head = (await app.gate.verify_audit()).head
            assert head is not None
            await app.gate.record("app.note", {"n": "2"})
            extends = await app.gate.verify_audit(anchor=head)
            forged = await app.gate.verify_audit(anchor=attrs.evolve(head, hash="ab" * 32))
            return extends.ok, forged.ok, forged.first_bad_sequence, head.sequence

    extends, forged, bad, anchored = asyncio.run(scenario())
    assert (True, False, anchored) == (extends, forged, bad)


def test_check_config_calls_an_unset_key_variable_invalid(tmp_path: Path) -> None:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ORDERGATE_")}
    env.update(
        ORDERGATE_AUDIT__PATH=str(tmp_path / "checked.db"),
        ORDERGATE_AUDIT__HMAC_KEY_ENV="ORDERGATE_TEST_UNSET_KEY",
        ORDERGATE_TEST_UNSET_KEY=None,
    )
    result = CliRunner().invoke(app, ["check-config"], env=env)
    assert 2 == result.exit_code, result.output
    assert "audit.hmac_key_env names ORDERGATE_TEST_UNSET_KEY, which is not set" in result.output
    env["ORDERGATE_TEST_UNSET_KEY"] = "a key"
    assert 0 == CliRunner().invoke(app, ["check-config"], env=env).exit_code
