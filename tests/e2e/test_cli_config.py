"""`ordergate check-config` as an operator runs it: a real process, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
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


# --- hostile files: a typed error and exit 2, never a traceback --------------------------------

# Runs the CLI with some top-level modules refused, as Python refuses a module that is not
# installed: a meta path finder raising ModuleNotFoundError before any other finder looks.
WITHOUT_MODULES = """
import importlib.abc, runpy, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

BLOCKED = set(sys.argv[1].split(","))
sys.meta_path.insert(0, NotInstalled())
sys.argv = ["ordergate", *sys.argv[2:]]
runpy.run_module("ordergate.adapters.cli.main", run_name="__main__")
"""


def run_without(
    modules: str, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERGATE_")}
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_MODULES, modules, *args],
        env={**base, "COLUMNS": "200"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_config_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert 2 == result.returncode, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert all(line.startswith("error: ") for line in result.stderr.splitlines()), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def test_a_file_that_is_not_utf8_exits_2_naming_the_key(tmp_path: Path) -> None:
    file = tmp_path / "ordergate.toml"
    file.write_bytes(b'[broker]\nhost = "\xe9t\xe9"\n')

    assert_config_error(run_cli("check-config", "-c", str(file)), "broker.host", "line 2")


def test_a_5000_deep_array_exits_2(tmp_path: Path) -> None:
    file = write(tmp_path, "[session]\nsymbols = " + "[" * 5000 + "]" * 5000 + "\n")

    assert_config_error(run_cli("check-config", "-c", str(file)), "session.symbols")


def test_a_5000_digit_integer_exits_2(tmp_path: Path) -> None:
    file = write(tmp_path, "[broker]\nport = " + "4" * 5000 + "\n")

    assert_config_error(run_cli("check-config", "-c", str(file)), "broker.port", "44444444")


def test_a_percent_written_as_a_whole_number_exits_2_saying_how_to_write_it(
    tmp_path: Path,
) -> None:
    file = write(tmp_path, "[risk]\ndaily_loss_limit = 3\n")

    assert_config_error(
        run_cli("check-config", "-c", str(file)),
        "risk.daily_loss_limit",
        'write the percent as "3%"',
    )


def test_an_override_key_in_the_wrong_case_exits_2_naming_the_instrument(tmp_path: Path) -> None:
    file = write(tmp_path, "[risk.overrides.aapl]\nmax_position = 1\n")

    assert_config_error(
        run_cli("check-config", "-c", str(file)), "risk.overrides.aapl", "did you mean 'AAPL'?"
    )


def test_a_broken_profile_exits_2_though_another_is_selected(tmp_path: Path) -> None:
    file = write(tmp_path, "[profiles.a]\n[profiles.b.broker]\nport = 0\n")

    assert_config_error(
        run_cli("check-config", "-c", str(file), "-p", "a"), "profiles.b.broker.port"
    )


POSTGRES = '[audit]\nkind = "postgres"\ndsn = "postgresql://ordergate@127.0.0.1:5432/test"\n'


def test_check_config_refuses_postgres_audit_without_its_extra(tmp_path: Path) -> None:
    result = run_without("psycopg", "check-config", "-c", str(write(tmp_path, POSTGRES)))

    assert_config_error(result, "audit.kind", "pip install 'ordergate[postgres]'")


def test_run_refuses_postgres_audit_without_its_extra_in_one_line(tmp_path: Path) -> None:
    result = run_without(
        "psycopg", "run", "-q", "--bars", "5", "-c", str(write(tmp_path, POSTGRES))
    )

    assert_config_error(result, "audit.kind", "No module named 'psycopg'")
    assert 1 == len(result.stderr.splitlines())


def test_serve_refuses_postgres_audit_without_its_extra(tmp_path: Path) -> None:
    signals = tmp_path / "signals.jsonl"
    signals.write_text("")
    file = str(write(tmp_path, POSTGRES))

    result = run_without("psycopg", "serve", "-c", file, "--signals-file", str(signals))

    assert_config_error(result, "audit.kind", "pip install 'ordergate[postgres]'")


def test_check_config_refuses_a_redis_publisher_without_its_extra(tmp_path: Path) -> None:
    file = write(tmp_path, '[publisher]\nkind = "redis"\n[audit]\nkind = "memory"\n')

    assert_config_error(run_without("redis", "check-config", "-c", str(file)), "publisher.kind")


def test_with_its_extra_installed_postgres_audit_is_valid(tmp_path: Path) -> None:
    result = run_cli("check-config", "-c", str(write(tmp_path, POSTGRES)))

    assert 0 == result.returncode, result.stderr


# --- `run` exits as documented: 2 for bad configuration ---------------------------------------


def run_session(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    file = write(tmp_path, text)
    audit = tmp_path / "audit.db"
    return run_cli("run", "-q", "--bars", "5", "-c", str(file), "--audit", str(audit))


def test_run_with_an_unknown_symbol_exits_2(tmp_path: Path) -> None:
    result = run_session(tmp_path, '[session]\nsymbols = ["ZZZZ"]\n')

    assert_config_error(result, "session.symbols", "ZZZZ")


def test_run_with_a_missing_bars_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "absent.csv"
    result = run_session(tmp_path, f'[session]\nbars_file = "{missing}"\n')

    assert_config_error(result, "session.bars_file", "does not exist")


def test_run_with_a_malformed_bars_csv_names_the_file_line_and_columns(tmp_path: Path) -> None:
    bars = tmp_path / "bars.csv"
    bars.write_text("Date,Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10\n")
    result = run_session(tmp_path, f'[session]\nsymbols = ["AAPL"]\nbars_file = "{bars}"\n')

    assert_config_error(
        result, f"{bars}, line 2", "fewer fields", "Date,Open,High,Low,Close,Volume"
    )


def test_run_with_an_audit_path_that_is_a_folder_exits_2(tmp_path: Path) -> None:
    file = write(tmp_path, "")

    result = run_cli("run", "-q", "--bars", "5", "-c", str(file), "--audit", str(tmp_path))

    assert_config_error(result, "audit.path", "is a folder")


def test_run_with_a_nul_in_the_audit_path_exits_2(tmp_path: Path) -> None:
    result = run_cli(
        "run", "-q", "--bars", "5", "-c", str(write(tmp_path, '[audit]\npath = "a\\u0000b"\n'))
    )

    assert_config_error(result, "audit.path", "control characters")


def test_run_with_a_duration_of_1e300_exits_2(tmp_path: Path) -> None:
    result = run_session(tmp_path, "[risk]\nsubmit_rate_window_seconds = 1e300\n")

    assert_config_error(result, "risk.submit_rate_window_seconds", "1e+300")


def test_a_replaying_gateway_emulator_with_an_unknown_symbol_exits_2(tmp_path: Path) -> None:
    file = write(tmp_path, '[session]\nsymbols = ["ZZZZ"]\n')

    result = run_cli("gateway-sim", "--replay", "--port", "0", "-c", str(file))

    assert_config_error(result, "session.symbols", "ZZZZ")


def test_a_replaying_gateway_emulator_with_a_malformed_bars_csv_exits_2(tmp_path: Path) -> None:
    bars = tmp_path / "bars.csv"
    bars.write_text("a,b\n1,2\n")
    file = write(tmp_path, f'[session]\nsymbols = ["AAPL"]\nbars_file = "{bars}"\n')

    result = run_cli("gateway-sim", "--replay", "--port", "0", "-c", str(file))

    assert_config_error(result, "session.bars_file", f"{bars}, line 1")


# --- valid means `run` can start ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        EXAMPLE.read_text(encoding="utf-8"),
        '[session]\nsymbols = ["AAPL"]\nbars_file = "BARS"\n'
        "[risk.overrides.AAPL]\nmax_position = 1\n",
        '[audit]\nkind = "memory"\n[risk]\ndaily_loss_limit = "2%"\n',
    ],
    ids=["example", "bars-file", "memory-audit-percent"],
)
def test_a_config_that_check_config_calls_valid_can_start_run(tmp_path: Path, text: str) -> None:
    bars = tmp_path / "bars.csv"
    days = [date(2024, 1, 2) + timedelta(days=n) for n in range(60)]
    sessions = [
        d for d in days if d.weekday() < 5 and d not in (date(2024, 1, 15), date(2024, 2, 19))
    ]
    rows = [f"{day.isoformat()},10,11,9,10.5,1000" for day in sessions]
    bars.write_text("Date,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n")
    file = write(tmp_path, text.replace("BARS", str(bars)))

    checked = run_cli("check-config", "-c", str(file))
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "ordergate.adapters.cli.main",
            *("run", "-q", "--bars", "5", "-c", str(file)),
        ],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("ORDERGATE_")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert 0 == checked.returncode, checked.stderr
    assert 0 == ran.returncode, ran.stderr
    assert "audit verify" in ran.stdout
