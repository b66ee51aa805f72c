"""Secrets from the environment, and the redaction every printout and log line goes through.

Database and Redis passwords are read only from `ORDERGATE_POSTGRES_PASSWORD` and
`ORDERGATE_REDIS_PASSWORD`; the config file may not hold them (neither as a `password` key nor
inside a URL). `redact()` masks `user:password@` in URLs, `password=...` pairs, and every known
secret value. Nothing here ever prints or logs a secret, even in an error message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

__all__ = [
    "MASK",
    "POSTGRES_PASSWORD_VARIABLE",
    "REDIS_PASSWORD_VARIABLE",
    "RedactingFilter",
    "Secrets",
    "find_password_keys",
    "has_inline_password",
    "password_variable_for",
    "redact",
    "with_password",
]

MASK = "***"
POSTGRES_PASSWORD_VARIABLE = "ORDERGATE_POSTGRES_PASSWORD"
REDIS_PASSWORD_VARIABLE = "ORDERGATE_REDIS_PASSWORD"

# scheme://user:PASSWORD@host — the user part may be empty (redis://:secret@host).
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.\-]*://[^:/@\s]*:)(?P<secret>[^@\s/]+)(?=@)", re.I
)
# libpq keyword DSNs and ad-hoc text: password=..., passwd: ..., REDIS_PASSWORD=...
_KEY_PASSWORD = re.compile(
    r"(?P<head>(?<![a-z0-9])(?:password|passwd|pwd)\s*[=:]\s*)"
    r"(?P<secret>'[^']*'|\"[^\"]*\"|[^\s,;&]+)",
    re.I,
)
_PASSWORD_WORDS = ("password", "passwd", "pwd")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with URL passwords, `password=` values and each of `secrets` replaced by `***`."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _KEY_PASSWORD.sub(lambda m: m.group("head") + MASK, text)


def has_inline_password(value: str) -> bool:
    """True if `value` (a URL or libpq DSN) carries a password of its own."""
    return redact(value) != value


def with_password(url: str, password: str | None) -> str:
    """`url` with `password` inserted as its userinfo password (unchanged when None).

    For the composition root: the file holds `redis://host:6379/0`, the environment the
    password; only the adapter ever sees the joined URL, and it must pass it through `redact()`
    before printing it.
    """
    if not password or "://" not in url:
        return url
    parts = urlsplit(url)
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=f"{user}:{password}@{host}").geturl()


@attrs.frozen(repr=False)
class Secrets:
    """Passwords taken from the environment. `repr()` shows only which are set."""

    postgres_password: str | None = None
    redis_password: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Secrets:
        """The secrets held in `environ` (empty values count as unset)."""
        return cls(
            postgres_password=environ.get(POSTGRES_PASSWORD_VARIABLE) or None,
            redis_password=environ.get(REDIS_PASSWORD_VARIABLE) or None,
        )

    def values(self) -> tuple[str, ...]:
        """The secret strings that are set (what `redact` must mask)."""
        return tuple(s for s in (self.postgres_password, self.redis_password) if s)

    def redact(self, text: str) -> str:
        """`redact(text)` masking these secrets as well."""
        return redact(text, self.values())

    def __repr__(self) -> str:
        def shown(value: str | None) -> str:
            return "None" if value is None else repr(MASK)

        return (
            f"Secrets(postgres_password={shown(self.postgres_password)}, "
            f"redis_password={shown(self.redis_password)})"
        )


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record's message (attach it to handlers)."""

    def __init__(self, secrets: Secrets | None = None) -> None:
        super().__init__()
        self._values = () if secrets is None else secrets.values()

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message by its redacted, formatted form; never drops a record."""
        message = record.getMessage()
        cleaned = redact(message, self._values)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True


def find_password_keys(document: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted keys in `document` whose name says they hold a password (any depth)."""
    for key, value in document.items():
        dotted = f"{prefix}{key}"
        if any(word in str(key).lower() for word in _PASSWORD_WORDS):
            yield dotted
        if isinstance(value, Mapping):
            yield from find_password_keys(value, f"{dotted}.")


def password_variable_for(dotted_key: str) -> str:
    """Which environment variable holds the password a key near `dotted_key` was meant for."""
    parts = dotted_key.split(".")
    if parts[0] == "profiles" and len(parts) > 2:
        parts = parts[2:]
    section = parts[0]
    if section in {"publisher", "signals", "redis"}:
        return REDIS_PASSWORD_VARIABLE
    if section in {"audit", "postgres"}:
        return POSTGRES_PASSWORD_VARIABLE
    return f"{POSTGRES_PASSWORD_VARIABLE} or {REDIS_PASSWORD_VARIABLE}"
