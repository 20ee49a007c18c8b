"""Cached build folders: built in a temporary folder beside their final place, marked complete, then renamed.

An interrupted build never looks complete, and two processes building the same folder both end with it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
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


def check_replaceable(final: str | Path, overwrite: bool = False, what: str = "folder") -> None:
    """Refuse (naming it) a non-empty `final` unless `overwrite`: what `replacing` checks first, for callers that
    must know before they start the work."""
    final = Path(final)
    if final.exists() and (not final.is_dir() or any(final.iterdir())) and not overwrite:
        raise ValueError(f"{final}: the {what} exists and is not empty; pass --overwrite to replace it whole, or "
                         "choose another folder")


def check_apart(final: str | Path, inputs: Iterable[str | Path], what: str = "folder") -> None:
    """Refuse (naming both) an output folder that is, or holds, one of `inputs` (what the command reads: a checkpoint,
    a manifest, the folders its audio is in), --overwrite or not: replacing it whole would delete the input."""
    out = Path(final).resolve()
    for src in dict.fromkeys(Path(p) for p in inputs):
        if src.resolve() == out or out in src.resolve().parents:
            raise ValueError(f"{final}: the {what} holds {src}, which this command reads, and writing it would "
                             "delete that; choose a folder that holds none of the inputs")


@contextmanager
def replacing(final: str | Path, overwrite: bool = False, what: str = "folder") -> Iterator[Path]:
    """Yield a fresh temporary folder beside `final`; when the block ends without error it becomes `final` whole.

    A non-empty `final` is refused (naming it) unless `overwrite`, and is then replaced at the end: old and new files
    never mix, and a failure midway leaves the old folder as it was."""
    final = Path(final)
    check_replaceable(final, overwrite, what)
    final.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
    tmp, old = final.parent / f".{final.name}.tmp-{tag}", final.parent / f".{final.name}.old-{tag}"
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():
            final.rename(old)
        try:
            tmp.rename(final)
        except OSError:
            if old.exists():
                old.rename(final)
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
