"""CLI conventions (issue #13): --version, completion, choices in help, markup-free help."""

from __future__ import annotations

import subprocess
import sys

import ordergate


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ordergate.adapters.cli.main", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"},
    )


def test_version_prints_the_installed_version() -> None:
    for flag in ("--version", "-V"):
        done = cli(flag)
        assert 0 == done.returncode, done.stderr
        assert f"ordergate {ordergate.__version__}\n" == done.stdout


def test_help_offers_completion_and_keeps_bracketed_config_tables() -> None:
    done = cli("--help")
    assert 0 == done.returncode, done.stderr
    assert "--install-completion" in done.stdout
    assert "Default: [logging] level" in done.stdout  # Rich markup used to eat "[logging]"
    replay = cli("gateway-sim", "--help").stdout
    assert "[session] of --config" in " ".join(replay.split())


def test_run_help_lists_the_mode_and_broker_choices_and_refuses_others() -> None:
    text = cli("run", "--help").stdout
    assert "--mode <dry_run|paper|live>" in text
    assert "--broker <sim|ibkr|fake>" in text
    bad = cli("run", "--broker", "ibkrr")
    assert 2 == bad.returncode
    assert "'ibkrr' is not one of 'sim', 'ibkr', 'fake'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_audit_commands_take_audit_like_the_others_and_still_accept_path() -> None:
    text = cli("audit", "verify", "--help").stdout
    assert "--audit, --path" in text
