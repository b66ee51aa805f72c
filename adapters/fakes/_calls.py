"""`RecordedCall`: what a fake received, so tests can assert on the calls made to a port.

Only a record: it must never hold live objects' state beyond the arguments passed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

__all__ = ["RecordedCall"]


@attrs.frozen
class RecordedCall:
    """One call a fake received: the port method's name, its arguments, and the clock time."""

    method: str
    arguments: tuple[tuple[str, Any], ...]
    ts: datetime

    def argument(self, name: str) -> Any:
        """The value passed as `name` (KeyError if the call had no such argument)."""
        return dict(self.arguments)[name]
