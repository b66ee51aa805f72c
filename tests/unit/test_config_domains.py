"""Hostile and careless config files: every value checked against its domain, never a traceback.

Each case here was accepted (or crashed the loader) before: non-UTF-8 bytes, 5,000-deep arrays,
5,000-digit integers, durations of 1e300, paths with NUL, fractions written as percents
(`daily_loss_limit = 3` read as 300%), override keys that match no instrument, broken profiles
that were never looked at unless selected.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.application.config import (
    ConfigError,
    Settings,
    load_settings,
    settings_from_mapping,
)
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.results import OrderResultStatus
from ordergate.domain.instruments import Stock
from ordergate.domain.signals import Signal
from ordergate.domain.values import InstrumentId, Side, SignalId


def load(document: dict[str, object], **kw: object) -> Settings:
    return settings_from_mapping(document, environ={}, **kw)  # type: ignore[arg-type]


def error_of(document: dict[str, object], **kw: object) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(document, **kw)
    return caught.value


def file_error(tmp_path: Path, data: bytes) -> ConfigError:
    file = tmp_path / "ordergate.toml"
    file.write_bytes(data)
    with pytest.raises(ConfigError) as caught:
        load_settings(file, environ={})
    return caught.value


# --- the file's bytes ----------------------------------------------------------------------------


def test_bytes_that_are_not_utf8_name_the_key_the_line_and_the_bytes(tmp_path: Path) -> None:
    error = file_error(tmp_path, b'mode = "paper"\noperator_id = "\xff\xfe"\n')

    assert error.keys == ("operator_id",)
    assert "b'\\xff'" in str(error)
    assert "line 2, column 16" in str(error)


def test_a_utf16_file_is_refused_with_how_to_fix_it(tmp_path: Path) -> None:
    error = file_error(tmp_path, 'mode = "paper"\n'.encode("utf-16"))

    assert "UTF-16" in str(error)
    assert "save it again as UTF-8" in str(error)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    file = tmp_path / "ordergate.toml"
    file.write_bytes(b'\xef\xbb\xbfoperator_id = "OPS1"\n')

    assert "OPS1" == load_settings(file, environ={}).operator_id


def test_a_5000_deep_array_is_refused_before_parsing(tmp_path: Path) -> None:
    error = file_error(tmp_path, b"[risk]\nmax_position = " + b"[" * 5000 + b"]" * 5000 + b"\n")

    assert error.keys == ("risk.max_position",)
    assert "nested more than 16 deep" in str(error)


def test_a_5000_digit_integer_names_its_key(tmp_path: Path) -> None:
    error = file_error(tmp_path, b"[risk]\nmax_open_orders = " + b"9" * 5000 + b"\n")

    assert error.keys == ("risk.max_open_orders",)
    assert "9999999999" in str(error)
    assert "line 2" in str(error)


def test_a_long_digit_string_inside_quotes_is_a_value_not_a_parse_error(tmp_path: Path) -> None:
    error = file_error(tmp_path, b'[risk]\nmax_position = "' + b"9" * 5000 + b'"\n')

    assert error.keys == ("risk.max_position",)
    assert "expected a decimal number" in str(error)


def test_a_5000_deep_dotted_key_is_refused(tmp_path: Path) -> None:
    error = file_error(tmp_path, b".".join([b"a"] * 5000) + b" = 1\n")

    assert "nested more than 16 deep" in str(error)


def test_a_file_over_a_mebibyte_is_refused(tmp_path: Path) -> None:
    error = file_error(tmp_path, b"# " + b"x" * (1 << 20) + b"\n")

    assert "at most 1,048,576" in str(error)


def test_invalid_toml_names_the_key_on_the_line(tmp_path: Path) -> None:
    error = file_error(tmp_path, b"[broker]\nport = 40 02\n")

    assert error.keys == ("broker.port",)
    assert "is not valid TOML" in str(error)


def test_a_deeply_nested_mapping_from_python_is_refused() -> None:
    document: dict[str, object] = {}
    inner = document
    for _ in range(5000):
        inner["a"] = {}
        inner = inner["a"]  # type: ignore[assignment]

    assert "nested more than 16 deep" in str(error_of(document))


def test_a_huge_integer_from_python_is_described_not_printed() -> None:
    message = str(error_of({"risk": {"max_position": 10**5000}}))

    assert message.startswith("risk.max_position: must be >= 0 and at most")
    assert "an integer of about 5001 digits" in message


# --- durations, counts, amounts, text ------------------------------------------------------------

DURATIONS = [
    ("broker", "connect_timeout"),
    ("broker", "request_timeout"),
    ("market_data", "staleness_seconds"),
    ("risk", "submit_rate_window_seconds"),
    ("risk", "max_quote_age_seconds"),
    ("risk.breakers", "broker_error_window_seconds"),
    ("risk.breakers", "max_data_age_seconds"),
    ("risk.breakers", "cooldown_seconds"),
]


def nested(section: str, key: str, value: object) -> dict[str, object]:
    document: dict[str, object] = {key: value}
    for part in reversed(section.split(".")):
        document = {part: document}
    return document


@pytest.mark.parametrize(("section", "key"), DURATIONS)
@pytest.mark.parametrize("value", [1e300, 1e-300, 0, -1])
def test_a_duration_out_of_bounds_is_refused(section: str, key: str, value: float) -> None:
    error = error_of(nested(section, key, value))

    assert (f"{section}.{key}",) == error.keys
    assert "must be a number of seconds between 0.001 and" in str(error)


def test_durations_are_bounded_so_the_domain_timedeltas_can_be_built() -> None:
    settings = load({"risk": {"submit_rate_window_seconds": 604800}})

    assert 604800 == settings.risk.to_limits().submit_rate_window.total_seconds()


@pytest.mark.parametrize(
    ("document", "key"),
    [
        ({"risk": {"max_open_orders": 10**7}}, "risk.max_open_orders"),
        ({"broker": {"client_id": 2**31}}, "broker.client_id"),
        ({"session": {"seed": 2**64}}, "session.seed"),
        ({"strategy_c": {"dte": 10_000}}, "strategy_c.dte"),
        ({"risk": {"max_position": "1e16"}}, "risk.max_position"),
        ({"risk": {"max_order_notional": "1e999999"}}, "risk.max_order_notional"),
        ({"risk": {"max_leverage": 1000}}, "risk.max_leverage"),
    ],
)
def test_numbers_beyond_their_domain_are_refused(document: dict[str, object], key: str) -> None:
    assert (key,) == error_of(document).keys


@pytest.mark.parametrize(
    ("document", "key"),
    [
        ({"audit": {"path": "a\x00b"}}, "audit.path"),
        ({"audit": {"path": "logs/"}}, "audit.path"),
        ({"audit": {"path": "x" * 5000}}, "audit.path"),
        ({"session": {"bars_file": "bars\x00.csv"}}, "session.bars_file"),
        ({"operator_id": "A:B"}, "operator_id"),
        ({"operator_id": "x" * 100}, "operator_id"),
        ({"account_id": "DU 123\n"}, "account_id"),
        ({"broker": {"host": "127.0.0.1\x00evil"}}, "broker.host"),
        ({"audit": {"table": 'audit"; drop'}}, "audit.table"),
        ({"audit": {"hmac_key_env": "MY KEY"}}, "audit.hmac_key_env"),
        ({"publisher": {"url": "http://127.0.0.1"}}, "publisher.url"),
        ({"session": {"symbols": ["aapl"]}}, "session.symbols"),
        ({"session": {"symbols": ["AAPL", "AAPL"]}}, "session.symbols"),
    ],
)
def test_text_beyond_its_domain_is_refused(document: dict[str, object], key: str) -> None:
    assert (key,) == error_of(document).keys


def test_a_nul_in_a_path_is_named_and_shown() -> None:
    assert str(error_of({"audit": {"path": "a\x00b"}})) == (
        "audit.path: must not contain control characters (NUL, newlines); got 'a\\x00b'"
    )


# --- fractions and percents ----------------------------------------------------------------------

FRACTIONS = [
    ("risk", "daily_loss_limit", 3),
    ("risk", "max_weekly_drawdown", 6),
    ("risk", "price_collar", 10),
]


@pytest.mark.parametrize(("section", "key", "value"), FRACTIONS)
def test_a_percent_written_as_a_number_is_refused_saying_how_to_write_it(
    section: str, key: str, value: int
) -> None:
    error = error_of({section: {key: value}})

    assert str(error) == (
        f"{section}.{key}: must be a fraction in [0, 1): 0.03 is 3%, or write the percent "
        f'as "3%"; got {value}'
    )


@pytest.mark.parametrize(("section", "key", "value"), FRACTIONS)
def test_a_percent_string_is_the_fraction_it_says(section: str, key: str, value: int) -> None:
    settings = load({section: {key: f"{value}%"}})

    assert Decimal(value) / 100 == getattr(settings.risk, key)


def test_a_percent_of_100_or_more_is_refused_showing_what_was_written() -> None:
    message = str(error_of({"risk": {"daily_loss_limit": "300%"}}))

    assert message.startswith("risk.daily_loss_limit: must be a fraction in [0, 1)")
    assert message.endswith("got '300%'")


def test_one_is_not_a_fraction_but_zero_is() -> None:
    assert ("risk.price_collar",) == error_of({"risk": {"price_collar": 1}}).keys
    assert Decimal(0) == load({"risk": {"daily_loss_limit": 0}}).risk.daily_loss_limit


def test_the_emergency_stop_is_a_fraction_above_zero() -> None:
    assert (
        Decimal("0.4")
        == load({"strategy_c": {"emergency_loss_pct": "40%"}}).strategy_c.emergency_loss_pct
    )
    assert ("strategy_c.emergency_loss_pct",) == error_of(
        {"strategy_c": {"emergency_loss_pct": 0}}
    ).keys


def test_a_percent_from_the_environment_works_too() -> None:
    settings = settings_from_mapping({}, environ={"ORDERGATE_RISK__PRICE_COLLAR": "5%"})

    assert Decimal("0.05") == settings.risk.price_collar


def test_a_percent_is_not_money() -> None:
    assert "expected a decimal number" in str(error_of({"risk": {"max_position": "5%"}}))


# --- per-instrument overrides --------------------------------------------------------------------


@pytest.mark.parametrize("key", ["aapl", "APPL"])
def test_an_override_that_matches_no_instrument_names_the_close_match(key: str) -> None:
    error = error_of({"risk": {"overrides": {key: {"max_position": 1}}}})

    assert (f"risk.overrides.{key}",) == error.keys
    assert "did you mean 'AAPL'?" in str(error)
    assert "case-sensitive" in str(error)


def test_an_override_for_a_session_symbol_applies_to_it() -> None:
    limits = load({"risk": {"overrides": {"AAPL": {"max_position": 1}}}}).risk.to_limits()

    assert Decimal(1) == limits.position_limit(InstrumentId("AAPL"))


def test_an_override_for_an_option_on_a_session_symbol_is_accepted() -> None:
    key = "AAPL  240119C00150000"
    limits = load({"risk": {"overrides": {key: {"max_position": 2}}}}).risk.to_limits()

    assert Decimal(2) == limits.position_limit(InstrumentId(key))


def test_an_override_for_a_symbol_the_session_does_not_list_is_refused() -> None:
    error = error_of(
        {"session": {"symbols": ["MSFT"]}, "risk": {"overrides": {"AAPL": {"max_position": 1}}}}
    )

    assert ("risk.overrides.AAPL",) == error.keys


def test_every_bad_override_is_reported() -> None:
    error = error_of({"risk": {"overrides": {"aapl": {}, "IMB": {}, "MSFT": {}}}})

    assert {"risk.overrides.aapl", "risk.overrides.IMB"} == set(error.keys)


def test_an_override_set_from_the_environment_is_lower_case_and_so_refused() -> None:
    with pytest.raises(ConfigError, match=r"risk\.overrides\.aapl: .*did you mean 'AAPL'"):
        settings_from_mapping({}, environ={"ORDERGATE_RISK__OVERRIDES__AAPL__MAX_POSITION": "1"})


# --- every profile is validated ------------------------------------------------------------------


def test_a_profile_that_is_not_selected_is_validated() -> None:
    error = error_of({"profiles": {"live": {"risk": {"max_position": -1}}}})

    assert ("profiles.live.risk.max_position",) == error.keys
    assert str(error) == "profiles.live.risk.max_position: must be >= 0; got -1"


def test_a_problem_of_the_base_file_is_reported_once_not_per_profile() -> None:
    error = error_of(
        {"risk": {"price_collar": 10}, "profiles": {"paper": {}, "live": {"mode": "live"}}}
    )

    assert ("risk.price_collar",) == error.keys


def test_the_base_file_is_validated_when_a_profile_is_selected() -> None:
    error = error_of(
        {"broker": {"port": 0}, "profiles": {"paper": {"broker": {"port": 4002}}}},
        profile="paper",
    )

    assert ("broker.port",) == error.keys


def test_a_profile_problem_is_named_under_the_profile_when_another_is_selected() -> None:
    error = error_of(
        {"profiles": {"paper": {}, "live": {"risk": {"overrides": {"aapl": {}}}}}},
        profile="paper",
    )

    assert ("profiles.live.risk.overrides.aapl",) == error.keys


def test_an_environment_override_applies_to_the_selected_profile_only() -> None:
    document = {"profiles": {"live": {"broker": {"port": 4001}}}}

    settings = settings_from_mapping(document, environ={"ORDERGATE_BROKER__PORT": "7497"})

    assert 7497 == settings.broker.port


def test_other_profiles_are_validated_in_this_environment() -> None:
    document = {"audit": {"kind": "postgres"}, "profiles": {"paper": {}, "live": {}}}
    environ = {"ORDERGATE_AUDIT__DSN": "postgresql://ordergate@127.0.0.1/test"}

    settings = settings_from_mapping(document, environ=environ, profile="paper")

    assert "postgresql://ordergate@127.0.0.1/test" == settings.audit.dsn


async def test_an_override_from_the_file_is_what_the_gate_enforces(tmp_path: Path) -> None:
    """The case from the review: BUY 5 AAPL under `[risk.overrides.AAPL] max_position = 1` is
    denied by the gate built from the file's limits (an `aapl` key is refused at load above)."""
    file = tmp_path / "ordergate.toml"
    file.write_text("[risk.overrides.AAPL]\nmax_position = 1\n")
    limits = load_settings(file, environ={}).risk.to_limits()
    now, aapl = datetime(2024, 1, 8, 15, 0, tzinfo=UTC), Stock("AAPL")
    clock = FakeClock(now)
    broker, market = FakeBroker(clock, [aapl]), FakeMarketData(clock, [aapl])
    for priced in (broker, market):
        priced.set_price(aapl, Decimal(100))
    ports = Ports(broker, market, InMemoryAuditLog(clock=clock), clock, InMemoryPublisher())
    gate = OrderGate(ports, GateOptions(operator_id="T", limits=limits))

    async with gate:
        [result] = await gate.submit_signal(
            Signal(SignalId("S1"), aapl, Side.BUY, now, quantity=Decimal(5))
        )

    assert OrderResultStatus.DENIED is result.status
    assert "max_position" in (result.reason or "")
    assert [] == broker.calls_to("submit")
