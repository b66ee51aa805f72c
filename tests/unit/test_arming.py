"""Live trading is armed twice, and the IB port and account must agree with the mode (SPEC §6)."""

from __future__ import annotations

import itertools

import pytest

from ordergate.application.arming import (
    ARM_VARIABLE,
    ArmingRefused,
    LiveTradingNotArmed,
    ModeMismatch,
    check_arming,
    is_paper_account,
)
from ordergate.application.config import BrokerKind, BrokerSettings, Mode, Settings
from ordergate.domain.errors import OrdergateError

LIVE_ACCOUNT = "U7654321"
PAPER_ACCOUNT = "DU1234567"
MODES = list(Mode)
KINDS = [BrokerKind.IBKR, BrokerKind.SIM, BrokerKind.FAKE]
PORTS = [4001, 7496, 4002, 7497, 7777]
ACCOUNTS = [None, PAPER_ACCOUNT, LIVE_ACCOUNT]
ARMS = ["absent", "empty", "matching", "wrong"]


def settings(
    mode: Mode, kind: BrokerKind = BrokerKind.IBKR, port: int = 4001, account: str | None = None
) -> Settings:
    return Settings(mode=mode, account_id=account, broker=BrokerSettings(kind=kind, port=port))


def environ(arm: str, account: str | None) -> dict[str, str]:
    value = {"absent": None, "empty": "", "matching": account, "wrong": "U0000000"}[arm]
    return {} if value is None else {ARM_VARIABLE: value}


def expected_refusal(
    mode: Mode, kind: BrokerKind, port: int, account: str | None, arm: str
) -> tuple[type[ArmingRefused], str] | None:
    """The spec's rules, written as a table: which check refuses this combination, if any."""
    if mode is Mode.DRY_RUN:
        return None
    if mode is Mode.PAPER:
        if kind is not BrokerKind.IBKR:
            return None
        if port in (4001, 7496):
            return ModeMismatch, "port"
        if account == LIVE_ACCOUNT:
            return ModeMismatch, "account"
        return None
    if kind is not BrokerKind.IBKR:
        return ModeMismatch, "broker"
    if account is None:
        return LiveTradingNotArmed, "account_id"
    if account == PAPER_ACCOUNT:
        return ModeMismatch, "account"
    if port not in (4001, 7496):
        return ModeMismatch, "port"
    if arm != "matching":
        return LiveTradingNotArmed, "arm"
    return None


COMBINATIONS = list(itertools.product(MODES, KINDS, PORTS, ACCOUNTS, ARMS))


@pytest.mark.parametrize(("mode", "kind", "port", "account", "arm"), COMBINATIONS)
def test_every_combination_of_mode_broker_port_account_and_arm(
    mode: Mode, kind: BrokerKind, port: int, account: str | None, arm: str
) -> None:
    expected = expected_refusal(mode, kind, port, account, arm)
    config = settings(mode, kind, port, account)

    if expected is None:
        check_arming(config, environ(arm, account))
    else:
        with pytest.raises(expected[0]) as caught:
            check_arming(config, environ(arm, account))
        assert expected[1] == caught.value.check


def test_only_one_combination_per_live_port_trades_live() -> None:
    allowed = [
        combo
        for combo in COMBINATIONS
        if combo[0] is Mode.LIVE and expected_refusal(*combo) is None
    ]

    assert [(c[2], c[3], c[4]) for c in allowed] == [
        (4001, LIVE_ACCOUNT, "matching"),
        (7496, LIVE_ACCOUNT, "matching"),
    ]


def test_refusals_are_ordergate_errors() -> None:
    assert issubclass(LiveTradingNotArmed, OrdergateError)
    assert issubclass(ModeMismatch, OrdergateError)


def test_live_without_the_arm_says_which_variable_to_export() -> None:
    with pytest.raises(LiveTradingNotArmed) as caught:
        check_arming(settings(Mode.LIVE, account=LIVE_ACCOUNT), {})

    assert f"export {ARM_VARIABLE}={LIVE_ACCOUNT}" in str(caught.value)


def test_a_wrong_arm_names_both_values() -> None:
    with pytest.raises(LiveTradingNotArmed) as caught:
        check_arming(settings(Mode.LIVE, account=LIVE_ACCOUNT), {ARM_VARIABLE: "U1"})

    assert f"{ARM_VARIABLE} is 'U1' but account_id is '{LIVE_ACCOUNT}'" in str(caught.value)


def test_live_on_a_paper_port_names_the_port_and_the_fix() -> None:
    with pytest.raises(ModeMismatch) as caught:
        check_arming(
            settings(Mode.LIVE, port=4002, account=LIVE_ACCOUNT), {ARM_VARIABLE: LIVE_ACCOUNT}
        )

    assert "broker.port 4002 is a paper-trading port" in str(caught.value)


def test_paper_on_a_live_port_is_refused() -> None:
    with pytest.raises(ModeMismatch, match=r"broker\.port 7496 is a live-trading port"):
        check_arming(settings(Mode.PAPER, port=7496), {})


def test_paper_with_a_live_account_is_refused() -> None:
    with pytest.raises(ModeMismatch, match=f"account_id '{LIVE_ACCOUNT}' is not a paper"):
        check_arming(settings(Mode.PAPER, port=4002, account=LIVE_ACCOUNT), {})


def test_the_arm_value_may_carry_surrounding_whitespace() -> None:
    check_arming(settings(Mode.LIVE, account=LIVE_ACCOUNT), {ARM_VARIABLE: f" {LIVE_ACCOUNT}\n"})


@pytest.mark.parametrize(("account", "paper"), [("DU1", True), ("du1", True), ("U1", False)])
def test_du_accounts_are_paper(account: str, paper: bool) -> None:
    assert paper == is_paper_account(account)
