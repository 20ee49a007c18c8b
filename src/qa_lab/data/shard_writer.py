"""`qa-lab data shard`: pack the audio a manifest names into tar shards, in the layout qa_lab.data.shards reads."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from tqdm import tqdm

from qa_lab.data.audio import duration
from qa_lab.data.cache import check_apart, replacing
from qa_lab.data.dialogue import with_audios
from qa_lab.data.manifest import audio_paths, read_manifest, sources
from qa_lab.data.shards import SHARD_PREFIX


def write_shards(manifest: str | Path, out: str | Path, shard_mb: float = 1024.0, overwrite: bool = False,
                 progress: bool = True) -> Path:
    """Pack the audio of `manifest` (validated first: an error names its line) into tar shards under `out`, each
    audio file once however many lines use it (every clip of a dialogue line too, its paths rewritten where they
    stood), and write out/manifest.jsonl. Returns that manifest's path. The folder appears whole or not at all (a
    failure midway leaves an existing `out` as it was); an `out` holding the manifest or its audio is refused."""
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
