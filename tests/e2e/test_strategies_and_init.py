"""User strategies by reference (`run --strategy`, `[session] strategy`), the strategy tutorial
and the documented examples, and `ordergate init` (issue #13)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import ordergate
from ordergate.application.strategies import load_strategy

ROOT = Path(__file__).resolve().parents[2]
STOCKS = [ordergate.Stock("MSFT")]


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ordergate.adapters.cli.main", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


@pytest.mark.parametrize(
    ("reference", "says"),
    [
        ("no_such_module_xyz:Thing", "cannot import no_such_module_xyz"),
        ("ordergate.application.session:NoSuchClass", "has no class NoSuchClass"),
        ("builtins:list", "is not a Strategy (missing name, instruments, decide"),
        ("decimal:Decimal", "Decimal(instruments) failed: ValueError"),
    ],
)
def test_a_reference_that_is_no_strategy_is_refused_by_name(reference: str, says: str) -> None:
    with pytest.raises(ordergate.InvalidValue, match=r"session\.strategy") as caught:
        load_strategy(reference, STOCKS)
    assert says in str(caught.value)
    assert reference in str(caught.value)


def test_a_reference_builds_the_class_on_the_instruments() -> None:
    strategy = load_strategy("ordergate.application.session:MomentumStrategyA", STOCKS)
    assert isinstance(strategy, ordergate.MomentumStrategyA)
    assert STOCKS == list(strategy.instruments)


@pytest.mark.parametrize("bad", ["trend", "a b:C", "pkg.mod:", ":Cls", "pkg..mod:Cls"])
def test_session_strategy_must_be_module_colon_class(bad: str) -> None:
    with pytest.raises(ordergate.ConfigError, match=r"session\.strategy"):
        ordergate.load_settings(environ={}, overrides={"session.strategy": bad})


def test_run_with_a_strategy_that_cannot_load_is_exit_2_naming_it(tmp_path: Path) -> None:
    done = cli(tmp_path, "run", "--strategy", "no_such_module_xyz:Thing", "--bars", "5", "-q")
    assert 2 == done.returncode, done.stdout + done.stderr
    assert "session.strategy" in done.stderr
    assert "cannot import no_such_module_xyz" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "ordergate-audit.db").exists()  # refused before anything started


def test_the_strategy_tutorial_and_the_cli_docs_run() -> None:
    """docs/strategies.md (a strategy from scratch, run in Python and by `run --strategy`)
    and the runnable blocks of docs/cli.md, through the docs runner CI uses."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / ".ci" / "doctest.py"),
            "--no-mypy",
            str(ROOT / "docs" / "strategies.md"),
            str(ROOT / "docs" / "cli.md"),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert 0 == done.returncode, done.stdout + done.stderr
    assert "0 failed" in done.stdout


def test_init_writes_the_commented_starter_config_and_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "new" / "ordergate.toml"
    done = cli(tmp_path, "init", "new")
    assert 0 == done.returncode, done.stderr
    text = target.read_text()
    assert (ROOT / "examples" / "ordergate.toml").read_text() == text
    assert text.lstrip().startswith("#")
    assert "sim" == tomllib.loads(text)["broker"]["kind"]
    target.write_text("# mine\n")
    again = cli(tmp_path, "init", "new")
    assert 3 == again.returncode
    assert "exists; pass --force" in again.stderr
    assert "# mine\n" == target.read_text()
    assert 0 == cli(tmp_path, "init", "new", "--force").returncode
    assert text == target.read_text()
