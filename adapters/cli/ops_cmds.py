"""Operator commands: `positions`, `flatten`, `halt`, `resume`, `reconcile [--dry-run]`.

`positions`, `flatten` and `reconcile` connect to the configured broker through the composition
root (`build_application`) as the CLI client (IB client id 3), behind the same arming checks as
`run`. `flatten` first rebuilds the gate's positions from the broker's (`resync_from_broker`),
then sends one gated FLATTEN closure per position. `reconcile --dry-run` only prints the
differences and sends nothing. `halt` / `resume` do not touch the broker: they write the trading
state an operator wants to the control channel that a running `ordergate serve` polls.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from ordergate.adapters.cli.app import (
    ConfigOption,
    ProfileOption,
    err_console,
    exit_on_errors,
    fail,
    out_console,
)
from ordergate.adapters.cli.exit_codes import ExitCode
from ordergate.adapters.control import (
    FileTradingControl,
    RedisTradingControl,
    default_control_path,
)
from ordergate.application.arming import check_arming
from ordergate.application.bootstrap import build_application
from ordergate.application.config import (
    CLIENT_ID_CLI,
    AuditKind,
    Settings,
    SignalsKind,
    load_settings,
)
from ordergate.application.facade import OrderGate
from ordergate.application.reconcile import ReconciliationReport
from ordergate.application.results import OrderResult, OrderResultStatus
from ordergate.domain.account import BrokerPosition
from ordergate.domain.errors import OrdergateError
from ordergate.domain.risk.decision import TradingState

__all__ = [
    "BrokerOption",
    "ControlFileOption",
    "cli_settings",
    "flatten",
    "halt",
    "positions",
    "reconcile",
    "register",
    "resume",
    "trading_control_for",
    "with_gate",
]

T = TypeVar("T")

BrokerOption = Annotated[
    str | None, typer.Option("--broker", help="sim | ibkr | fake (overrides config).")
]
AuditOption = Annotated[
    Path | None, typer.Option("--audit", help="SQLite audit file (overrides audit.path).")
]
ControlFileOption = Annotated[
    Path | None,
    typer.Option(
        "--control-file",
        dir_okay=False,
        help="Trading control file (default: beside the audit file; Redis when signals.kind is "
        "redis).",
    ),
]
_SENT = {
    OrderResultStatus.SUBMITTED,
    OrderResultStatus.PARTIAL,
    OrderResultStatus.FILLED,
    OrderResultStatus.SIMULATED,
}


def register(app: typer.Typer) -> None:
    """Add `positions`, `flatten`, `halt`, `resume` and `reconcile` to `app`."""
    app.command("positions")(positions)
    app.command("flatten")(flatten)
    app.command("halt")(halt)
    app.command("resume")(resume)
    app.command("reconcile")(reconcile)


# -- shared ------------------------------------------------------------------------------------
def cli_settings(
    config: Path | None,
    profile: str | None,
    *,
    broker: str | None = None,
    audit_path: Path | None = None,
    mode: str | None = None,
    client_id: int | None = CLIENT_ID_CLI,
) -> Settings:
    """Settings for a command that connects to the broker: as IB client `client_id` (3, the
    CLI, by default; None keeps `broker.client_id` of the configuration)."""
    overrides: dict[str, object] = {}
    if client_id is not None:
        overrides["broker.client_id"] = client_id
    if broker is not None:
        overrides["broker.kind"] = broker
        overrides["market_data.kind"] = broker
    if audit_path is not None:
        overrides["audit.path"] = str(audit_path)
    if mode is not None:
        overrides["mode"] = mode
    settings = load_settings(config, profile=profile, overrides=overrides)
    check_arming(settings, dict(os.environ))
    return settings


async def with_gate(settings: Settings, action: Callable[[OrderGate], Awaitable[T]]) -> T:
    """Build the application, run `action` inside `async with gate`, release everything."""
    try:
        app = await build_application(settings)
    except (OrdergateError, OSError):
        raise
    except Exception as exc:  # the container's own errors (e.g. a kind not wired here)
        raise fail(
            f"cannot build the application for broker.kind={settings.broker.kind.value!r}: {exc}",
            ExitCode.BAD_CONFIG,
        ) from None
    async with app:
        return await action(app.gate)


def trading_control_for(
    settings: Settings, control_file: Path | None
) -> FileTradingControl | RedisTradingControl:
    """The control channel `serve` polls and `halt`/`resume` write.

    `--control-file` wins; else Redis (key `<signals.stream>:control` on `signals.url`) when
    `signals.kind` is redis; else a file beside the SQLite audit file.
    """
    if control_file is not None:
        return FileTradingControl(control_file)
    signals = settings.signals
    if signals.kind is SignalsKind.REDIS:
        return RedisTradingControl.from_url(signals.url, key=f"{signals.stream}:control")
    audit = settings.audit
    return FileTradingControl(
        default_control_path(audit.path if audit.kind is AuditKind.SQLITE else None)
    )


def _results_table(title: str, results: list[OrderResult]) -> Table:
    table = Table(title=title)
    for column in ("client order id", "status", "reason"):
        table.add_column(column)
    for result in results:
        table.add_row(result.client_order_id.value, result.status.value, result.reason or "")
    if not results:
        table.add_row("(none)", "", "")
    return table


# -- positions ---------------------------------------------------------------------------------
def positions(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    broker: BrokerOption = None,
    audit_path: AuditOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print the broker's positions (read-only: nothing is sent)."""
    with exit_on_errors():
        settings = cli_settings(config, profile, broker=broker, audit_path=audit_path)
        held: list[BrokerPosition] = asyncio.run(
            with_gate(settings, lambda gate: gate.broker_positions())
        )
    console = out_console()
    if as_json:
        for p in held:
            line = {"instrument": p.instrument_id.value, "quantity": str(p.quantity)}
            line["avg_cost"] = str(p.avg_cost)
            console.print(json.dumps(line), markup=False)
        return
    table = Table(title=f"positions at the broker ({settings.broker.kind.value})")
    table.add_column("instrument")
    table.add_column("quantity", justify="right")
    table.add_column("avg cost", justify="right")
    for p in sorted(held, key=lambda p: p.instrument_id.value):
        table.add_row(p.instrument_id.value, str(p.quantity), f"{p.avg_cost:,.4f}")
    if not held:
        table.add_row("(none)", "0", "")
    console.print(table)


# -- flatten -----------------------------------------------------------------------------------
def flatten(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    broker: BrokerOption = None,
    audit_path: AuditOption = None,
    mode: Annotated[
        str | None, typer.Option("--mode", help="dry_run | paper | live (overrides config).")
    ] = None,
) -> None:
    """Close every broker position with a gated FLATTEN order (passes even when HALTED).

    Exit 0 when every closure was sent (or simulated), 1 when any was denied, rejected or failed.
    """

    async def act(gate: OrderGate) -> list[OrderResult]:
        await gate.resync_from_broker()
        results = await gate.flatten()
        await gate.settle()
        return results

    with exit_on_errors():
        settings = cli_settings(config, profile, broker=broker, audit_path=audit_path, mode=mode)
        results = asyncio.run(with_gate(settings, act))
    out_console().print(_results_table("flatten", results))
    failed = [r for r in results if r.status not in _SENT]
    if failed:
        raise fail(f"{len(failed)} of {len(results)} closures were not sent", ExitCode.FAILURE)


# -- halt / resume -----------------------------------------------------------------------------
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the control file).")]


def halt(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    audit_path: AuditOption = None,
    control_file: ControlFileOption = None,
    reason: ReasonOption = "operator halt",
) -> None:
    """Ask a running `serve` to HALT: only closures and flattens pass from then on."""
    _request(config, profile, audit_path, control_file, TradingState.HALTED, reason)


def resume(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    audit_path: AuditOption = None,
    control_file: ControlFileOption = None,
    reason: ReasonOption = "operator resume",
) -> None:
    """Ask a running `serve` to go back to ACTIVE (refused there while the kill switch is on)."""
    _request(config, profile, audit_path, control_file, TradingState.ACTIVE, reason)


def _request(  # noqa: PLR0917  (one private helper for the two commands' options)
    config: Path | None,
    profile: str | None,
    audit_path: Path | None,
    control_file: Path | None,
    state: TradingState,
    reason: str,
) -> None:
    async def write() -> str:
        control = trading_control_for(settings, control_file)
        try:
            await control.request(state, reason)
        finally:
            await control.close()
        return str(control)

    with exit_on_errors():
        overrides = {} if audit_path is None else {"audit.path": str(audit_path)}
        settings = load_settings(config, profile=profile, overrides=overrides)
        where = asyncio.run(write())
    out_console().print(f"requested {state.value} through {where}", markup=False)
    err_console().print(
        "a running `ordergate serve` applies it at its next control poll", markup=False
    )


# -- reconcile ---------------------------------------------------------------------------------
def reconcile(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    broker: BrokerOption = None,
    audit_path: AuditOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show the differences; record and send nothing.")
    ] = False,
) -> None:
    """Compare this process's state with the broker's; without --dry-run, recover missed fills.

    Exit 0 when there is no difference, 1 when there are (like diff(1)). Never sends an order.
    """
    with exit_on_errors():
        settings = cli_settings(config, profile, broker=broker, audit_path=audit_path)
        report = asyncio.run(with_gate(settings, lambda gate: gate.reconcile(dry_run=dry_run)))
    _print_report(report)
    if not report.clean:
        raise typer.Exit(int(ExitCode.FAILURE))


def _print_report(report: ReconciliationReport) -> None:
    console = out_console()
    title = (
        "reconciliation (dry run: nothing recorded or sent)"
        if report.dry_run
        else ("reconciliation")
    )
    table = Table(title=title)
    for column in ("kind", "key", "ours", "broker"):
        table.add_column(column)
    for diff in report.diffs:
        table.add_row(diff.kind, diff.key, diff.ours, diff.broker)
    if report.clean:
        table.add_row("(no differences)", "", "", "")
    console.print(table)
    if report.recovered:
        console.print(f"recovered {len(report.recovered)} missed fill(s)", markup=False)
    summary = "clean" if report.clean else f"{len(report.diffs)} difference(s)"
    console.print(summary, markup=False)
