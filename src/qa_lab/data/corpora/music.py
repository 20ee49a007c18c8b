"""Music corpora: NSynth notes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from qa_lab.data.corpora.base import Skipped, _example, _json, _missing_audio, _pick, _resolve

NSYNTH_SPLITS = ("train", "valid", "test")


def nsynth(root: str | Path, split: str | None = None) -> Iterator[dict | Skipped]:
    """NSynth: nsynth-<split>/examples.json + audio/<note_str>.wav (note_analysis: pitch, velocity, instrument)."""
    root = _resolve(root)

    def folder(s: str) -> Path:
        return root if root.name == f"nsynth-{s}" else root / f"nsynth-{s}"

    for s in _pick("nsynth", split, NSYNTH_SPLITS, NSYNTH_SPLITS, lambda s: (folder(s) / "examples.json").is_file()):
        path = folder(s) / "examples.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found; expected NSynth's examples.json ({{note_str: {{pitch, "
                                    "velocity, instrument_family_str, qualities_str, ...}}) beside audio/<note_str>.wav")
        notes = _json(path)
        if not isinstance(notes, dict):
            raise ValueError(f"{path}: expected a JSON object keyed by note_str, got {type(notes).__name__}")
        for key, note in notes.items():
            try:
                pitch, velocity, family = note["pitch"], note["velocity"], note["instrument_family_str"]
                sonic = list(note.get("qualities_str") or [])
            except (KeyError, TypeError) as e:
                raise ValueError(f"{path}: note {key!r} lacks {e} "
                                 "(needs pitch, velocity, instrument_family_str)") from None
            if any(isinstance(x, bool) or not isinstance(x, int) or not 0 <= x <= 127 for x in (pitch, velocity)):
                raise ValueError(f"{path}: note {key!r}: pitch {pitch!r} and velocity {velocity!r} must be 0-127")
            audio = path.parent / "audio" / f"{key}.wav"
            if not audio.is_file():
                yield _missing_audio(audio, path.name)
                continue
            yield _example("nsynth", s, key, audio, "note_analysis", pitch=pitch, velocity=velocity,
                           instrument=family, sonic=sonic, audio_lang="unknown")
