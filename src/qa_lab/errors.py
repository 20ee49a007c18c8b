"""Error messages shared across the kit."""

from __future__ import annotations

import difflib
from collections.abc import Sequence


def unknown(what: str, value: object, valid: Sequence[str]) -> ValueError:
    """A ValueError naming the bad value, the valid ones and the closest match."""
    close = difflib.get_close_matches(str(value), [str(v) for v in valid], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ValueError(f"unknown {what} {value!r}; valid: {', '.join(map(str, valid))}{hint}")
