"""Hugging Face datasets saved with `save_to_disk` -> qa_lab manifests."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from qa_lab.data.corpora.base import Skipped, _example, _missing_audio, _write
from qa_lab.errors import unknown
from qa_lab.prompts.tasks import get

_SOUNDFILE_EXT = {"WAV": ".wav", "FLAC": ".flac", "OGG": ".ogg", "MP3": ".mp3"}


def _hf_audio(item, dataset_dir: Path, stem: Path, where: str) -> Path | Skipped:
    """One audio-column item -> an absolute audio path, writing bytes or arrays to `stem`.<ext> when needed."""
    if isinstance(item, str):
        item = {"path": item}
    if not isinstance(item, dict):
        return Skipped(f"{where}: audio item is {type(item).__name__}, not a path or a dict")
    if item.get("array") is not None:
        array = np.asarray(item["array"])
        if not item.get("sampling_rate"):
            raise ValueError(f"{where}: audio array without a sampling_rate")
        if array.ndim == 2 and array.shape[0] < array.shape[1]:
            array = array.T  # (channels, T) -> (T, channels), as soundfile wants
        target = stem.with_suffix(".wav")
        target.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(target), array, int(item["sampling_rate"]), subtype="PCM_16")
        return target.resolve()
    if item.get("bytes"):
        try:
            fmt = sf.info(io.BytesIO(item["bytes"])).format
        except (sf.LibsndfileError, RuntimeError, TypeError) as e:
            return Skipped(f"{where}: audio bytes that soundfile cannot decode ({e})")
        target = stem.with_suffix(_SOUNDFILE_EXT.get(fmt, f".{fmt.lower()}"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(item["bytes"])  # as stored: no re-encoding
        return target.resolve()
    if item.get("path"):
        path = Path(item["path"]).expanduser()
        path = path if path.is_absolute() else dataset_dir / path
        return path.resolve() if path.is_file() else _missing_audio(path, where)
    return Skipped(f"{where}: audio item has no path, bytes or array")


def from_hf_dataset(path: str | Path, out: str | Path, task: str, audio_column: str = "audio",
                    columns: dict[str, str] | None = None, split: str | None = None,
                    audio_dir: str | Path | None = None, **fixed_fields) -> dict:
    """Import a Hugging Face dataset saved with `save_to_disk` as a manifest of task `task`, one line a row.

    `columns` maps manifest fields to dataset columns ({"text": "sentence", "id": "utt_id"}); ClassLabel
    columns are written as label names. `fixed_fields` go on every line (audio_lang="en", dataset="mine").
    Audio items may carry a file path (kept; relative paths are against the dataset folder), encoded bytes
    (written as they are) or a decoded array with sampling_rate (written as 16-bit wav); written files go
    to `audio_dir` (default <out stem>_audio/ beside `out`). `split` picks one split of a DatasetDict.
    Returns what `prepare` returns.
    """
    get(task)  # a typo in the task name fails before any work (names the closest registered task)
    from datasets import Audio, ClassLabel, DatasetDict, load_from_disk  # lazy: an optional dependency

    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: not found; expected a folder written by datasets' save_to_disk")
    columns = dict(columns or {})
    for field, source in (("audio", "audio_column="), ("task", "task=")):
        if field in columns or field in fixed_fields:
            raise ValueError(f"the manifest's {field!r} field comes from {source}; do not map or fix it")
    ds = load_from_disk(str(path))
    if isinstance(ds, DatasetDict):
        if split is None and len(ds) == 1:
            split = next(iter(ds))
        if split is None:
            raise ValueError(f"{path}: a DatasetDict with splits {', '.join(ds)}; choose one with split=")
        if split not in ds:
            raise unknown(f"split of {path}", split, list(ds))
        ds = ds[split]
    lacking = [c for c in (audio_column, *columns.values()) if c not in ds.column_names]
    if lacking:
        raise ValueError(f"{path}: no column(s) {', '.join(map(repr, lacking))}; columns: {', '.join(ds.column_names)}")
    if isinstance(ds.features[audio_column], Audio):
        ds = ds.cast_column(audio_column, Audio(decode=False))  # {bytes, path}: no torchcodec needed
    names = {f: ds.features[c].int2str for f, c in columns.items() if isinstance(ds.features[c], ClassLabel)}
    out = Path(out)
    audio_dir = Path(audio_dir).expanduser().resolve() if audio_dir else out.parent.resolve() / f"{out.stem}_audio"
    dataset_name = fixed_fields.pop("dataset", path.name)
    split_name = fixed_fields.pop("split", split)

    def items() -> Iterator[dict | Skipped]:
        for i, row in enumerate(ds):
            audio = _hf_audio(row[audio_column], path, audio_dir / f"{i:06d}", f"{path} row {i}")
            if isinstance(audio, Skipped):
                yield audio
                continue
            fields = {f: names[f](row[c]) if f in names else row[c] for f, c in columns.items()}
            ex_id = str(fields.pop("id", i))
            ex = _example(dataset_name, split_name, ex_id, audio, task)
            ex.update(fields)
            ex.update(fixed_fields)
            yield ex

    return _write(items(), out, str(path))
