"""Live-trading arming: the checks that must pass before any broker session starts (SPEC §6).

Live trading is armed twice: the configuration says `mode = "live"` *and* the environment variable
`ORDERGATE_ARM_LIVE` holds the configured account id. The IB connection must also agree with the
mode: ports 4002 (IB Gateway) and 7497 (TWS) and `DU…` accounts are paper; 4001 and 7496 are live.
Any disagreement raises, naming the check that failed and what to do; nothing is ever "fixed up".

Checks, in order (the first failure is reported):
- `live`: broker is `ibkr` → `account_id` is set → it is not a `DU…` paper account → the port is
  a live port → `ORDERGATE_ARM_LIVE` is set → it equals `account_id`.
- `paper` on `ibkr`: the port is not a live port → `account_id`, if set, is a `DU…` account.
- `paper` on `sim`/`fake`, and `dry_run` (nothing is sent): no checks.

`check_arming` is pure: it reads the settings and the mapping it is given, nothing else. What
the gateway is actually logged into is checked by the IBKR adapter itself, after every connect
and reconnect (`adapters/ibkr/health.check_managed_accounts`): the settings' mode and account
travel to it as `IbkrConfig.expected_mode` and `account`.
"""

from __future__ import annotations

from collections.abc import Mapping

from ordergate.application.config import BrokerKind, Mode, Settings
from ordergate.domain.errors import OrdergateError

__all__ = [
    "ARM_VARIABLE",
    "LIVE_PORTS",
    "PAPER_ACCOUNT_PREFIX",
    "PAPER_PORTS",
    "ArmingRefused",
    "LiveTradingNotArmed",
    "ModeMismatch",
    "check_arming",
    "is_paper_account",
]

ARM_VARIABLE = "ORDERGATE_ARM_LIVE"
PAPER_PORTS = frozenset({4002, 7497})
LIVE_PORTS = frozenset({4001, 7496})
PAPER_ACCOUNT_PREFIX = "DU"
_PORTS_HELP = "live: 4001 IB Gateway, 7496 TWS; paper: 4002 IB Gateway, 7497 TWS"


class ArmingRefused(OrdergateError):
    """Trading was refused for safety before anything was sent. `check` names the failed check."""

    def __init__(self, check: str, message: str) -> None:
        self.check = check
        super().__init__(f"refused to start ({check}): {message}")


class LiveTradingNotArmed(ArmingRefused):
    """`mode = "live"` without the second arm: `ORDERGATE_ARM_LIVE` absent or not the account."""


class ModeMismatch(ArmingRefused):
    """The broker, port or account disagrees with the configured mode."""


def is_paper_account(account_id: str) -> bool:
    """True for IB paper-trading accounts (`DU…`)."""
    return account_id.strip().upper().startswith(PAPER_ACCOUNT_PREFIX)


def check_arming(settings: Settings, environ: Mapping[str, str]) -> None:
    """Refuse to start unless mode, broker, port, account and arming agree (see module doc).

    Raises `ModeMismatch` or `LiveTradingNotArmed`; returns None when trading may start.
    """
    if settings.mode is Mode.LIVE:
        _check_live(settings, environ)
    elif settings.mode is Mode.PAPER and settings.broker.kind is BrokerKind.IBKR:
        _check_paper(settings)


def _check_live(settings: Settings, environ: Mapping[str, str]) -> None:
    broker = settings.broker
    if broker.kind is not BrokerKind.IBKR:
        raise ModeMismatch(
            "broker",
            f"mode is live but broker.kind is {broker.kind.value!r}; live trading needs "
            "broker.kind = 'ibkr' (use mode = 'paper' or 'dry_run' with the sim or fake broker)",
        )
    account = settings.account_id
    if account is None:
        raise LiveTradingNotArmed(
            "account_id",
            "mode is live but account_id is not set; set account_id to the live IB account "
            f"and {ARM_VARIABLE} to the same value",
        )
    if is_paper_account(account):
        raise ModeMismatch(
            "account",
            f"mode is live but account_id {account!r} is a paper (DU…) account; "
            "set mode = 'paper', or account_id to the live account",
        )
    if broker.port not in LIVE_PORTS:
        kind = "a paper-trading port" if broker.port in PAPER_PORTS else "not a known live port"
        raise ModeMismatch(
            "port",
            f"mode is live but broker.port {broker.port} is {kind} ({_PORTS_HELP}); "
            "point broker.port at the live gateway or set mode = 'paper'",
        )
    armed = environ.get(ARM_VARIABLE)
    if not armed:
        raise LiveTradingNotArmed(
            "arm",
            f"mode is live but {ARM_VARIABLE} is not set; to trade live on account {account}, "
            f"export {ARM_VARIABLE}={account} (the second arm), or set mode = 'paper'",
        )
    if armed.strip() != account:
        raise LiveTradingNotArmed(
            "arm",
            f"{ARM_VARIABLE} is {armed!r} but account_id is {account!r}; they must be equal "
            "(export the configured account id, or fix account_id)",
        )


def _check_paper(settings: Settings) -> None:
    port = settings.broker.port
    if port in LIVE_PORTS:
        raise ModeMismatch(
            "port",
            f"mode is paper but broker.port {port} is a live-trading port ({_PORTS_HELP}); "
            "use 4002 or 7497, or arm live trading with mode = 'live'",
        )
    account = settings.account_id
    if account is not None and not is_paper_account(account):
        raise ModeMismatch(
            "account",
            f"mode is paper but account_id {account!r} is not a paper (DU…) account; "
            "set the paper account id, or arm live trading with mode = 'live'",
        )
