"""The PostgreSQL audit schema: the log table, its chain-head row, and the guard trigger.

Every name is built with `psycopg.sql.Identifier` from the configured schema and table, so one
database can hold several independent chains (tests use a schema each). The head row is what
appenders lock (`SELECT … FOR UPDATE`) so that any number of processes extend one gapless chain.
The guard trigger refuses UPDATE, TRUNCATE and DELETE on the log, except a DELETE inside
`purge_before`'s transaction of rows older than the retention period. The head row is also the
head checkpoint: `keyed` records whether the chain is HMAC-keyed (it never changes) and `mac`
covers the sequence, hash, purge anchor and `keyed` (under the key when keyed); a head table
without them is a log of the layout before the checkpoint (`CHECKPOINT_COLUMNS`).

This module must never weaken those guards or build SQL by string interpolation of names.
"""

from __future__ import annotations

import attrs
from psycopg import sql

__all__ = ["CHECKPOINT_COLUMNS", "PURGE_SETTING", "Names", "guard_statements", "schema_statements"]

CHECKPOINT_COLUMNS = frozenset({"keyed", "mac"})
"""Columns of the head table that a log of the layout before the checkpoint lacks."""

PURGE_SETTING = "ordergate.audit_purge_through"
"""Transaction-local setting that opens the purge window up to a sequence."""


@attrs.frozen
class Names:
    """Identifiers of one chain's objects."""

    schema: str
    table: str

    @property
    def log(self) -> sql.Composed:
        """The log table."""
        return sql.SQL(".").join([sql.Identifier(self.schema), sql.Identifier(self.table)])

    def _obj(self, suffix: str) -> sql.Composed:
        return sql.SQL(".").join(
            [sql.Identifier(self.schema), sql.Identifier(f"{self.table}_{suffix}")]
        )

    @property
    def head(self) -> sql.Composed:
        """The one-row chain head (last sequence and hash, purge anchor, retention)."""
        return self._obj("head")

    @property
    def guard(self) -> sql.Composed:
        """The log's guard function."""
        return self._obj("guard")

    @property
    def head_guard(self) -> sql.Composed:
        """The head row's guard function."""
        return self._obj("head_guard")

    def index(self, column: str) -> sql.Identifier:
        """The name of the index on `column` (unqualified, as CREATE INDEX wants)."""
        return sql.Identifier(f"{self.table}_by_{column}")

    def trigger(self, what: str) -> sql.Identifier:
        """The name of a trigger (unqualified)."""
        return sql.Identifier(f"{self.table}_{what}")


# Nested IFs: plpgsql does not promise to short-circuit AND, and OLD/NEW are NULL in
# statement-level (TRUNCATE) calls.
_GUARD_BODY = """
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF coalesce(current_setting('{setting}', true), '') <> '' THEN
            IF OLD.seq <= current_setting('{setting}')::bigint THEN
                IF OLD.ts >= now() - make_interval(
                    years => (SELECT retention_years FROM {head})
                ) THEN
                    RAISE EXCEPTION
                        'audit log %: record % is younger than the retention period',
                        TG_TABLE_NAME, OLD.seq;
                END IF;
                RETURN OLD;
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit log % is append-only: % refused (use purge_before)',
        TG_TABLE_NAME, TG_OP;
END
"""

_HEAD_GUARD_BODY = """
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.keyed IS DISTINCT FROM OLD.keyed AND OLD.keyed IS NOT NULL THEN
            RAISE EXCEPTION 'audit log head: the key flag never changes';
        END IF;
        IF NEW.seq < OLD.seq THEN
            RAISE EXCEPTION 'audit log head: the head never moves back';
        END IF;
        IF NEW.retention_years = OLD.retention_years THEN
            IF NEW.purged_through = OLD.purged_through AND NEW.anchor_hash = OLD.anchor_hash THEN
                RETURN NEW;
            END IF;
            IF coalesce(current_setting('{setting}', true), '') <> '' THEN
                RETURN NEW;
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit log head: % of the anchor is refused outside purge_before', TG_OP;
END
"""


def schema_statements(
    names: Names, retention_years: int, keyed: bool, mac: bytes
) -> list[sql.Composed]:
    """Idempotent DDL creating one chain (run inside one transaction); `mac` is the empty head's."""
    return [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(names.schema)),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " seq bigint PRIMARY KEY, ts timestamptz NOT NULL, kind text NOT NULL,"
            " correlation_id text, body bytea NOT NULL,"
            " prev_hash bytea NOT NULL, hash bytea NOT NULL)"
        ).format(names.log),
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (correlation_id, seq)").format(
            names.index("correlation"), names.log
        ),
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (kind, seq)").format(
            names.index("kind"), names.log
        ),
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (ts)").format(names.index("ts"), names.log),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " id boolean PRIMARY KEY DEFAULT true CHECK (id),"
            " seq bigint NOT NULL, hash bytea NOT NULL,"
            " purged_through bigint NOT NULL, anchor_hash bytea NOT NULL,"
            " retention_years integer NOT NULL, keyed boolean NOT NULL, mac bytea NOT NULL)"
        ).format(names.head),
        sql.SQL(
            "INSERT INTO {} (seq, hash, purged_through, anchor_hash, retention_years, keyed, mac)"
            " VALUES (0, {zero}, 0, {zero}, {years}, {keyed}, {mac}) ON CONFLICT (id) DO NOTHING"
        ).format(
            names.head,
            zero=sql.SQL("'\\x{}'::bytea".format("00" * 32)),
            years=sql.Literal(retention_years),
            keyed=sql.Literal(keyed),
            mac=sql.SQL(f"'\\x{mac.hex()}'::bytea"),
        ),
        *guard_statements(names),
    ]


def guard_statements(names: Names) -> list[sql.Composed]:
    """The guard functions and triggers (idempotent; the upgrade replaces them too)."""
    head_q = names.head.as_string(None)
    guard = sql.SQL(_GUARD_BODY.format(setting=PURGE_SETTING, head=head_q))
    head_guard = sql.SQL(_HEAD_GUARD_BODY.format(setting=PURGE_SETTING))
    return [
        sql.SQL("CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS {}").format(
            names.guard, sql.Literal(guard.as_string(None))
        ),
        sql.SQL("CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS {}").format(
            names.head_guard, sql.Literal(head_guard.as_string(None))
        ),
        sql.SQL(
            "CREATE OR REPLACE TRIGGER {} BEFORE UPDATE OR DELETE ON {}"
            " FOR EACH ROW EXECUTE FUNCTION {}()"
        ).format(names.trigger("guard"), names.log, names.guard),
        sql.SQL(
            "CREATE OR REPLACE TRIGGER {} BEFORE TRUNCATE ON {}"
            " FOR EACH STATEMENT EXECUTE FUNCTION {}()"
        ).format(names.trigger("no_truncate"), names.log, names.guard),
        sql.SQL(
            "CREATE OR REPLACE TRIGGER {} BEFORE UPDATE OR DELETE ON {}"
            " FOR EACH ROW EXECUTE FUNCTION {}()"
        ).format(names.trigger("head_guard"), names.head, names.head_guard),
        sql.SQL(
            "CREATE OR REPLACE TRIGGER {} BEFORE TRUNCATE ON {}"
            " FOR EACH STATEMENT EXECUTE FUNCTION {}()"
        ).format(names.trigger("head_no_truncate"), names.head, names.head_guard),
    ]
