"""`ordergate verify-risk` as a risk engineer runs it: a real process, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ordergate.toml"
WRONG = ROOT / "examples" / "wrong-risk.toml"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m ordergate.adapters.cli.main` with a clean ORDERGATE_* environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "ordergate.adapters.cli.main", *args],
        env={**base, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_deliberately_wrong_config_fails_with_the_invariant_and_a_minimal_counterexample() -> (
    None
):
    result = run_cli("verify-risk", "--config", str(WRONG))

    assert 1 == result.returncode, result.stderr
    out = result.stdout
    assert "FAILED: invariant position_within_limit broke" in out
    assert "worst-case position 501 in AAPL (position 0) exceeds max_position 500" in out
    assert "minimal counterexample" in out
    assert "OPEN BUY 501 AAPL MARKET (state ACTIVE) → approved" in out
    assert "rules switched off: max_position" in out


def test_the_shipped_example_config_holds_every_invariant() -> None:
    result = run_cli("verify-risk", "--config", str(EXAMPLE), "--quiet")

    assert 0 == result.returncode, result.stdout + result.stderr
    assert "OK: every risk invariant held over" in result.stdout
    assert "seed 0" in result.stdout


def test_a_seed_and_an_example_count_are_taken_from_the_command_line() -> None:
    result = run_cli("verify-risk", "-c", str(EXAMPLE), "--examples", "20", "--seed", "7", "-q")

    assert 0 == result.returncode, result.stderr
    assert "seed 7" in result.stdout


def test_a_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[risk]\nmax_position = "-5"\n', encoding="utf-8")

    result = run_cli("verify-risk", "--config", str(bad))

    assert 2 == result.returncode
    assert "max_position" in result.stderr
