"""What every `ordergate` command shares: the Typer app factory, options, output and errors.

Commands live one module each (`config_cmds`, `audit_cmds`, `gateway_cmds`, ...) and expose
`register(app)`; `main.build_app()` calls them. Every line a command prints goes through
`redact()`, and every typed error leaves through `exit_on_errors`, which prints it once and exits
with the code of `exit_codes` — never a traceback for an error we raised on purpose.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ordergate.adapters.cli.exit_codes import ExitCode, exit_code_for
from ordergate.adapters.cli.logs import configure_logging
from ordergate.application.config import (
    CONFIG_VARIABLE,
    PROFILE_VARIABLE,
    Secrets,
    Settings,
    load_settings,
    redact,
)
from ordergate.domain.errors import OrdergateError

__all__ = [
    "ConfigOption",
    "ProfileOption",
    "environment_secrets",
    "err_console",
    "exit_on_errors",
    "fail",
    "load",
    "new_app",
    "out_console",
]

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar=CONFIG_VARIABLE,
        dir_okay=False,
        help="TOML config file (default: built-in defaults plus ORDERGATE_* variables).",
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        envvar=PROFILE_VARIABLE,
        help="Profile table to overlay, e.g. paper or live (a profiles.NAME table in the file).",
    ),
]


_LOGGING: dict[str, str | None] = {"level": None, "format": None}
"""The logging options the command line gave (None: not given; `[logging]` decides)."""


def new_app() -> typer.Typer:
    """A fresh, empty `ordergate` Typer app (commands are added by `register(app)` calls)."""
    app = typer.Typer(
        name="ordergate",
        help="Order execution behind a mandatory pre-trade risk gate, with a verifiable audit log.",
        no_args_is_help=True,
        # `--install-completion` / `--show-completion` for bash, zsh, fish and PowerShell.
        add_completion=True,
        # Help is plain text: Rich markup would eat `[session]`, `[logging]` and `[risk]`.
        rich_markup_mode=None,
        # Locals can hold settings and secrets: never print them in a traceback.
        pretty_exceptions_show_locals=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _root(
        _version: Annotated[
            bool,
            typer.Option(
                "--version",
                "-V",
                is_eager=True,
                callback=_print_version,
                help="Print the installed ordergate version and exit.",
            ),
        ] = False,
        log_level: Annotated[
            str | None,
            typer.Option(
                "--log-level",
                envvar="ORDERGATE_LOG_LEVEL",
                help="DEBUG, INFO (a line per signal, order change and state change), "
                "WARNING or ERROR. Default: [logging] level, or WARNING.",
            ),
        ] = None,
        log_format: Annotated[
            str | None,
            typer.Option(
                "--log-format",
                envvar="ORDERGATE_LOG_FORMAT",
                help="text, or json (one object per line). Default: [logging] format, or text.",
            ),
        ] = None,
    ) -> None:
        """Order execution behind a mandatory pre-trade risk gate (see docs/cli.md)."""
        _LOGGING.update(level=log_level, format=log_format)
        try:
            configure_logging(
                log_level or "WARNING", log_format or "text", secrets=Secrets.from_env(os.environ)
            )
        except ValueError as error:
            raise fail(str(error), ExitCode.BAD_CONFIG) from None

    return app


def _print_version(value: bool) -> None:
    if value:
        from ordergate import __version__  # noqa: PLC0415

        typer.echo(f"ordergate {__version__}")
        raise typer.Exit()


def out_console() -> Console:
    """The console for results (stdout); long lines are never wrapped into the output."""
    return Console(soft_wrap=True, highlight=False)


def err_console() -> Console:
    """The console for errors and progress (stderr)."""
    return Console(stderr=True, soft_wrap=True, highlight=False)


def environment_secrets() -> tuple[str, ...]:
    """The secret values in the environment, for redaction before settings are loaded."""
    return Secrets.from_env(os.environ).values()


def fail(message: str, code: ExitCode, secrets: Iterable[str] = ()) -> typer.Exit:
    """Print `error: message` (redacted) on stderr; return the `typer.Exit` to raise."""
    err_console().print(f"error: {redact(message, secrets)}", markup=False)
    return typer.Exit(int(code))


@contextlib.contextmanager
def exit_on_errors() -> Iterator[None]:
    """Turn ordergate's typed errors (and OS errors) into one message and an exit code."""
    try:
        yield
    except OrdergateError as error:
        raise fail(str(error), exit_code_for(error), environment_secrets()) from None
    except OSError as error:
        raise fail(str(error), ExitCode.FAILURE, environment_secrets()) from None


def load(
    config: Path | None, profile: str | None, overrides: Mapping[str, object] | None = None
) -> Settings:
    """Settings for a command (errors are `ConfigError`, exit code 2 under `exit_on_errors`).
    Logging then follows `[logging]` wherever `--log-level` / `--log-format` did not say."""
    settings = load_settings(config, profile=profile, overrides=overrides)
    configure_logging(
        _LOGGING["level"] or settings.logging.level,
        _LOGGING["format"] or settings.logging.format,
        secrets=settings.secrets,
    )
    return settings
