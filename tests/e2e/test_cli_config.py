"""`ordergate check-config` as an operator runs it: a real process, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ordergate.toml"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m ordergate.adapters.cli.main` with a clean ORDERGATE_* environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "ordergate.adapters.cli.main", *args],
        env={**base, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write(tmp_path: Path, text: str) -> Path:
    file = tmp_path / "ordergate.toml"
    file.write_text(text, encoding="utf-8")
    return file


def test_the_shipped_example_is_valid_and_shows_the_operator_id() -> None:
    result = run_cli("check-config", "--config", str(EXAMPLE))

    assert result.returncode == 0, result.stderr
    assert "CSATSPRIM" in result.stdout
    assert "configuration is valid" in result.stdout


def test_the_installed_console_script_runs_the_same_app() -> None:
    script = Path(sys.executable).with_name("ordergate")
    if not script.exists():
        pytest.skip("the ordergate console script is not installed next to this Python")
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERGATE_")}
    result = subprocess.run(
        [str(script), "check-config", "-c", str(EXAMPLE)],
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr


def test_a_profile_and_an_environment_override_show_where_values_came_from() -> None:
    result = run_cli(
        "check-config",
        "-c",
        str(EXAMPLE),
        "--profile",
        "paper",
        env={"ORDERGATE_BROKER__PORT": "7497"},
    )

    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "ORDERGATE_BROKER__PORT" in rows["broker.port"]
    assert "profile paper" in rows["account_id"]


def test_an_unknown_broker_kind_exits_2_naming_key_and_value(tmp_path: Path) -> None:
    result = run_cli("check-config", "-c", str(write(tmp_path, '[broker]\nkind = "ibkrr"\n')))

    assert result.returncode == 2
    assert "broker.kind: 'ibkrr' is not one of sim, ibkr, fake" in result.stderr
    assert result.stdout == ""


def test_an_unknown_key_exits_2(tmp_path: Path) -> None:
    result = run_cli("check-config", "-c", str(write(tmp_path, "[risk]\nmax_positon = 5\n")))

    assert result.returncode == 2
    assert "risk.max_positon: unknown key (value 5)" in result.stderr


def test_a_negative_limit_exits_2(tmp_path: Path) -> None:
    result = run_cli("check-config", "-c", str(write(tmp_path, "[risk]\nmax_position = -5\n")))

    assert result.returncode == 2
    assert "risk.max_position: must be >= 0; got -5" in result.stderr


def test_a_bad_environment_value_exits_2_naming_the_variable() -> None:
    result = run_cli("check-config", env={"ORDERGATE_BROKER__PORT": "four"})

    assert result.returncode == 2
    assert "(from ORDERGATE_BROKER__PORT)" in result.stderr


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("check-config", "-c", str(tmp_path / "absent.toml"))

    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_a_password_in_the_file_exits_2_without_printing_it(tmp_path: Path) -> None:
    file = write(tmp_path, '[audit]\npassword = "hunter2"\n')

    result = run_cli("check-config", "-c", str(file))

    assert result.returncode == 2
    assert "ORDERGATE_POSTGRES_PASSWORD" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_secrets_from_the_environment_are_never_printed() -> None:
    result = run_cli(
        "check-config",
        env={"ORDERGATE_REDIS_PASSWORD": "rd-s3cret", "ORDERGATE_PUBLISHER__KIND": "redis"},
    )

    assert result.returncode == 0, result.stderr
    assert "rd-s3cret" not in result.stdout + result.stderr
    assert "set (from ORDERGATE_REDIS_PASSWORD)" in result.stdout


def test_live_without_the_arm_is_valid_config_but_check_arming_exits_3() -> None:
    shown = run_cli("check-config", "-c", str(EXAMPLE), "--profile", "live")
    refused = run_cli("check-config", "-c", str(EXAMPLE), "--profile", "live", "--check-arming")
    armed = run_cli(
        "check-config",
        "-c",
        str(EXAMPLE),
        "--profile",
        "live",
        "--check-arming",
        env={"ORDERGATE_ARM_LIVE": "U1234567"},
    )

    assert shown.returncode == 0
    assert "ORDERGATE_ARM_LIVE is not set" in shown.stdout
    assert refused.returncode == 3
    assert armed.returncode == 0, armed.stdout


def test_an_unknown_command_is_a_usage_error() -> None:
    assert run_cli("frobnicate").returncode == 2
