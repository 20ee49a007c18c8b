"""Cached build folders: built in a temporary folder beside their final place, marked complete, then renamed.

An interrupted build never looks complete, and two processes building the same folder both end with it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

COMPLETE = "COMPLETE"  # written last: a folder without it is not a finished build


def is_complete(folder: str | Path) -> bool:
    return (Path(folder) / COMPLETE).is_file()


@contextmanager
def building(final: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `final`; when the block ends without error, mark it complete and
    rename it to `final` (a copy another process finished first wins; a stale incomplete `final` is replaced).
    The temporary folder is removed in every case."""
    final = Path(final)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    tmp.mkdir(parents=True)
    try:
        yield tmp
        (tmp / COMPLETE).write_text("")
        try:
            tmp.rename(final)
        except OSError:
            if not is_complete(final):
                shutil.rmtree(final, ignore_errors=True)
                tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
