"""What every corpus adapter shares: the Skipped reason, root and split resolution, the example record, CSV/JSON
readers that name file and line, and the atomic manifest writer."""

from __future__ import annotations

import csv
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from qa_lab.errors import unknown

log = logging.getLogger(__name__)


class Skipped(str):
    """Why one example was left out (yielded by an adapter instead of an example)."""


def _resolve(root: str | Path) -> Path:
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: corpus folder not found")
    return root


def _base(root: str | Path, inner: str, *markers: str) -> Path:
    """root/inner, or root itself when it already is that folder (it holds one of `markers`)."""
    root = _resolve(root)
    if not (root / inner).is_dir() and any((root / m).exists() for m in markers):
        return root
    return root / inner


def _pick(corpus: str, split: str | None, valid: Sequence[str], default: Sequence[str],
          exists: Callable[[str], bool]) -> list[str]:
    """[split] checked against `valid` (case-insensitively), or every split of `default` found on disk.

    When none is found the first default is returned, so the adapter's error names its expected files.
    """
    if split is not None:
        if split not in valid:
            folded = {v.lower(): v for v in valid}
            if split.lower() not in folded:
                raise unknown(f"{corpus} split", split, valid)
            split = folded[split.lower()]
        return [split]
    return [s for s in default if exists(s)] or [default[0]]


def _example(dataset: str, split: str | None, id: str, audio: Path, task: str, **fields) -> dict:
    """A manifest line with the common fields first."""
    ex = {"audio": str(audio), "task": task, "dataset": dataset}
    if split is not None:
        ex["split"] = split
    ex["id"] = id
    ex.update(fields)
    return ex


def _missing_audio(audio: Path, where: str) -> Skipped:
    return Skipped(f"{audio}: audio file not found ({where})")


def _rows(path: Path, columns: Sequence[str], **fmt) -> Iterator[tuple[int, dict]]:
    """(line number, row) for each record of a CSV/TSV file with a header row (BOM allowed).

    ValueError naming path:line for a missing header column, a record with too few or too many fields,
    or text that is not UTF-8.
    """
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f, **fmt)
        start = 1
        try:
            header = reader.fieldnames or []
            lacking = [c for c in columns if c not in header]
            if lacking:
                raise ValueError(f"{path}:1: header lacks column(s) {', '.join(map(repr, lacking))}; "
                                 f"found {header}, expected {list(columns)}")
            start = reader.line_num + 1
            for row in reader:
                if None in row or None in row.values():
                    more = "more" if None in row else "fewer"
                    raise ValueError(f"{path}:{start}: {more} fields than the header's {len(header)} "
                                     f"({', '.join(header)})")
                yield start, row
                start = reader.line_num + 1
        except (UnicodeDecodeError, csv.Error) as e:
            raise ValueError(f"{path}:{start}: unreadable record ({e})") from None


def _json(path: Path):
    try:
        with path.open(encoding="utf-8-sig") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None


def _write(items: Iterable[dict | Skipped], out: str | Path, source: str) -> dict:
    """Write examples to `out` via a temporary file beside it, replaced atomically; nothing is written on error."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tasks, skipped, n = Counter(), [], 0
    try:
        with tmp.open("w", encoding="utf-8") as f:
            for item in items:
                if isinstance(item, Skipped):
                    skipped.append(str(item))
                    continue
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
                tasks[item["task"]] += 1
                n += 1
        if n == 0:
            first = f"; all {len(skipped)} skipped, first: {skipped[0]}" if skipped else ""
            raise ValueError(f"{source}: no examples to write to {out}{first}")
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if skipped:
        log.warning("%s: skipped %d example(s), first: %s", out, len(skipped), skipped[0])
    return {"lines": n, "tasks": tasks, "skipped": skipped}
