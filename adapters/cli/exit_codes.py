"""Exit codes of the `ordergate` command: stable numbers that scripts may rely on.

| code | meaning |
|---|---|
| 0 | success (for `audit verify`: the chain verified) |
| 1 | failure (for `audit verify`: the chain is broken; any other error) |
| 2 | bad configuration or usage (the message names the key and value) |
| 3 | refused for safety (not armed; mode, port or account mismatch, the gateway's accounts too) |
| 4 | broker unavailable (cannot connect, timed out) |
| 5 | no service: the sim or fake account lives inside `ordergate serve`, and none answers |

Never renumber: add new codes at the end. `docs/cli.md` carries the same table.
"""

from __future__ import annotations

import enum

from ordergate.adapters.serialization import AuditKeyError
from ordergate.application.arming import ArmingRefused
from ordergate.application.config import ConfigError
from ordergate.domain.errors import AccountMismatch, BrokerError, BrokerRejected

__all__ = ["ExitCode", "exit_code_for"]


class ExitCode(enum.IntEnum):
    """The process exit codes of every `ordergate` command."""

    OK = 0
    FAILURE = 1
    BAD_CONFIG = 2
    REFUSED = 3
    BROKER_UNAVAILABLE = 4
    NO_SERVICE = 5


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit code that reports `error` (anything unrecognised is a plain failure)."""
    if isinstance(error, ConfigError | AuditKeyError):  # a key variable unset, or the wrong key
        return ExitCode.BAD_CONFIG
    if isinstance(error, ArmingRefused | AccountMismatch):
        return ExitCode.REFUSED
    if isinstance(error, BrokerError) and not isinstance(error, BrokerRejected):
        return ExitCode.BROKER_UNAVAILABLE
    return ExitCode.FAILURE
