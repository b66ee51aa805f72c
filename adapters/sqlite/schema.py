"""The SQLite audit schema: one append-only table, its indexes, and the triggers that keep it so.

The stored `body` (canonical JSON bytes) is the only authority: it is what is hashed and what
`query` returns. `ts`, `kind` and `correlation_id` are copies kept for the indexes; `verify`
checks they agree with the body (`MISMATCHED_COLUMNS`), and `query` re-checks its filters on the
decoded record. (Generated columns would guarantee agreement, but parsing JSON three times per
insert costs more than the whole rest of an append.) Triggers abort every UPDATE and every
DELETE outside the purge window that `purge_before` opens (and closes) inside its own
transaction.

`audit_head` is the head checkpoint: the last sequence and hash, the purge anchor, whether the
chain is keyed, and their MAC. The writer moves it in the transaction of every batch, so a file
missing records after its last one (or re-chained) no longer matches it. `writer_open` is set
while a writer has the file open (and pushed into the main file at once): a `.db` copied without
its `-wal` then says so. The file is marked with `PRAGMA application_id` and `user_version`, so
`inspect` can tell an ordergate log from a legacy one (layout 1, no checkpoint) and from any
other SQLite file — which nothing here ever changes.

This module must never relax `synchronous=FULL` or WAL: they are what make `append` durable and
a SIGKILL harmless.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.request import pathname2url

from ordergate.adapters.serialization import (
    AUDIT_APPLICATION_ID,
    AUDIT_FORMAT_VERSION,
    GENESIS_HASH_BYTES,
    AuditKeyError,
    AuditStoreError,
    LegacyAuditLog,
    NotAnAuditLog,
    head_mac,
)

__all__ = [
    "HEAD_TABLE",
    "MISMATCHED_COLUMNS",
    "MISMATCHED_COLUMNS_GUARDED",
    "TRIGGERS",
    "check_key_fits",
    "connect",
    "connect_read_only",
    "create_schema",
    "drop_triggers",
    "index_correlations",
    "inspect",
    "plain_connection",
]

_OURS = frozenset({"audit_log", "audit_anchor", "audit_head"})
_LEGACY = frozenset({"audit_log", "audit_anchor"})

# One parse per row: SQLite renders both arrays with its own JSON writer, so they compare exactly.
# A body that is not JSON makes this fail ("malformed JSON"); then the guarded form runs.
MISMATCHED_COLUMNS = """
SELECT min(seq) FROM audit_log
WHERE json_array(ts, kind, correlation_id)
    IS NOT json_extract(CAST(body AS TEXT), '$.ts', '$.kind', '$.correlation_id')
"""
MISMATCHED_COLUMNS_GUARDED = """
SELECT min(seq) FROM audit_log
WHERE CASE WHEN json_valid(CAST(body AS TEXT)) THEN
    json_array(ts, kind, correlation_id)
        IS NOT json_extract(CAST(body AS TEXT), '$.ts', '$.kind', '$.correlation_id')
ELSE 1 END
"""

HEAD_TABLE = """
-- The head checkpoint (see the module docstring); `mac` covers every column but `writer_open`.
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    purged_through INTEGER NOT NULL,
    anchor_hash BLOB NOT NULL,
    keyed INTEGER NOT NULL,
    mac BLOB NOT NULL,
    writer_open INTEGER NOT NULL DEFAULT 0
);
"""

# Statements are separated by semicolons at line ends; comments must not end a line with one.
_TABLES = (
    """
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL,
    correlation_id TEXT,
    body BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_by_ts ON audit_log (ts);
CREATE INDEX IF NOT EXISTS audit_log_by_kind ON audit_log (kind);
-- Correlation ids are random keys: indexing them inside every small commit would touch one
-- B-tree page per record. The writer fills this lookup behind the log in large batches
-- (see `index_correlations`), and queries read it up to `indexed_through` and scan the short tail.
CREATE TABLE IF NOT EXISTS audit_by_correlation (
    correlation_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (correlation_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_lookup_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_through INTEGER NOT NULL
);
INSERT OR IGNORE INTO audit_lookup_state (id, indexed_through) VALUES (1, 0);
-- Where the chain starts: 0 and the genesis hash until a purge removes a prefix.
-- `retention_years` is fixed when the file is created (the retention trigger enforces it).
CREATE TABLE IF NOT EXISTS audit_anchor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    purged_through INTEGER NOT NULL,
    anchor_hash BLOB NOT NULL,
    retention_years INTEGER NOT NULL
);
INSERT OR IGNORE INTO audit_anchor (id, purged_through, anchor_hash, retention_years)
    VALUES (1, 0, zeroblob(32), :retention_years);
-- A row here exists only inside a purge transaction: deletes up to `through` are allowed.
CREATE TABLE IF NOT EXISTS audit_purge_window (through INTEGER NOT NULL);
"""
    + HEAD_TABLE
)


TRIGGERS = {
    "audit_log_no_update": """
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE is refused');
END""",
    "audit_log_no_delete": """
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_purge_window WHERE OLD.seq <= through)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE is refused (use purge_before)');
END""",
    # Defence in depth behind `purge_before`'s own check, on SQLite's clock. Stored ts strings
    # carry microseconds and strftime gives milliseconds: the comparison errs towards refusing.
    "audit_log_retention": """
CREATE TRIGGER IF NOT EXISTS audit_log_retention BEFORE DELETE ON audit_log
WHEN OLD.ts > strftime(
    '%Y-%m-%dT%H:%M:%f', 'now',
    '-' || (SELECT retention_years FROM audit_anchor WHERE id = 1) || ' years'
)
BEGIN
    SELECT RAISE(ABORT, 'audit_log retention: records younger than the retention period stay');
END""",
    "audit_head_guard": """
CREATE TRIGGER IF NOT EXISTS audit_head_guard BEFORE UPDATE ON audit_head
WHEN NEW.keyed IS NOT OLD.keyed OR NEW.seq < OLD.seq
BEGIN
    SELECT RAISE(ABORT, 'audit_head: the key flag never changes and the head never moves back');
END""",
    "audit_head_no_delete": """
CREATE TRIGGER IF NOT EXISTS audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN
    SELECT RAISE(ABORT, 'audit_head: the head checkpoint is never deleted');
END""",
    "audit_anchor_guard": """
CREATE TRIGGER IF NOT EXISTS audit_anchor_guard BEFORE UPDATE ON audit_anchor
WHEN NOT EXISTS (SELECT 1 FROM audit_purge_window)
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor changes only inside purge_before');
END""",
}


def connect(path: Path | str, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection in manual-transaction mode with WAL and full fsync on commit.

    Only for files `inspect` found to be ordergate logs (or empty): it switches them to WAL.
    """
    conn = plain_connection(path, check_same_thread=check_same_thread)
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise sqlite3.OperationalError(f"{path}: could not enable WAL (journal_mode={mode})")
        conn.execute("PRAGMA synchronous=FULL")
    except BaseException:
        conn.close()
        raise
    return conn


def plain_connection(path: Path | str, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """A read-write connection that changes nothing by itself (no pragma is set)."""
    return sqlite3.connect(
        path, isolation_level=None, check_same_thread=check_same_thread, timeout=30.0
    )


def connect_read_only(path: Path | str) -> sqlite3.Connection:
    """A connection that cannot write the file (`mode=ro`); the file must exist."""
    uri = "file:" + pathname2url(str(Path(path).resolve())) + "?mode=ro"
    return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30.0)


def inspect(conn: sqlite3.Connection, path: Path | str) -> bool:
    """What the file is: True for an ordergate log, False for an empty file (a new log).

    Raises `LegacyAuditLog` for a log of layout 1 (no head checkpoint) and `NotAnAuditLog` for
    anything else; reads only.
    """
    try:
        (app_id,) = conn.execute("PRAGMA application_id").fetchone()
        tables = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.DatabaseError as exc:  # "file is not a database"
        raise NotAnAuditLog(f"{path} is not an ordergate audit log ({exc})") from exc
    if app_id == AUDIT_APPLICATION_ID and _OURS <= tables:
        return True
    if app_id == AUDIT_APPLICATION_ID:
        missing = ", ".join(sorted(_OURS - tables))
        raise AuditStoreError(
            f"{path} is marked as an ordergate audit log but has no {missing} table: it was "
            "changed behind ordergate (its head checkpoint or records were removed)"
        )
    if not tables and app_id == 0:
        if Path(path).exists() and Path(path).stat().st_size == 0:
            return False  # a 0-byte file is an empty database
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        if pages <= 1:
            return False
    if app_id == 0 and _LEGACY <= tables:
        raise LegacyAuditLog(
            f"{path} is an ordergate audit log of the layout before the head checkpoint: "
            f"upgrade it once with `ordergate audit upgrade --path {path}` (it verifies the "
            "chain first; see docs/audit.md, 'Upgrading a log')"
        )
    shown = ", ".join(sorted(tables)) or "no tables"
    raise NotAnAuditLog(
        f"{path} is not an ordergate audit log (application_id {app_id:#x}; {shown}); "
        "nothing was changed"
    )


def create_schema(
    conn: sqlite3.Connection, *, retention_years: int = 7, key: bytes | None = None
) -> None:
    """Create tables, indexes, triggers and the head checkpoint if missing (idempotent).

    Refuses (`AuditKeyError`) a key that does not fit the file: a keyed log opened without its
    key, or a key given for a log created without one.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _TABLES.split(";\n"):
            if statement.strip():
                named = (
                    {"retention_years": retention_years} if ":retention_years" in statement else {}
                )
                conn.execute(statement, named)
        for ddl in TRIGGERS.values():
            conn.execute(ddl)
        row = conn.execute("SELECT keyed FROM audit_head").fetchone()
        if row is None:
            zero = GENESIS_HASH_BYTES
            mac = head_mac(0, zero, 0, zero, key is not None, key)
            conn.execute(
                "INSERT INTO audit_head (id, seq, hash, purged_through, anchor_hash, keyed, mac)"
                " VALUES (1, 0, ?, 0, ?, ?, ?)",
                (zero, zero, int(key is not None), mac),
            )
            conn.execute(f"PRAGMA application_id = {AUDIT_APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {AUDIT_FORMAT_VERSION}")
        else:
            check_key_fits(bool(row[0]), key)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def check_key_fits(keyed: bool, key: bytes | None) -> None:
    """`AuditKeyError` unless a key is given exactly when the log is keyed."""
    if keyed and key is None:
        raise AuditKeyError(
            "the audit log is HMAC-keyed: it cannot be opened without its key "
            "(set audit.hmac_key_env to the variable holding it)"
        )
    if not keyed and key is not None:
        raise AuditKeyError(
            "the audit log was created without an HMAC key: it cannot be extended with one "
            "(a log keeps the chain it was created with; start a new file for a keyed log)"
        )


def drop_triggers(conn: sqlite3.Connection) -> None:
    """Remove the guards (only tests that tamper behind the log's back call this)."""
    for name in TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")


def index_correlations(conn: sqlite3.Connection, *, limit: int | None = None) -> int:
    """Copy correlation ids of not-yet-indexed records into the lookup; how many were added.

    The lookup is derived data (rebuildable from the log), so it commits with
    `synchronous=NORMAL`: consistent after a crash, possibly a few batches behind, never wrong.
    """
    conn.execute("PRAGMA synchronous=NORMAL")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            (start,) = conn.execute("SELECT indexed_through FROM audit_lookup_state").fetchone()
            (last,) = conn.execute("SELECT max(seq) FROM audit_log").fetchone()
            upto = start if last is None else last
            if limit is not None:
                upto = min(upto, start + limit)
            if upto <= start:
                conn.execute("ROLLBACK")
                return 0
            added = conn.execute(
                "INSERT OR IGNORE INTO audit_by_correlation (correlation_id, seq)"
                " SELECT correlation_id, seq FROM audit_log"
                " WHERE seq > ? AND seq <= ? AND correlation_id IS NOT NULL",
                (start, upto),
            ).rowcount
            conn.execute("UPDATE audit_lookup_state SET indexed_through = ?", (upto,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute("PRAGMA synchronous=FULL")
    return int(added)
