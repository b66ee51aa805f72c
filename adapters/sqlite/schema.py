"""The SQLite audit schema: one append-only table, its indexes, and the triggers that keep it so.

The stored `body` (canonical JSON bytes) is the only authority: it is what is hashed and what
`query` returns. `ts`, `kind` and `correlation_id` are copies kept for the indexes; `verify`
checks they agree with the body (`MISMATCHED_COLUMNS`), and `query` re-checks its filters on the
decoded record. (Generated columns would guarantee agreement, but parsing JSON three times per
insert costs more than the whole rest of an append.) Triggers abort every UPDATE and every
DELETE outside the purge window that `purge_before` opens (and closes) inside its own
transaction.

This module must never relax `synchronous=FULL` or WAL: they are what make `append` durable and
a SIGKILL harmless.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = [
    "MISMATCHED_COLUMNS",
    "MISMATCHED_COLUMNS_GUARDED",
    "TRIGGERS",
    "connect",
    "create_schema",
    "drop_triggers",
    "index_correlations",
]

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

# Statements are separated by semicolons at line ends; comments must not end a line with one.
_TABLES = """
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
    "audit_anchor_guard": """
CREATE TRIGGER IF NOT EXISTS audit_anchor_guard BEFORE UPDATE ON audit_anchor
WHEN NOT EXISTS (SELECT 1 FROM audit_purge_window)
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor changes only inside purge_before');
END""",
}


def connect(path: Path | str, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection in manual-transaction mode with WAL and full fsync on commit."""
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=check_same_thread, timeout=30.0
    )
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise sqlite3.OperationalError(f"{path}: could not enable WAL (journal_mode={mode})")
        conn.execute("PRAGMA synchronous=FULL")
    except BaseException:
        conn.close()
        raise
    return conn


def create_schema(conn: sqlite3.Connection, *, retention_years: int = 7) -> None:
    """Create tables, indexes and triggers if they are missing (idempotent)."""
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
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


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
