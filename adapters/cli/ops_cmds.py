"""Operator commands: `positions`, `flatten`, `halt`, `resume`, `kill`, `reconcile [--dry-run]`.

`positions`, `flatten`, `kill` and `reconcile` connect to the configured broker through the
composition root (`build_application`) as the CLI client (IB client id 3), behind the same
arming checks as `run`. `flatten` first cancels every working order of the account at the broker
(including orders other clients or earlier runs placed), then rebuilds the gate's positions from
the broker's and sends one gated FLATTEN closure per net position, never over-closing.
`reconcile --dry-run` only prints the differences and sends nothing. `halt` / `resume` do not
touch the broker: they persist the trading state an operator wants in the trading control, which
every gate reads when it starts and `serve` / `run` poll while they trade. `kill` persists the
kill switch first (so it holds even if the broker cannot be reached), then cancels and flattens;
only `resume` releases it.
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
from ordergate.adapters.cli.app import load as load_app_settings
from ordergate.adapters.cli.exit_codes import ExitCode
from ordergate.adapters.preflight import check_can_start
from ordergate.application.arming import check_arming
from ordergate.application.bootstrap import build_application, trading_control
from ordergate.application.config import CLIENT_ID_CLI, Settings
from ordergate.application.facade import KillReport, OrderGate
from ordergate.application.flatten import FlattenReport
from ordergate.application.reconcile import ReconciliationReport
from ordergate.application.results import OrderResult
from ordergate.domain.account import BrokerPosition
from ordergate.domain.errors import OrdergateError
from ordergate.domain.risk.decision import TradingState
from ordergate.ports.trading_control import TradingControl, TradingControlError

__all__ = [
    "BrokerOption",
    "ControlFileOption",
    "cli_settings",
    "flatten",
    "halt",
    "kill",
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
        help="Trading control file: where halt/resume/kill are kept (default: beside the audit "
        "file; Redis when signals.kind is redis).",
    ),
]
ModeOption = Annotated[
    str | None, typer.Option("--mode", help="dry_run | paper | live (overrides config).")
]


def register(app: typer.Typer) -> None:
    """Add `positions`, `flatten`, `halt`, `resume`, `kill` and `reconcile` to `app`."""
    app.command("positions")(positions)
    app.command("flatten")(flatten)
    app.command("halt")(halt)
    app.command("resume")(resume)
    app.command("kill")(kill)
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
    service_enabled: bool | None = None,
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
    if service_enabled is not None:
        overrides["service.enabled"] = service_enabled
    settings = load_app_settings(config, profile, overrides)
    check_can_start(settings)  # what the selected adapters need here: exit 2, not a traceback
    check_arming(settings, dict(os.environ))
    return settings


async def with_gate(
    settings: Settings,
    action: Callable[[OrderGate], Awaitable[T]],
    control: TradingControl | None = None,
) -> T:
    """Build the application (its gate honouring the trading control, `control` or the one the
    settings name), run `action` inside `async with gate`, release everything."""
    try:
        app = await build_application(settings, control=control)
    except (OrdergateError, OSError):
        raise
    except Exception as exc:  # the container's own errors (e.g. a kind not wired here)
        raise fail(
            f"cannot build the application for broker.kind={settings.broker.kind.value!r}: {exc}",
            ExitCode.BAD_CONFIG,
        ) from None
    async with app:
        return await action(app.gate)


def trading_control_for(settings: Settings, control_file: Path | None) -> TradingControl:
    """The trading control every gate reads and `halt` / `resume` / `kill` write (see
    `ordergate.application.bootstrap.trading_control`)."""
    return trading_control(settings, control_file)


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
    mode: ModeOption = None,
    control_file: ControlFileOption = None,
) -> None:
    """Cancel every working order of the account at the broker (whoever placed it), then close
    every net position with a gated FLATTEN order (passes even when HALTED; never over-closes).

    Exit 0 when nothing is left working and every closure was sent (or simulated), 1 otherwise.
    """

    async def act(gate: OrderGate) -> FlattenReport:
        report = await gate.flatten()
        await gate.settle()
        return report

    with exit_on_errors():
        settings = cli_settings(config, profile, broker=broker, audit_path=audit_path, mode=mode)
        report = asyncio.run(with_gate(settings, act, trading_control_for(settings, control_file)))
    _print_flatten("flatten", report)
    if not report.ok:
        raise fail(_flatten_failure(report), ExitCode.FAILURE)


def _print_flatten(title: str, report: FlattenReport) -> None:
    console = out_console()
    table = Table(title=f"{title}: working orders cancelled at the broker")
    for column in ("client order id", "instrument", "side", "leaves", "after"):
        table.add_column(column)
    left = {v.client_order_id for v in report.still_working}
    for view in report.cancelled:
        after = "STILL WORKING" if view.client_order_id in left else "cancelled"
        row = (view.client_order_id.value, view.instrument_id.value, view.side.value)
        table.add_row(*row, str(view.leaves_qty), after)
    if not report.cancelled:
        table.add_row("(none working)", "", "", "", "")
    console.print(table)
    console.print(_results_table(f"{title}: closures", list(report.closures)))


def _flatten_failure(report: FlattenReport) -> str:
    problems = []
    if report.still_working:
        problems.append(f"{len(report.still_working)} order(s) still working at the broker")
    if report.unsent:
        problems.append(f"{len(report.unsent)} of {len(report.closures)} closures were not sent")
    return "; ".join(problems)


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
    """HALT trading, persistently: every gate that starts from now on (`run`, `serve`,
    `flatten`, an embedding app on the same control) and a running `serve` / `run` at its next
    poll let only closures and flattens through, until `resume`."""
    _request(config, profile, audit_path, control_file, TradingState.HALTED, reason)


def resume(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    audit_path: AuditOption = None,
    control_file: ControlFileOption = None,
    reason: ReasonOption = "operator resume",
) -> None:
    """Back to ACTIVE, persistently; the explicit resume that also releases the kill switch."""
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
        settings = load_app_settings(config, profile, overrides)
        where = asyncio.run(write())
    out_console().print(f"requested {state.value} through {where}", markup=False)
    err_console().print(
        "every gate started from now on holds it; a running `ordergate serve` or `run` applies "
        "it at its next control poll",
        markup=False,
    )


def kill(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    broker: BrokerOption = None,
    audit_path: AuditOption = None,
    mode: ModeOption = None,
    control_file: ControlFileOption = None,
    reason: ReasonOption = "operator kill",
) -> None:
    """The kill switch: persist it (HALTED until an explicit `resume`, across restarts), then
    cancel every working order of the account at the broker and flatten every position.

    Exit 0 when the switch is persisted, nothing is left working and every closure was sent;
    1 otherwise (the switch holds either way once persisted).
    """

    async def engage(control: TradingControl) -> str:
        try:
            await control.request(TradingState.HALTED, reason, kill=True)
        except TradingControlError as exc:  # cancel and flatten anyway; exit 1 says it
            return str(exc)
        finally:
            await control.close()
        return ""

    async def act(gate: OrderGate) -> KillReport:
        report = await gate.kill(reason)
        await gate.settle()
        return report

    with exit_on_errors():
        settings = cli_settings(config, profile, broker=broker, audit_path=audit_path, mode=mode)
        # Persisted before the broker is reached: the kill holds even if it cannot be.
        control = trading_control_for(settings, control_file)
        error = asyncio.run(engage(control))
        if error:
            err_console().print(f"kill switch NOT persisted: {error}", markup=False)
        else:
            out_console().print(f"kill switch engaged through {control}", markup=False)
        report = asyncio.run(with_gate(settings, act, trading_control_for(settings, control_file)))
    _print_flatten("kill", report.flatten)
    problems = [] if report.persisted else [f"not persisted: {report.control_error}"]
    if not report.flatten.ok:
        problems.append(_flatten_failure(report.flatten))
    if problems:
        raise fail("kill: " + "; ".join(problems), ExitCode.FAILURE)


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
