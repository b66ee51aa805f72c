"""TWS API framing: length-prefixed messages of NUL-terminated fields, and the version handshake.

This module turns Python values into wire fields and bytes into messages, and parses the client's
`API\\0` + `v<min>..<max>` greeting. It knows nothing of what a message means, holds no socket and
must never import `ib_async` (the emulator is the server side of the protocol, written from the
protocol's facts, not from the client library).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import attrs

__all__ = [
    "API_PREFIX",
    "MAX_FRAME_BYTES",
    "MAX_GREETING_BYTES",
    "SERVER_MAX_VERSION",
    "SERVER_MIN_VERSION",
    "ClientGreeting",
    "FrameDecoder",
    "FramingError",
    "UnsupportedClientVersion",
    "encode_field",
    "encode_frame",
    "encode_message",
    "negotiate_version",
    "parse_greeting",
    "split_payload",
]

API_PREFIX = b"API\0"
"""The four bytes every TWS API client sends before its framed version range."""

SERVER_MAX_VERSION = 178
"""The highest server version the emulator speaks (text protocol; protobuf starts at 201)."""

SERVER_MIN_VERSION = 170
"""The lowest server version the emulator's message layouts are written for."""

MAX_FRAME_BYTES = 0xFFFFFF
"""The longest frame TWS's own API accepts (`MAX_MSG_LEN` of IB's reference clients: 16 MiB less
one byte); a longer length prefix is a corrupt stream and closes the connection."""

MAX_GREETING_BYTES = 1024
"""The most bytes a client may send after `API\\0` before its version greeting is complete (a real
greeting such as `v157..178 +PACEAPI` is under 40)."""

_MAX_VERSION_DIGITS = 6

_LENGTH = struct.Struct(">I")
_GREETING = re.compile(r"^v(\d+)(?:\.\.(\d+))?(?: (.*))?$", re.DOTALL | re.ASCII)


class FramingError(ValueError):
    """The byte stream cannot be a TWS API message stream (corrupt length, bad greeting)."""


class UnsupportedClientVersion(FramingError):
    """The client's version range and the emulator's do not overlap."""

    def __init__(self, client_min: int, client_max: int) -> None:
        super().__init__(
            f"client speaks API versions {client_min}..{client_max} but this emulator speaks "
            f"{SERVER_MIN_VERSION}..{SERVER_MAX_VERSION}; upgrade the client library"
        )
        self.client_min = client_min
        self.client_max = client_max


def encode_field(value: object) -> str:
    """Render one value as a wire field.

    `None` is the empty field (IB's "unset"), bools are `"1"`/`"0"`, ints their decimal string,
    Decimals plain notation without exponent, aware datetimes `YYYYmmdd HH:MM:SS UTC`.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise FramingError(f"cannot send a non-finite Decimal ({value}) on the wire")
        text = format(value.normalize(), "f")
        return "0" if text in {"-0", "0"} else text
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise FramingError("naive datetimes are ambiguous on the wire; pass an aware one")
        return value.astimezone(UTC).strftime("%Y%m%d %H:%M:%S UTC")
    if isinstance(value, str):
        if "\0" in value:
            raise FramingError(f"field {value!r} contains a NUL byte, which terminates fields")
        return value
    raise FramingError(f"no wire encoding for {type(value).__name__} value {value!r}")


def encode_frame(fields: Sequence[str]) -> bytes:
    """Frame already-rendered fields: 4-byte big-endian length, then each field NUL-terminated."""
    payload = "".join(f"{field}\0" for field in fields).encode()
    return _LENGTH.pack(len(payload)) + payload


def encode_message(values: Iterable[object]) -> bytes:
    """Render and frame one message (message id first)."""
    return encode_frame([encode_field(v) for v in values])


class FrameDecoder:
    """Incremental frame reader: feed it bytes as they arrive, take whole messages out.

    Partial frames (a length prefix split across reads, a payload still arriving) stay buffered
    until complete. Each message comes out as its list of fields, the trailing empty field that
    the final NUL produces removed.
    """

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self._max = max_frame_bytes

    @property
    def pending_bytes(self) -> int:
        """Bytes received that do not yet form a whole frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[list[str]]:
        """Add `data` and return every message now complete, in arrival order."""
        self._buffer += data
        messages: list[list[str]] = []
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length > self._max:
                raise FramingError(
                    f"frame of {length} bytes exceeds the {self._max}-byte limit; "
                    "the stream is corrupt or not a TWS API client"
                )
            end = _LENGTH.size + length
            if len(self._buffer) < end:
                break
            payload = bytes(self._buffer[_LENGTH.size : end])
            del self._buffer[:end]
            messages.append(split_payload(payload))
        return messages


def split_payload(payload: bytes) -> list[str]:
    """Split one frame's payload into fields (undecodable bytes become U+FFFD, never an error)."""
    fields = payload.decode(errors="replace").split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields


@attrs.frozen
class ClientGreeting:
    """What the client announced after `API\\0`: its version range and optional connect options."""

    min_version: int
    max_version: int
    options: str = ""


def parse_greeting(fields: Sequence[str]) -> ClientGreeting:
    """Parse the framed greeting (`v157..178`, `v100..187 +PACEAPI`, or a single `v176`)."""
    if len(fields) != 1:
        raise FramingError(f"expected one greeting field like 'v157..178', got {list(fields)!r}")
    match = _GREETING.match(fields[0])
    if match is None:
        raise FramingError(f"greeting {fields[0][:40]!r} is not of the form 'v<min>..<max>'")
    for digits in (match.group(1), match.group(2) or ""):
        if len(digits) > _MAX_VERSION_DIGITS:
            raise FramingError(
                f"greeting version of {len(digits)} digits exceeds the "
                f"{_MAX_VERSION_DIGITS}-digit limit (starts {digits[:12]!r})"
            )
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if high < low:
        raise FramingError(f"greeting {fields[0]!r} has max version below min version")
    return ClientGreeting(low, high, (match.group(3) or "").strip())


def negotiate_version(
    greeting: ClientGreeting,
    server_min: int = SERVER_MIN_VERSION,
    server_max: int = SERVER_MAX_VERSION,
) -> int:
    """The highest version both sides speak; `UnsupportedClientVersion` when none is."""
    version = min(greeting.max_version, server_max)
    if version < max(greeting.min_version, server_min):
        raise UnsupportedClientVersion(greeting.min_version, greeting.max_version)
    return version

