"""Run every benchmark several times, alternating, and write them all to `docs/benchmarks.md`.

Each benchmark measures its figure beside its anchor in the same run (a ratio); nothing here
asserts a time. Every round runs every benchmark once, in order, so the rounds alternate between
benchmarks and each sees the machine in turn. A benchmark reports its headline figures on a line
`@figures {json}` (label → [value, unit, target]); this harness takes them out of the printed
output and summarises each over the rounds (min / median / max), beside the machine's load
average (`os.getloadavg`) at the start and end of every run. The full table of the last round is
kept under each summary.

Run on a quiet machine: `python bench/run_all.py [--quick] [--runs N]`. The replay bench adds
the NautilusTrader 1.221 anchor when `ORDERGATE_NAUTILUS_PYTHON` names an interpreter that has
it (`python3 -m venv .nautilus-venv && .nautilus-venv/bin/pip install nautilus_trader==1.221.0`);
without it, its table says the anchor was not run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
FIGURES_TAG = "@figures "

BENCHES: list[tuple[str, list[str], list[str]]] = [
    ("Signal → broker submit, in process", ["bench_signal.py"], ["--signals", "500"]),
    ("Signal → order on the wire → ack, over ib_async", ["bench_wire.py"], ["--quick"]),
    ("Lifecycle event processing under a burst of fills", ["bench_burst.py"], ["--quick"]),
    ("Replay through OrderGate vs backtrader", ["bench_replay.py"], ["--bars", "50000"]),
    ("Placement cost against the depth of the book", ["bench_book_depth.py"], ["--quick"]),
    ("The main job on sim and through IB", ["bench_main_job.py"], ["--quick", "--bars", "100"]),
    ("Indicators vs TA-Lib and talipp", ["bench_indicators.py"], []),
    ("Durable audit appends and verify", ["bench_audit.py"], ["--verify-records", "200000"]),
    ("Reconnect after a gateway restart", ["bench_reconnect.py"], ["--rounds", "5"]),
    ("Metrics and logging on signal → submit", ["bench_observability.py"], ["--signals", "400"]),
]


class Run(NamedTuple):
    """One run of one benchmark."""

    output: str
    seconds: float
    code: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    figures: dict[str, list[object]]


def split_figures(printed: str) -> tuple[str, dict[str, list[object]]]:
    """The printed output without its `@figures` lines, and the figures those lines carried."""
    kept: list[str] = []
    figures: dict[str, list[object]] = {}
    for line in printed.splitlines():
        if line.startswith(FIGURES_TAG):
            try:
                figures |= json.loads(line[len(FIGURES_TAG) :])
            except json.JSONDecodeError:
                kept.append(line)
        else:
            kept.append(line)
    return "\n".join(kept), figures


def run_one(script: str, args: list[str]) -> tuple[str, float, int]:
    """Run `script` once; its printed output (without `@figures` lines), seconds and exit code."""
    run = run_measured(script, args)
    return run.output, run.seconds, run.code


def run_measured(script: str, args: Sequence[str]) -> Run:
    """Run `script` once in a fresh interpreter, with the load average before and after."""
    load_before = os.getloadavg()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    seconds = time.perf_counter() - started
    printed, figures = split_figures(done.stdout)
    output = printed + (f"\n[stderr]\n{done.stderr}" if done.returncode else "")
    return Run(output.strip(), seconds, done.returncode, load_before, os.getloadavg(), figures)


def _number(value: float) -> str:
    if math.isnan(value):
        return "—"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.01 or magnitude == 0:
        return f"{value:.2f}"
    return f"{value:.2e}"


def _load(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{part:.2f}" for part in load)


def summary_table(runs: Sequence[Run]) -> list[str]:
    """Markdown: each headline figure's min / median / max over the runs, and the loads."""
    labels: list[str] = []
    for run in runs:
        labels += [label for label in run.figures if label not in labels]
    lines = []
    if labels:
        lines += [
            f"| Figure (over {len(runs)} run{'s' if len(runs) != 1 else ''}) | min | median | max "
            "| unit | target |",
            "|---|---|---|---|---|---|",
        ]
        for label in labels:
            values = [
                float(run.figures[label][0])  # type: ignore[arg-type]
                for run in runs
                if label in run.figures
            ]
            unit, target = "", ""
            for run in runs:
                if label in run.figures:
                    entry = run.figures[label]
                    unit = str(entry[1]) if len(entry) > 1 else ""
                    target = str(entry[2]) if len(entry) > 2 else ""
            lines.append(
                f"| {label} | {_number(min(values))} | {_number(statistics.median(values))} | "
                f"{_number(max(values))} | {unit} | {target} |"
            )
        lines.append("")
    loads = "; ".join(
        f"run {n}: {_load(run.load_before)} → {_load(run.load_after)} ({run.seconds:.1f} s"
        f"{'' if run.code == 0 else f', exited {run.code}'})"
        for n, run in enumerate(runs, 1)
    )
    lines.append(f"Load average (1 / 5 / 15 min) at start → end of each run: {loads}.")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smaller sizes listed here")
    parser.add_argument("--runs", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument(
        "--only", default="", help="comma-separated script names to run (default: all)"
    )
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args(argv)
    chosen = [
        bench
        for bench in BENCHES
        if not args.only or bench[1][0] in {name.strip() for name in args.only.split(",")}
    ]
    runs: dict[str, list[Run]] = {title: [] for title, *_ in chosen}
    started_load = os.getloadavg()
    for round_number in range(1, max(1, args.runs) + 1):
        for title, (script, *_), quick_args in chosen:
            run = run_measured(script, quick_args if args.quick else [])
            runs[title].append(run)
            print(f"== {title}, run {round_number} ({run.seconds:.1f} s, load "
                  f"{_load(run.load_before)})\n{run.output}\n", flush=True)
    rounds = max(1, args.runs)
    sections = [
        "# Benchmarks",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
        f"{' (quick sizes)' if args.quick else ''}; {rounds} round{'s' if rounds != 1 else ''}, "
        "each running every "
        "benchmark once in turn (alternating). Load average (1 / 5 / 15 min) at the start: "
        f"{_load(started_load)}; at the end: {_load(os.getloadavg())}. Every figure is beside "
        "its anchor from the same run; each summary gives min / median / max over the rounds, "
        "and the full table below it is the last round's. Re-run with `python bench/run_all.py`.",
        "",
    ]
    for title, *_ in chosen:
        done = runs[title]
        failed = [run.code for run in done if run.code]
        status = f" — exited {failed[0]} in {len(failed)} of {len(done)} runs" if failed else ""
        sections += [f"## {title}{status}", "", *summary_table(done), ""]
        sections += [f"Last round ({len(done)} of {len(done)}):", "", "```", done[-1].output,
                     "```", ""]
    Path(args.out).write_text("\n".join(sections))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
