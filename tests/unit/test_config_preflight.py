"""`check_can_start`: what the selected adapters need from this machine, checked before starting.

A valid `check-config` must mean that `run` can start: the audit file can be written, the
simulator has bars for every session symbol, a bars CSV holds bars (else the file, the line and
the expected columns are named). Missing extras are tested through a real process
(tests/e2e/test_cli_config.py), where the import is refused by a meta path finder.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ordergate.adapters.preflight import check_can_start, problems_starting
from ordergate.adapters.sim.bars import BarsFileError, load_daily_bars_csv
from ordergate.application.config import ConfigError, Settings, settings_from_mapping

GOOD_CSV = "Date,Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10.5,1000\n"


def settings(document: dict[str, object]) -> Settings:
    return settings_from_mapping(document, environ={})


def problem_keys(document: dict[str, object]) -> list[str]:
    return [p.key for p in problems_starting(settings(document))]


def test_the_defaults_can_start_in_a_writable_folder(tmp_path: Path) -> None:
    check_can_start(settings({"audit": {"path": str(tmp_path / "audit.db")}}))


def test_an_audit_path_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"audit\.path: is a folder; name a file in it"):
        check_can_start(settings({"audit": {"path": str(tmp_path)}}))


def test_an_audit_path_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "absent" / "audit.db"

    with pytest.raises(ConfigError, match=r"audit\.path: its folder .* does not exist"):
        check_can_start(settings({"audit": {"path": str(path)}}))


def test_an_audit_path_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")

    assert ["audit.path"] == problem_keys({"audit": {"path": str(tmp_path / "plain" / "a.db")}})


def test_an_existing_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")

    with pytest.raises(ConfigError, match="is not an SQLite database"):
        check_can_start(settings({"audit": {"path": str(notes)}}))


def test_an_existing_sqlite_file_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()

    assert [] == problem_keys({"audit": {"path": str(path)}})


def test_the_audit_path_is_not_looked_at_for_another_audit_store(tmp_path: Path) -> None:
    assert [] == problem_keys({"audit": {"kind": "memory", "path": str(tmp_path)}})


def test_a_symbol_without_bundled_bars_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"session\.symbols: the bundled bars cover only"):
        check_can_start(settings({"audit": {"kind": "memory"}, "session": {"symbols": ["ZZZZ"]}}))


def test_session_data_is_not_needed_by_the_ibkr_broker() -> None:
    document = {"audit": {"kind": "memory"}, "broker": {"kind": "ibkr"}}

    assert [] == problem_keys({**document, "session": {"symbols": ["TSLA"]}})


def test_a_missing_bars_file_is_refused(tmp_path: Path) -> None:
    document = {"audit": {"kind": "memory"}, "session": {"bars_file": str(tmp_path / "no.csv")}}

    with pytest.raises(ConfigError, match=r"session\.bars_file: does not exist"):
        check_can_start(settings(document))


def test_a_malformed_bars_file_names_the_file_the_line_and_the_columns(tmp_path: Path) -> None:
    bars = tmp_path / "bars.csv"
    bars.write_text("day,o,h,l,c,v\n2024-01-02,1,1,1,1,1\n")
    document = {"audit": {"kind": "memory"}, "session": {"bars_file": str(bars)}}

    with pytest.raises(ConfigError) as caught:
        check_can_start(settings(document))

    assert ("session.bars_file",) == caught.value.keys
    message = str(caught.value)
    assert f"{bars}, line 1: the header lacks Date, Open" in message
    assert "Date,Open,High,Low,Close,Volume" in message


def test_a_bars_file_without_a_session_symbol_is_refused(tmp_path: Path) -> None:
    bars = tmp_path / "bars.csv"
    bars.write_text("Ticker," + GOOD_CSV.replace("\n2024", "\nAAPL,2024"))
    document = {
        "audit": {"kind": "memory"},
        "session": {"bars_file": str(bars), "symbols": ["AAPL", "MSFT"]},
    }

    with pytest.raises(ConfigError, match=r"session\.symbols: 'MSFT' has no bars in"):
        check_can_start(settings(document))


# --- the CSV reader names the line ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("", 1, "the file is empty"),
        ("Open,High\n1,2\n", 1, "the header lacks Date, Low, Close, Volume"),
        (GOOD_CSV + "2024-01-03,10,11,9\n", 3, "the row has fewer fields than the header"),
        (GOOD_CSV + "2024-01-03,10,11,9,10,5,7\n", 3, "the row has more fields than the header"),
        (GOOD_CSV + "yesterday,10,11,9,10,5\n", 3, "Date 'yesterday' is not a date"),
        (GOOD_CSV + "2024-01-03,ten,11,9,10,5\n", 3, "Open 'ten' is not a number >= 0"),
        (GOOD_CSV + "2024-01-03,10,11,12,10,5\n", 3, "break 0 < Low <= Open, Close <= High"),
        (GOOD_CSV + "2024-01-03,10,11,9,10,5.5\n", 3, "Volume '5.5' is not a whole number"),
    ],
)
def test_a_bad_bars_csv_names_the_file_and_the_line(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    bars = tmp_path / "bars.csv"
    bars.write_text(text)

    with pytest.raises(BarsFileError) as caught:
        load_daily_bars_csv(bars, "AAPL")

    assert (str(bars), line) == (caught.value.source, caught.value.line)
    assert problem in str(caught.value)


def test_bytes_that_are_not_utf8_in_a_bars_file_are_named(tmp_path: Path) -> None:
    bars = tmp_path / "bars.csv"
    bars.write_bytes(GOOD_CSV.encode() + b"2024-01-03,\xff,11,9,10,5\n")

    with pytest.raises(BarsFileError, match="cannot be read"):
        load_daily_bars_csv(bars, "AAPL")


def test_a_good_bars_csv_loads(tmp_path: Path) -> None:
    bars = tmp_path / "bars.csv"
    bars.write_text(GOOD_CSV)

    [bar] = load_daily_bars_csv(bars, "AAPL")

    assert (bar.key, bar.close, bar.volume) == ("AAPL", 105_000, 1000)
