"""`ordergate verify-risk`: run the risk-invariant state machines against a configuration's limits.

Loads the settings (file, profile, `ORDERGATE_*` variables), builds the testing kit's machine
from `[risk]`, `[risk.breakers]`, `[strategy_c]` and the session's starting cash, and runs it.
Exit 0 when every invariant held (with the number of runs), 1 when one broke (printing the
invariant and the minimal counterexample Hypothesis shrank it to), 2 for a bad configuration.
Nothing is sent anywhere: the machine drives the pure domain only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ordergate.adapters.cli.app import (
    ConfigOption,
    ProfileOption,
    err_console,
    exit_on_errors,
    fail,
    load,
    out_console,
)
from ordergate.adapters.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from ordergate.application.config import Settings
    from ordergate.application.testing.machines import VerificationReport

__all__ = ["register", "verify_risk"]

_NEEDS_HYPOTHESIS = "verify-risk needs Hypothesis: pip install 'ordergate[testing]'"


def register(app: typer.Typer) -> None:
    """Add `verify-risk` to `app`."""
    app.command("verify-risk")(verify_risk)


def verify_risk(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    examples: Annotated[
        int, typer.Option("--examples", "-n", min=1, help="Runs of the state machine.")
    ] = 300,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the search (same seed, same answer).")
    ] = 0,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Steps per run, at most.")] = 40,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Check the risk invariants under your limits; print a minimal counterexample if one breaks."""
    with exit_on_errors():
        settings = load(config, profile)
    try:  # Hypothesis is an optional extra: imported only when this command runs
        from ordergate.application.testing.machines import run_risk_verification  # noqa: PLC0415
    except ModuleNotFoundError as missing:
        if missing.name != "hypothesis":
            raise
        raise fail(_NEEDS_HYPOTHESIS, ExitCode.FAILURE) from None
    with _progress(quiet) as progress:
        task = progress.add_task("checking invariants", total=examples)

        def advance(runs: int, failing: bool) -> None:
            if failing:
                progress.update(task, description="shrinking the counterexample", total=None)
            progress.update(task, completed=runs)

        report = run_risk_verification(
            settings.risk.to_limits(),
            settings.risk.to_breaker_config(),
            max_examples=examples,
            seed=seed,
            steps=steps,
            start_cash=settings.session.starting_cash,
            strategy_c=settings.strategy_c.to_config(),
            progress=advance,
        )
    _print(report, _source(config, profile, settings))
    if not report.ok:
        raise typer.Exit(int(ExitCode.FAILURE))


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


def _source(config: Path | None, profile: str | None, settings: Settings) -> str:
    where = str(config) if config is not None else "built-in defaults"
    return f"{where} (profile {profile})" if profile else where


def _print(report: VerificationReport, source: str) -> None:
    console = out_console()
    if report.ok:
        console.print(
            f"OK: every risk invariant held over {report.examples} runs "
            f"(seed {report.seed}, limits from {source})",
            markup=False,
        )
        return
    console.print(
        f"FAILED: invariant {report.invariant} broke (found in run {report.examples}, "
        f"seed {report.seed}, limits from {source})",
        markup=False,
    )
    console.print(f"invariant: {report.invariant} — {report.description}", markup=False)
    console.print(f"what broke: {report.message}", markup=False)
    table = Table(title="minimal counterexample", title_justify="left")
    table.add_column("step", justify="right", no_wrap=True)
    table.add_column("what happened", overflow="fold")
    number = 0
    for line in report.steps:
        if line.startswith("✗"):
            table.add_row("✗", line.removeprefix("✗").strip())
            continue
        number += 1
        table.add_row(str(number), line)
    console.print(table)
    console.print("every run starts from:", markup=False)
    for line in report.setup:
        console.print(f"  {line}", markup=False)
    if report.reproduction:
        console.print("as a Hypothesis program:", markup=False)
        for line in report.reproduction:
            console.print(f"  {line}", markup=False)
