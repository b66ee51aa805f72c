"""`ordergate run`: a complete trading session — the main job.

With the defaults (simulated broker, bundled real daily bars, SQLite audit file, in-memory
publisher) it replays AAPL/MSFT/IBM through Strategy A and Strategy C, with every order behind
the risk gate, and prints a summary: orders, fills, denials with reasons, closures and PnL. The
audit file it leaves is checked with `ordergate audit verify`. Live mode is refused unless armed.
The session honours the operator's persisted trading state: after `ordergate halt` (or `kill`)
it starts HALTED, and a halt, kill or resume requested while it runs applies at the next cycle.
With `--broker ibkr` the same session runs through the IBKR adapter against `ordergate
gateway-sim --replay` started with the same configuration: the emulator replays the market, one
trading day per cycle, on this command's request.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
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
from ordergate.adapters.cli.ops_cmds import ControlFileOption, trading_control_for
from ordergate.adapters.preflight import check_can_start
from ordergate.application.arming import check_arming
from ordergate.application.bootstrap import build_application
from ordergate.application.config import BrokerKind, Mode, Settings
from ordergate.application.session import SessionRunner, SessionSummary

__all__ = ["register", "run"]


def register(app: typer.Typer) -> None:
    """Add `run` to `app`."""
    app.command("run")(run)


def run(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    mode: Annotated[
        Mode | None,
        typer.Option("--mode", help="Execution mode (overrides config).", show_choices=True),
    ] = None,
    broker: Annotated[
        BrokerKind | None,
        typer.Option("--broker", help="Broker (overrides config).", show_choices=True),
    ] = None,
    audit_path: Annotated[
        Path | None, typer.Option("--audit", help="SQLite audit file (overrides audit.path).")
    ] = None,
    bars: Annotated[
        int | None, typer.Option("--bars", help="Days to replay per symbol (0 = all).")
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy",
            metavar="MODULE:CLASS",
            help="Your strategy instead of Strategy A, e.g. mystrategies.trend:Trend "
            "(overrides session.strategy; docs/strategies.md).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    control_file: ControlFileOption = None,
) -> None:
    """Run a session: signals → risk gate → audit → broker, then print the summary."""
    overrides: dict[str, object] = {}
    if mode is not None:
        overrides["mode"] = mode
    if broker is not None:
        overrides["broker.kind"] = broker
        overrides["market_data.kind"] = broker
    if strategy is not None:
        overrides["session.strategy"] = strategy
    if audit_path is not None:
        overrides["audit.path"] = str(audit_path)
    if bars is not None:
        overrides["session.bars"] = bars
    with exit_on_errors():
        settings = load_app_settings(config, profile, overrides)
        check_can_start(settings)
        check_arming(settings, dict(os.environ))
    if settings.broker.kind.value not in {"sim", "ibkr"}:
        # A replayed session needs a market that can be moved day by day: the simulator's, or
        # the gateway emulator's (`ordergate gateway-sim --replay`) behind the IBKR adapter.
        raise fail(
            f"broker.kind={settings.broker.kind.value!r}: `run` replays a session on the "
            "simulated broker, or on ibkr against `ordergate gateway-sim --replay`; "
            "use `ordergate serve` to trade signals on the wall clock",
            ExitCode.BAD_CONFIG,
        )
    with exit_on_errors():
        started = time.perf_counter()
        summary, verified = asyncio.run(_session(settings, quiet, control_file))
    _print_summary(settings, summary, time.perf_counter() - started, verified)
    if not verified:
        raise fail("the audit log did not verify after the session", ExitCode.FAILURE)


async def _session(
    settings: Settings, quiet: bool, control_file: Path | None
) -> tuple[SessionSummary, bool]:
    control = trading_control_for(settings, control_file)
    async with await build_application(settings, replay=True, control=control) as app:
        gate = app.gate
        runner_pacer = app.session_pacer()
        total = runner_pacer.total_cycles
        with _progress(quiet) as progress:
            task = progress.add_task("session", total=total)
            runner = SessionRunner(
                gate,
                runner_pacer,
                app.session_strategies(),
                on_cycle=lambda n, _s: progress.update(task, completed=n),
                barrier=app.session_barrier(),
            )
            summary = await runner.run()
        verified = (await gate.verify_audit()).ok
    return summary, verified


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console(),
        disable=quiet,
        transient=True,
    )


def _print_summary(
    settings: Settings, summary: SessionSummary, seconds: float, verified: bool
) -> None:
    console = out_console()
    overview = Table(title="ordergate session", show_header=False)
    overview.add_column("what")
    overview.add_column("value", justify="right")
    rows = [
        ("mode / broker", f"{settings.mode.value} / {settings.broker.kind.value}"),
        ("symbols", ", ".join(settings.session.symbols)),
        ("cycles (trading days)", str(summary.cycles)),
        ("signals", str(summary.signals)),
        ("orders sent", str(summary.orders_sent)),
        ("orders denied by risk (not sent)", str(len(summary.denials))),
        ("orders rejected by the broker", str(len(summary.rejections))),
        ("fills", str(summary.fills)),
        ("closures (Strategy C)", str(len(summary.closures))),
        ("realized PnL", f"{summary.realized_pnl:,.2f}"),
        ("unrealized PnL", f"{summary.unrealized_pnl:,.2f}"),
        ("commissions", f"{summary.commissions:,.2f}"),
        ("equity start → end", f"{summary.starting_equity:,.2f} → {summary.equity:,.2f}"),
        ("open positions", str(summary.open_positions)),
        (
            "trading state at the end",
            summary.trading_state + (" (kill switch)" if summary.killed else ""),
        ),
        ("audit log", f"{settings.audit.kind.value}: {_audit_where(settings)}"),
        ("audit verify", "OK" if verified else "FAILED"),
        ("elapsed", f"{seconds:.1f} s"),
    ]
    for name, value in rows:
        overview.add_row(name, value)
    console.print(overview)
    _counter_table(
        console,
        "denials by reason (an order counts once per rule it broke)",
        summary.denial_reasons(),
    )
    _counter_table(console, "closures by reason", summary.closure_reasons())


def _audit_where(settings: Settings) -> str:
    audit = settings.audit
    if audit.kind.value == "sqlite":
        return audit.path
    if audit.kind.value == "postgres":
        return f"{audit.schema}.{audit.table}"
    return "memory"


def _counter_table(console: Console, title: str, counts: Mapping[str, int]) -> None:
    table = Table(title=title)
    table.add_column("reason")
    table.add_column("count", justify="right")
    for reason, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(reason, str(count))
    if not counts:
        table.add_row("(none)", "0")
    console.print(table)
