"""The main job (`ordergate run`, 500 replayed days of AAPL/MSFT/IBM) on the simulated broker
and through IB against the TWS gateway emulator, in the same run.

Paths, each a fresh `ordergate` process on a temporary audit file:
1. sim (the anchor): `ordergate run`;
2. IB, throttle lifted: `ordergate gateway-sim --replay` and `ordergate run --broker ibkr` on a
   config with `[broker] max_requests_per_second = 0` (no client throttle, no emulator pacing);
3. IB at 45 requests/s (ib_async's default, IB's safe rate) — skipped with `--quick`.
For each: the session time the run prints ("elapsed": building the application, every cycle,
the audit verify) and the process's wall time, the ratio to the sim's, and whether the summary
equals the sim's (orders, fills, denials, closures, PnL). Targets: IB with the throttle lifted
<= 5x the sim's session time, IB at 45/s <= 40 s.

Run: `python bench/bench_main_job.py [--bars N] [--quick]`. Never used as a timed test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ORDERGATE = [sys.executable, "-m", "ordergate.adapters.cli.main"]
TARGET_LIFTED_RATIO = 5.0
TARGET_THROTTLED_S = 40.0
_ELAPSED = re.compile(r"elapsed\D*([0-9.]+) s")


def free_port() -> int:
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def summary_rows(printed: str) -> list[str]:
    """The summary table's rows without layout, elapsed time, broker or audit path."""
    rows = []
    for line in printed.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if len(cells) == 2 and cells[0] not in {"elapsed", "mode / broker", "audit log"}:
            rows.append(f"{cells[0]}={cells[1]}")
    return rows


def run_session(args: list[str]) -> tuple[float, float, str]:
    """(session seconds as printed, wall seconds, output) of one `ordergate run`."""
    started = time.perf_counter()
    done = subprocess.run([*ORDERGATE, "run", "-q", *args], capture_output=True, text=True,
                          check=False, timeout=1800)
    wall = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"ordergate run {args} exited {done.returncode}:\n{done.stderr}")
    found = _ELAPSED.search(done.stdout)
    return (float(found.group(1)) if found else float("nan")), wall, done.stdout


@contextlib.contextmanager
def emulator(config: Path, bars: int | None) -> Iterator[None]:
    """`ordergate gateway-sim --replay` on `config`, until the block ends."""
    extra = [] if bars is None else ["--bars", str(bars)]
    process = subprocess.Popen(
        [*ORDERGATE, "gateway-sim", "--replay", "--config", str(config), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"the emulator did not start: {line}{process.stdout.read()}")
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def ib_session(tmp: Path, rate: int, bars: int | None) -> tuple[float, float, str]:
    config = tmp / f"ib-{rate}.toml"
    config.write_text(
        f'[broker]\nkind = "ibkr"\nport = {free_port()}\nmax_requests_per_second = {rate}\n'
        '[market_data]\nkind = "ibkr"\n'
    )
    extra = [] if bars is None else ["--bars", str(bars)]
    with emulator(config, bars):
        return run_session(["--config", str(config), "--audit", str(tmp / f"ib-{rate}.db"),
                            *extra])


def measure(bars: int | None, throttled: bool) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="ordergate-bench-") as tmp_name:
        tmp = Path(tmp_name)
        extra = [] if bars is None else ["--bars", str(bars)]
        sim = run_session(["--audit", str(tmp / "sim.db"), *extra])
        paths = {"sim": sim, "ib_lifted": ib_session(tmp, 0, bars)}
        if throttled:
            paths["ib_45"] = ib_session(tmp, 45, bars)
    expected = summary_rows(sim[2])
    rows = {}
    for key, (session, wall, printed) in paths.items():
        rows[key] = {
            "session_s": session,
            "wall_s": wall,
            "over_sim": session / sim[0],
            "same": float(summary_rows(printed) == expected),
        }
    return rows


LABELS = {
    "sim": "sim broker (anchor)",
    "ib_lifted": "IBKR adapter → gateway emulator, throttle lifted (`max_requests_per_second = 0`)",
    "ib_45": "IBKR adapter → gateway emulator, 45 requests/s (ib_async's default)",
}
TARGETS = {
    "sim": "",
    "ib_lifted": f"<= {TARGET_LIFTED_RATIO:.0f}x the sim",
    "ib_45": f"<= {TARGET_THROTTLED_S:.0f} s",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=None, help="days to replay (default: 500)")
    parser.add_argument("--quick", action="store_true", help="without the 45/s run")
    args = parser.parse_args()
    rows = measure(args.bars, throttled=not args.quick)
    days = "the configured" if args.bars is None else f"{args.bars:,}"
    print(f"the main job, {days} replayed days, each path a fresh `ordergate run`")
    print("| Path | Session | Wall | Session / sim | Same summary as sim | Target |")
    print("|---|---|---|---|---|---|")
    for key, row in rows.items():
        print(f"| {LABELS[key]} | {row['session_s']:.1f} s | {row['wall_s']:.1f} s | "
              f"{row['over_sim']:.2f}x | {'yes' if row['same'] else 'NO'} | {TARGETS[key]} |")
    figures: dict[str, list[object]] = {
        "sim main job, session (anchor)": [rows["sim"]["session_s"], "s", ""],
        "IB, throttle lifted / sim": [rows["ib_lifted"]["over_sim"], "x",
                                      f"<= {TARGET_LIFTED_RATIO:.0f}"],
    }
    if "ib_45" in rows:
        figures["IB at 45 requests/s, session"] = [rows["ib_45"]["session_s"], "s",
                                                   f"<= {TARGET_THROTTLED_S:.0f}"]
    print("@figures " + json.dumps(figures))


if __name__ == "__main__":
    main()
