"""`ordergate audit verify|anchor|tail|export|backup|upgrade`: the audit log through the
`AuditLog` port.

Which log: `--path FILE` (SQLite), else `[audit]` of the configuration (sqlite or postgres; see
`audit_target`). `verify` exits 0 when the chain is intact (and, with `--anchor FILE`, still
extends that anchor) and 1 naming the first bad record; `anchor` verifies, then prints or writes
the head checkpoint as an anchor file to keep elsewhere; `tail` prints the last records as a
table; `export` writes JSON lines; `backup` copies a SQLite log with SQLite's online backup API
and verifies the copy. These open the log read-only and never append, update or delete a record.
`upgrade` (the one command that writes) gives a log of the previous layout its head checkpoint.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ordergate.adapters.cli.app import (
    ConfigOption,
    ProfileOption,
    environment_secrets,
    err_console,
    exit_on_errors,
    fail,
    out_console,
)
from ordergate.adapters.cli.audit_target import AuditTarget, resolve_target, run_async, with_log
from ordergate.adapters.cli.exit_codes import ExitCode
from ordergate.adapters.serialization import decode_anchor, encode_anchor, format_ts
from ordergate.application.config import redact
from ordergate.domain.audit import AuditEntry, AuditHead, VerifyResult
from ordergate.domain.errors import InvalidValue
from ordergate.domain.values import CorrelationId

__all__ = ["audit_app", "register"]

audit_app = typer.Typer(
    help="Verify, show and export the tamper-evident audit log.", no_args_is_help=True
)

PathOption = Annotated[
    Path | None,
    typer.Option(
        "--audit",
        "--path",
        dir_okay=False,
        help="SQLite audit file (default: [audit] of the config). --path is the old name.",
    ),
]
KeyEnvOption = Annotated[
    str | None,
    typer.Option(
        "--hmac-key-env",
        metavar="VARIABLE",
        help="Environment variable holding the HMAC key (default: audit.hmac_key_env).",
    ),
]
KindOption = Annotated[str | None, typer.Option("--kind", help="Only records of this kind.")]
CorrelationOption = Annotated[
    str | None, typer.Option("--correlation-id", help="Only records of this correlation id.")
]


def register(app: typer.Typer) -> None:
    """Add the `audit` command group to `app`."""
    app.add_typer(audit_app, name="audit")


AnchorOption = Annotated[
    Path | None,
    typer.Option(
        "--anchor",
        dir_okay=False,
        metavar="FILE",
        help="An anchor file written by `ordergate audit anchor`: also prove the log extends it.",
    ),
]


@audit_app.command("verify")
def verify(
    *,
    path: PathOption = None,
    anchor: AnchorOption = None,
    hmac_key_env: KeyEnvOption = None,
    config: ConfigOption = None,
    profile: ProfileOption = None,
) -> None:
    """Recompute the hash chain against its head checkpoint (and --anchor); exit 0 if intact,
    1 naming the first bad record."""
    saved = _read_anchor(anchor) if anchor is not None else None
    target = resolve_target(path, hmac_key_env, config, profile)
    with err_console().status(f"verifying {target.label} ..."):
        result = with_log(target, lambda log: log.verify(anchor=saved))
    _report(result, target.label, saved)


@audit_app.command("anchor")
def anchor(
    *,
    path: PathOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", dir_okay=False, help="Write the anchor here (default: stdout)."
        ),
    ] = None,
    hmac_key_env: KeyEnvOption = None,
    config: ConfigOption = None,
    profile: ProfileOption = None,
) -> None:
    """Verify the log, then print (or --out) its head checkpoint as an anchor to keep elsewhere."""
    target = resolve_target(path, hmac_key_env, config, profile)
    with err_console().status(f"verifying {target.label} ..."):
        result = with_log(target, lambda log: log.verify())
    if not result.ok or result.head is None:
        _report(result, target.label, None)
        return
    text = encode_anchor(result.head, target.label)
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    with exit_on_errors():
        partial = out.with_name(out.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(out)
    err_console().print(
        f"anchor of {target.label} at record {result.head.sequence} written to {out}",
        markup=False,
    )


@audit_app.command("backup")
def backup(
    destination: Annotated[
        Path, typer.Argument(dir_okay=False, help="The new file to copy the log into.")
    ],
    *,
    path: PathOption = None,
    hmac_key_env: KeyEnvOption = None,
    config: ConfigOption = None,
    profile: ProfileOption = None,
) -> None:
    """Copy a SQLite log consistently (SQLite's online backup API, while writers go on), then
    verify the copy."""
    target = resolve_target(path, hmac_key_env, config, profile)
    if target.file is None:
        raise fail(
            f"audit backup copies SQLite logs; {target.label} is a PostgreSQL table: "
            "back it up with pg_dump (then `ordergate audit verify` the restored copy)",
            ExitCode.BAD_CONFIG,
        )
    if destination.exists():
        raise fail(
            f"backup destination {destination} exists: nothing was copied", ExitCode.BAD_CONFIG
        )
    result = run_async(target, lambda: _backup(target, destination))
    if not result.ok:
        _report(result, str(destination), None)
        return
    out_console().print(
        f"backed up {result.checked} records of {target.label} to {destination} "
        "(the copy verifies)",
        markup=False,
    )


@audit_app.command("upgrade")
def upgrade(
    *,
    path: PathOption = None,
    hmac_key_env: KeyEnvOption = None,
    config: ConfigOption = None,
    profile: ProfileOption = None,
) -> None:
    """Give a log written before the head checkpoint existed its checkpoint (once; it verifies
    the chain first and changes nothing if it does not verify)."""
    target = resolve_target(path, hmac_key_env, config, profile)
    result = run_async(target, target.upgrade)
    if not result.ok:
        _report(result, target.label, None)
        return
    head = result.head
    through = head.sequence if head is not None else 0
    out_console().print(
        f"upgraded {target.label}: {result.checked} records verified, head checkpoint at "
        f"record {through}; take an anchor now (`ordergate audit anchor`)",
        markup=False,
    )


async def _backup(target: AuditTarget, destination: Path) -> VerifyResult:
    """Copy the log, then verify the copy exactly as its original (same key)."""
    assert target.open_file is not None
    assert target.file is not None
    source = await target.open_file(target.file)
    try:
        await source.backup(destination)
    finally:
        await source.close()
    copy = await target.open_file(destination)
    try:
        return await copy.verify()
    finally:
        await copy.close()


def _read_anchor(file: Path) -> AuditHead:
    with exit_on_errors():
        text = file.read_text(encoding="utf-8", errors="replace")
    try:
        return decode_anchor(text, str(file))
    except InvalidValue as error:
        raise fail(str(error), ExitCode.BAD_CONFIG) from None


def _report(result: VerifyResult, label: str, saved: AuditHead | None) -> None:
    console = out_console()
    if result.ok:
        head = result.head
        tail = "" if head is None else f" (head checkpoint at record {head.sequence})"
        extends = "" if saved is None else f"; it extends the anchor at record {saved.sequence}"
        console.print(
            f"OK: {result.checked} records verified in {label}{tail}{extends}", markup=False
        )
        return
    reason = result.reason.removeprefix(f"{result.first_bad_sequence}: ")
    console.print(
        f"FAILED: record {result.first_bad_sequence}: {reason} "
        f"({result.checked} records before it verified) in {label}",
        markup=False,
    )
    raise typer.Exit(int(ExitCode.FAILURE))


@audit_app.command("tail")
def tail(
    *,
    path: PathOption = None,
    count: Annotated[int, typer.Option("-n", "--count", min=1, help="How many records.")] = 20,
    kind: KindOption = None,
    correlation_id: CorrelationOption = None,
    hmac_key_env: KeyEnvOption = None,
    config: ConfigOption = None,
    profile: ProfileOption = None,
) -> None:
    """Print the last records (oldest first) as a table."""
    target = resolve_target(path, hmac_key_env, config, profile)
    entries = _query(target, kind=kind, correlation_id=correlation_id, since=None, until=None)[
        -count:
    ]
    secrets = environment_secrets()
    table = Table(title=target.label, title_justify="left")
    table.add_column("seq", no_wrap=True, justify="right")
    table.add_column("ts", no_wrap=True)
    for column in ("kind", "correlation", "payload"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        record = entry.record
        payload = json.dumps(dict(record.payload), sort_keys=True, separators=(",", ":"))
        table.add_row(
            str(entry.sequence),
            format_ts(record.ts),
            record.kind,
            str(record.correlation_id or ""),
            redact(payload if len(payload) <= 120 else payload[:117] + "...", secrets),
        )
    out_console().print(table)


@audit_app.command("export")
def export(
    *,
    path: PathOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", dir_okay=False, help="File (default: stdout).")
    ] = None,
    kind: KindOption = None,
    correlation_id: CorrelationOption = None,
    since: Annotated[
        datetime | None, typer.Option(help="Only records at or after (ISO-8601, UTC if naive).")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="Only records at or before (ISO-8601, UTC if naive).")
    ] = None,
    hmac_key_env: KeyEnvOption = None,
    config: ConfigOption = None,
    profile: ProfileOption = None,
) -> None:
    """Write records as JSON lines (sequence, ts, kind, correlation_id, payload, hashes)."""
    target = resolve_target(path, hmac_key_env, config, profile)
    entries = _query(
        target, kind=kind, correlation_id=correlation_id, since=_utc(since), until=_utc(until)
    )
    secrets = environment_secrets()
    # Records never hold secrets (the writers see to that); masking here keeps a leak contained.
    lines = [redact(json.dumps(_document(e), sort_keys=True), secrets) + "\n" for e in entries]
    if out is None:
        sys.stdout.writelines(lines)
        sys.stdout.flush()
        return
    with exit_on_errors():
        out.write_text("".join(lines), encoding="utf-8")
    err_console().print(f"exported {len(lines)} records to {out}", markup=False)


def _document(entry: AuditEntry) -> dict[str, object]:
    record = entry.record
    return {
        "sequence": entry.sequence,
        "ts": format_ts(record.ts),
        "kind": record.kind,
        "correlation_id": None if record.correlation_id is None else str(record.correlation_id),
        "payload": dict(record.payload),
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _query(
    target: AuditTarget,
    *,
    kind: str | None,
    correlation_id: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[AuditEntry]:
    correlation = CorrelationId(correlation_id) if correlation_id else None
    return with_log(
        target,
        lambda log: log.query(kind=kind, correlation_id=correlation, since=since, until=until),
    )
