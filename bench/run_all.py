"""Run every benchmark, print its table, and write them all to `docs/benchmarks.md`.

Each benchmark measures its figure beside its anchor in the same run (a ratio); nothing here
asserts a time. Run on a quiet machine: `python bench/run_all.py [--quick]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BENCHES: list[tuple[str, list[str], list[str]]] = [
    ("Signal → broker submit, in process", ["bench_signal.py"], ["--signals", "500"]),
    ("Signal → order on the wire → ack, over ib_async", ["bench_wire.py"], ["--quick"]),
    ("Lifecycle event processing under a burst of fills", ["bench_burst.py"], ["--quick"]),
    ("Simulated replay vs backtrader", ["bench_replay.py"], ["--bars", "50000"]),
    ("Indicators vs TA-Lib and talipp", ["bench_indicators.py"], []),
    ("Durable audit appends and verify", ["bench_audit.py"], ["--verify-records", "200000"]),
    ("Reconnect after a gateway restart", ["bench_reconnect.py"], ["--rounds", "5"]),
]


def run_one(script: str, args: list[str]) -> tuple[str, float, int]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    output = done.stdout + (f"\n[stderr]\n{done.stderr}" if done.returncode else "")
    return output.strip(), time.perf_counter() - started, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smaller sizes listed here")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    quick = parser.parse_args().quick
    sections = [
        "# Benchmarks",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
        f"{' (quick sizes)' if quick else ''}. Every figure is beside its anchor from the same "
        "run. Re-run with `python bench/run_all.py`.",
        "",
    ]
    for title, (script, *_), args in BENCHES:
        output, seconds, code = run_one(script, args if quick else [])
        print(f"== {title} ({seconds:.1f} s)\n{output}\n")
        status = "" if code == 0 else f" — exited {code}"
        sections += [f"## {title}{status}", "", "```", output, "```", ""]
    Path(parser.parse_args().out).write_text("\n".join(sections))
    print(f"wrote {parser.parse_args().out}")


if __name__ == "__main__":
    main()
