"""Audio in tar shards: a corpus too big for one folder of files, read back one clip at a time.

`qa-lab data shard MANIFEST OUT` packs every audio file a manifest names into uncompressed tar shards of about
`--shard-mb` each (WebDataset's layout: one member per file, `<8-digit key>.<ext>`, so webdataset and `tar` read
them as they are) and writes OUT/manifest.jsonl: the same lines with `audio` pointing into a shard
(`shard-000000.tar/00000012.flac`). Beside each shard, `<shard>.json` indexes its members (byte offset, size,
seconds), so a clip is one seek and one read, and reading the manifest needs no audio at all.

Why tar shards read by index rather than streamed: the kit's batch sampler draws examples by index (duration
buckets, task weights, every rank's share of one seeded stream, exact resume at a step), and that needs random
access; a shard read by offset keeps all of it unchanged, while a stream read in order would trade each for a
shuffle buffer. Any path that goes through a `.tar` file is read from it; every other path is a plain file.
"""

from __future__ import annotations

import io
import json
import tarfile
from functools import lru_cache
from pathlib import Path

SHARD_PREFIX = "shard-"


def member_of(path: str | Path) -> tuple[Path, str] | None:
    """(shard, member name) when `path` runs through a .tar file (shard-000000.tar/00000012.flac), else None."""
    path = Path(path)
    for parent in path.parents:
        if parent.suffix == ".tar" and parent.is_file():
            return parent, path.relative_to(parent).as_posix()
    return None


@lru_cache(maxsize=64)
def _index(shard: Path) -> dict[str, dict]:
    """member -> {"offset", "size", "seconds"?}: the shard's .json index, or its tar headers when it has none."""
    side = shard.with_name(shard.name + ".json")
    if side.is_file():
        return json.loads(side.read_text())
    with tarfile.open(shard) as tar:
        return {m.name: {"offset": m.offset_data, "size": m.size} for m in tar.getmembers() if m.isfile()}


def read_member(path: str | Path) -> io.BytesIO | None:
    """The bytes of the shard member `path` names (None when `path` is not in a shard, or the member is not)."""
    found = member_of(path)
    if found is None:
        return None
    shard, name = found
    entry = _index(shard).get(name)
    if entry is None:
        return None
    with shard.open("rb") as f:
        f.seek(entry["offset"])
        return io.BytesIO(f.read(entry["size"]))


def member_seconds(path: str | Path) -> float | None:
    """The member's length in seconds from its shard's index (None when not indexed there)."""
    found = member_of(path)
    if found is None:
        return None
    shard, name = found
    return _index(shard).get(name, {}).get("seconds")
