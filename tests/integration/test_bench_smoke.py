"""The wire and burst benchmarks run at their smallest sizes and report every row.

Smoke tests only: they check that each benchmark completes and what its output is made of, never
how fast anything was. The wire benchmark starts the TWS gateway emulator on loopback; the burst
benchmark writes a temporary SQLite audit file.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str) -> ModuleType:
    """A script of bench/ (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(f"bench_smoke_{name}", BENCH / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_rows(printed: str) -> list[list[str]]:
    """The cells of every body row of the markdown table in `printed`."""
    lines = [line for line in printed.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_the_wire_bench_measures_every_path_beside_its_anchors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    wire = load("bench_wire")
    rows = wire.run(iterations=3, warmup=1)
    printed = capsys.readouterr().out
    assert list(wire.LABELS) == list(rows)
    assert {"p50_ms", "p99_ms", "mean_ms", "over_raw_place", "over_raw_quote_place"} <= set(
        rows["gate_memory"]
    )
    assert 1.0 == rows["raw_place"]["over_raw_place"]
    assert 1.0 == rows["raw_quote_place"]["over_raw_quote_place"]
    assert [label for label, *_ in table_rows(printed)] == list(wire.LABELS.values())
    assert all(len(cells) == 6 for cells in table_rows(printed))


def test_the_burst_bench_processes_every_event_of_the_burst(
    capsys: pytest.CaptureFixture[str],
) -> None:
    burst = load("bench_burst")
    rows = burst.run(fills=20, per_order=2, rates=(1_000.0,), sqlite_rate=1_000.0)
    printed = capsys.readouterr().out
    expected = ["anchor", "memory_burst", "memory_paced_1000", "sqlite_burst", "sqlite_paced_1000"]
    assert expected == list(rows)
    # 10 orders: one ack each, and every one of the 20 fills with its commission report
    assert {50.0} == {row["events"] for row in rows.values()}
    assert {20.0} == {row["fills"] for row in rows.values()}
    lagged = {"lag_p50_ms", "lag_p99_ms", "lag_max_ms", "events_per_s"}
    assert all(lagged <= set(rows[key]) for key in rows if key != "anchor")
    assert 5 == len(table_rows(printed))
    assert all(len(cells) == 7 for cells in table_rows(printed))


@pytest.mark.parametrize(
    ("script", "smallest"),
    [
        ("bench_wire.py", ["--iterations", "2", "--warmup", "1"]),
        ("bench_burst.py", ["--fills", "20", "--per-order", "2", "--rates", "1000"]),
    ],
)
def test_run_all_lists_the_bench_and_runs_its_script(script: str, smallest: list[str]) -> None:
    run_all = load("run_all")
    assert [["--quick"]] == [args for _, (name, *_), args in run_all.BENCHES if name == script]
    output, _, code = run_all.run_one(script, smallest)
    assert 0 == code, output
    assert output.count("\n|") >= 3  # header, separator and at least one row


def test_run_all_summarises_alternating_runs_with_the_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_all = load("run_all")
    smallest = ["--fills", "20", "--per-order", "2", "--rates", "1000"]
    monkeypatch.setattr(run_all, "BENCHES", [("Burst", ["bench_burst.py"], smallest)])
    out = tmp_path / "benchmarks.md"
    run_all.main(["--quick", "--runs", "2", "--out", str(out)])
    written = out.read_text()
    assert "| Figure (over 2 runs) | min | median | max | unit | target |" in written
    # the figures line is summarised, not printed raw; every run's load is recorded
    assert "@figures" not in written
    assert written.count("→") >= 2
    assert "Load average (1 / 5 / 15 min) at start → end of each run: run 1:" in written
    summary = [row for row in table_rows(written) if "events/s" in row[0]]
    assert summary, written
    assert all(float(row[1].replace(",", "")) <= float(row[3].replace(",", "")) for row in summary)


def test_the_observability_bench_measures_both_paths_in_one_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench = load("bench_observability")
    rows = bench.run(signals=8)
    printed = capsys.readouterr().out
    assert {"bare", "metered", "observed", "calls"} == set(rows)
    assert {"p50_us", "p99_us", "mean_us"} <= set(rows["bare"])
    assert "over_bare_p50" in rows["observed"]
    assert {"audit_appended", "signal_handled"} <= set(rows["calls"])
    # the observed half wrote one line per signal decision (and per order change)
    assert rows["calls"]["log_lines"] >= 4
    assert 3 == len(table_rows(printed))
