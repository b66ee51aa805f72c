"""Which audit log the `audit` commands read, and how to open it through the `AuditLog` port.

`--path FILE` means a SQLite file; otherwise `[audit]` of the configuration decides: `sqlite`
(its `path`) or `postgres` (`dsn`, `schema`, `table`, password from
`ORDERGATE_POSTGRES_PASSWORD`). A missing SQLite file is an error, never created. The HMAC key is
read from the variable `--hmac-key-env` (else `audit.hmac_key_env`) names; a named variable that
is unset is an error (exit 2). Labels shown to the user are redacted.

`open` opens the log read-only (SQLite `mode=ro`, PostgreSQL read-only transactions, no DDL):
another application's file or table is refused and left as it was. Only `upgrade` writes.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import attrs

from ordergate.adapters.cli.app import exit_on_errors, fail, load
from ordergate.adapters.cli.exit_codes import ExitCode
from ordergate.adapters.serialization import hmac_key_from_env
from ordergate.adapters.sqlite import SqliteAuditLog
from ordergate.application.config import AuditKind, AuditSettings, redact
from ordergate.domain.audit import VerifyResult
from ordergate.ports.audit_log import AuditLog

__all__ = ["AuditTarget", "resolve_target", "run_async", "with_log"]

_T = TypeVar("_T")


@attrs.frozen
class AuditTarget:
    """An audit log to read: what to call it, and how to open it."""

    label: str
    open: Callable[[], Awaitable[AuditLog]]
    upgrade: Callable[[], Coroutine[Any, Any, VerifyResult]]
    file: Path | None = None  # the SQLite file, None for PostgreSQL
    open_file: Callable[[Path], Awaitable[SqliteAuditLog]] | None = None  # same key, read-only


def resolve_target(
    path: Path | None, hmac_key_env: str | None, config: Path | None, profile: str | None
) -> AuditTarget:
    """The log the options and configuration point at (exits 2 when there is none to read)."""
    audit: AuditSettings | None = None
    if path is None or hmac_key_env is None:
        with exit_on_errors():
            audit = load(config, profile).audit
    variable = hmac_key_env or (audit.hmac_key_env if audit is not None else None)
    with exit_on_errors():
        key = hmac_key_from_env(variable, os.environ)
    if path is None and audit is not None and audit.kind is AuditKind.POSTGRES:
        return _postgres(audit, key)
    if path is None and audit is not None and audit.kind is not AuditKind.SQLITE:
        raise fail(
            f"audit.kind is {audit.kind.value!r}: there is no stored log to read; "
            "pass --path FILE or configure a sqlite or postgres audit log",
            ExitCode.BAD_CONFIG,
        )
    file = path if path is not None else Path(audit.path if audit is not None else "")
    if not file.is_file():
        raise fail(f"audit file {file} does not exist", ExitCode.BAD_CONFIG)

    async def open_file(at: Path) -> SqliteAuditLog:
        return await SqliteAuditLog.open(at, hmac_key=key, read_only=True)

    async def open_sqlite() -> AuditLog:
        return await open_file(file)

    async def upgrade_sqlite() -> VerifyResult:
        return await SqliteAuditLog.upgrade(file, hmac_key=key)

    return AuditTarget(str(file), open_sqlite, upgrade_sqlite, file, open_file)


def _postgres(audit: AuditSettings, key: bytes | None) -> AuditTarget:
    try:  # psycopg is an optional extra: import it only when a PostgreSQL log is asked for
        from ordergate.adapters.postgres import PostgresAuditLog  # noqa: PLC0415
    except ImportError as error:
        raise fail(
            f"audit.kind is 'postgres' but psycopg is not installed ({error}); "
            "pip install 'ordergate[postgres]'",
            ExitCode.BAD_CONFIG,
        ) from None
    dsn = audit.dsn or ""
    password = os.environ.get("ORDERGATE_POSTGRES_PASSWORD") or None

    async def open_postgres() -> AuditLog:
        return await PostgresAuditLog.open(
            dsn,
            schema=audit.schema,
            table=audit.table,
            password=password,
            hmac_key=key,
            read_only=True,
        )

    async def upgrade_postgres() -> VerifyResult:
        return await PostgresAuditLog.upgrade(
            dsn, schema=audit.schema, table=audit.table, password=password, hmac_key=key
        )

    label = f"{redact(dsn)} {audit.schema}.{audit.table}"
    return AuditTarget(label, open_postgres, upgrade_postgres)


def with_log(target: AuditTarget, action: Callable[[AuditLog], Awaitable[_T]]) -> _T:
    """Open the log (read-only), run `action` on it, close it; typed errors exit with their
    code."""

    async def run() -> _T:
        log = await target.open()
        try:
            return await action(log)
        finally:
            await log.close()

    return run_async(target, run)


def run_async(target: AuditTarget, work: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run `work`; typed errors exit with their code, SQLite's with 1 naming the target."""
    with exit_on_errors():
        try:
            return asyncio.run(work())
        except sqlite3.Error as error:  # e.g. "file is not a database"
            raise fail(f"{target.label}: {error}", ExitCode.FAILURE) from None
