"""Indicator benchmark (SPEC §10): batch vs TA-Lib over 1,000,000 closes, incremental vs talipp.

Run as `python bench/bench_indicators.py`. Every figure is measured beside its anchor in the same
run and reported as a ratio (ours / anchor: below 1 is faster). Batch results are also checked
against TA-Lib (largest absolute difference, NaN positions must match). Times are printed and
returned, never asserted: a loaded machine moves them, the ratios much less.

Timing: best of several runs, alternating ours and the anchor round by round, so both see the
same machine state. Each batch call allocates its outputs, as a caller's would.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ordergate.domain.indicators import BollingerBands, Ema, Rsi, bollinger, ema, rsi

TOLERANCE = 1e-9


def seeded_closes(n: int, seed: int = 42) -> np.ndarray:
    """Daily-like closes: a log-price mean-reverting around 100 with 1% moves, in cents.

    Mean reversion keeps a million closes within roughly 30..300 (a plain random walk would
    wander to absurd prices), so the 1e-9 agreement is checked at realistic magnitudes.
    """
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0.0, 0.01, n).tolist()
    level = math.log(100.0)
    log_price, out = level, []
    for shock in shocks:
        log_price += 0.001 * (level - log_price) + shock
        out.append(log_price)
    closes: np.ndarray = np.round(np.exp(np.array(out)), 2)
    return closes


def best_times(
    ours: Callable[[], Any], anchor: Callable[[], Any], rounds: int, per_round: int
) -> tuple[float, float]:
    """Best seconds per call of each, alternating rounds between them."""
    best_ours = best_anchor = math.inf
    for _ in range(rounds):
        for _ in range(per_round):
            start = time.perf_counter()
            ours()
            best_ours = min(best_ours, time.perf_counter() - start)
        for _ in range(per_round):
            start = time.perf_counter()
            anchor()
            best_anchor = min(best_anchor, time.perf_counter() - start)
    return best_ours, best_anchor


def max_difference(ours: Any, theirs: Any) -> float:
    """Largest |ours − theirs| over all outputs; inf when NaN positions differ."""
    worst = 0.0
    pairs = zip(np.atleast_2d(np.asarray(ours)), np.atleast_2d(np.asarray(theirs)), strict=True)
    for a, b in pairs:
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            return math.inf
        both = ~np.isnan(a)
        if both.any():
            worst = max(worst, float(np.max(np.abs(a[both] - b[both]))))
    return worst


def bench_batch(close: np.ndarray, rounds: int = 5) -> dict[str, dict[str, Any]]:
    import talib

    cases: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "EMA(8)": (lambda: ema(close, 8), lambda: talib.EMA(close, 8)),
        "EMA(21)": (lambda: ema(close, 21), lambda: talib.EMA(close, 21)),
        "RSI(14)": (lambda: rsi(close, 14), lambda: talib.RSI(close, 14)),
        "BBANDS(20, 2)": (
            lambda: bollinger(close, 20, 2.0),
            lambda: talib.BBANDS(close, 20, 2.0, 2.0),  # matype defaults to SMA
        ),
    }
    results = {}
    for name, (ours, anchor) in cases.items():
        difference = max_difference(ours(), anchor())
        ours_s, anchor_s = best_times(ours, anchor, rounds, per_round=3)
        results[name] = {
            "ours_ms": ours_s * 1e3,
            "talib_ms": anchor_s * 1e3,
            "ratio": ours_s / anchor_s,
            "max_abs_diff": difference,
            "equal_within_1e-9": difference <= TOLERANCE,
        }
    return results


def _per_update(make: Callable[[], Any], feed: str, values: list[float]) -> float:
    """Best seconds per update over the whole list, from a fresh object each time."""
    best = math.inf
    for _ in range(3):
        indicator = make()
        update = getattr(indicator, feed)
        start = time.perf_counter()
        for value in values:
            update(value)
        best = min(best, (time.perf_counter() - start) / len(values))
    return best


def bench_incremental(values: list[float]) -> dict[str, dict[str, Any]]:
    from talipp.indicators import BB, EMA, RSI

    cases: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "EMA(8)": (lambda: Ema(8), lambda: EMA(8)),
        "RSI(14)": (lambda: Rsi(14), lambda: RSI(14)),
        "BBANDS(20, 2)": (lambda: BollingerBands(20, 2.0), lambda: BB(20, 2.0)),
    }
    results = {}
    for name, (ours, anchor) in cases.items():
        ours_s = _per_update(ours, "update", values)
        anchor_s = _per_update(anchor, "add", values)
        results[name] = {
            "ours_us": ours_s * 1e6,
            "talipp_us": anchor_s * 1e6,
            "ratio": ours_s / anchor_s,
        }
    return results


def run(n_batch: int = 1_000_000, n_incremental: int = 200_000, seed: int = 42) -> dict[str, Any]:
    """Measure everything; returns the figures for a harness to collect."""
    close = seeded_closes(n_batch, seed)
    return {
        "closes": n_batch,
        "updates": n_incremental,
        "seed": seed,
        "batch": bench_batch(close),
        "incremental": bench_incremental(close[:n_incremental].tolist()),
    }


def render(results: dict[str, Any]) -> str:
    """The results as a plain-text table."""
    lines = [
        f"Batch over {results['closes']:,} closes (ours vs TA-Lib, same run)",
        f"{'indicator':<15}{'ours ms':>10}{'TA-Lib ms':>11}{'ratio':>8}{'max |diff|':>13}  <=1e-9",
    ]
    for name, row in results["batch"].items():
        lines.append(
            f"{name:<15}{row['ours_ms']:>10.2f}{row['talib_ms']:>11.2f}{row['ratio']:>8.2f}"
            f"{row['max_abs_diff']:>13.1e}  {'yes' if row['equal_within_1e-9'] else 'NO'}"
        )
    lines += [
        "",
        f"Incremental, per update over {results['updates']:,} closes (ours vs talipp)",
        f"{'indicator':<15}{'ours us':>10}{'talipp us':>11}{'ratio':>8}",
    ]
    for name, row in results["incremental"].items():
        lines.append(
            f"{name:<15}{row['ours_us']:>10.3f}{row['talipp_us']:>11.3f}{row['ratio']:>8.2f}"
        )
    return "\n".join(lines)


def main() -> dict[str, Any]:
    """Run the benchmark, print the table, return the figures."""
    results = run()
    print(render(results))
    figures: dict[str, list[object]] = {}
    for name, row in results["batch"].items():
        figures[f"batch {name}: ours / TA-Lib"] = [row["ratio"], "x", "<= 2"]
        figures[f"batch {name}: max |ours - TA-Lib|"] = [row["max_abs_diff"], "", "<= 1e-9"]
    for name, row in results["incremental"].items():
        figures[f"incremental {name}: ours / talipp"] = [row["ratio"], "x", ""]
    print("@figures " + json.dumps(figures))
    return results


if __name__ == "__main__":
    main()
