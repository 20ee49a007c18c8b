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


def write_shards(manifest: str | Path, out: str | Path, shard_mb: float = 1024.0, overwrite: bool = False,
                 progress: bool = True) -> Path:
    """Pack the audio of `manifest` (validated first: an error names its line) into tar shards under `out`, each
    audio file once however many lines use it (every clip of a dialogue line too, its paths rewritten where they
    stood), and write out/manifest.jsonl. Returns that manifest's path. The folder appears whole or not at all (a
    failure midway leaves an existing `out` as it was); an `out` holding the manifest or its audio is refused."""
    from tqdm import tqdm

    from qa_lab.data.audio import duration
    from qa_lab.data.cache import check_apart, replacing
    from qa_lab.data.dialogue import with_audios
    from qa_lab.data.manifest import audio_paths, read_manifest, sources
    examples = read_manifest(manifest)
    check_apart(out, sources(examples), "shard folder")
    limit = int(shard_mb * 2**20)
    with replacing(out, overwrite, what="shard folder") as tmp:
        members: dict[str, str] = {}  # source file -> "shard-XXXXXX.tar/member"
        tar, index, size, n = None, {}, 0, 0

        def close() -> None:
            if tar is None:
                return
            tar.close()
            with tarfile.open(tmp / shard_name) as t:  # offsets as written, read back from the headers
                for m in t.getmembers():
                    index[m.name]["offset"], index[m.name]["size"] = m.offset_data, m.size
            (tmp / f"{shard_name}.json").write_text(json.dumps(index))

        clips = [p for ex in examples for p in audio_paths(ex)]  # a dialogue line's every clip
        for src in map(Path, tqdm(clips, desc="sharding", unit="clip", disable=not progress)):
            if str(src) in members:
                continue
            data = src.read_bytes()
            if tar is None or size + len(data) > limit and size:
                close()
                shard_name, index, size = f"{SHARD_PREFIX}{len(list(tmp.glob('*.tar'))):06d}.tar", {}, 0
                tar = tarfile.open(tmp / shard_name, "w", format=tarfile.USTAR_FORMAT)
            name = f"{n:08d}{src.suffix.lower()}"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            index[name] = {"seconds": duration(src)}
            members[str(src)] = f"{shard_name}/{name}"
            size, n = size + len(data), n + 1
        close()
        with (tmp / "manifest.jsonl").open("w") as f:
            for ex in examples:
                if "_turns" in ex:
                    line = with_audios(ex, [members[p] for p in ex["_audio_paths"]])
                else:
                    line = {k: v for k, v in ex.items() if not k.startswith("_")}
                    line["audio"] = members[ex["_audio_path"]]
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
    return Path(out) / "manifest.jsonl"
