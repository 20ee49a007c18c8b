"""JSONL manifests: one example a line; reading, validation with file:line errors, prompt and target text."""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from pathlib import Path

import numpy as np

from qa_lab.data.audio import AudioError, load_audio
from qa_lab.data.audio import duration as audio_duration
from qa_lab.data import dialogue
from qa_lab.data.audio import info as audio_info
from qa_lab.example import Example
from qa_lab.frames import MAX_SECONDS
from qa_lab.prompts import tasks as registry

log = logging.getLogger(__name__)


class ManifestError(ValueError):
    """Bad manifest lines; the message lists each as path:line: problem."""


MIN_SECONDS = 0.1  # shortest clip: 10 mel frames, 5 encoder frames, at least one LLM frame at pool strides up to 4
# manifest fields that hold text (a number or list there fails late, inside tokenisation); labels may be whole numbers
_TEXT_FIELDS = ("text", "question", "query", "text_lang", "instrument", "source_text")
_LABEL_FIELDS = ("label", "answer")

# fields holding times that must fall inside the clip: field -> latest time in it
_TIMED = {
    "words": lambda ws: max(float(w["end"]) for w in ws),
    "spans": lambda sp: max(float(s[1]) for s in sp),
    "events": lambda evs: max(float(e["end"]) for e in evs),
}


def _problem(ex: object, root: Path) -> str | None:
    """What is wrong with one parsed line, or None."""
    if not isinstance(ex, dict):
        return "expected a JSON object"
    if "messages" in ex:  # a dialogue line (the chat stage)
        return dialogue.problem(ex, root)
    task = ex.get("task")
    try:
        spec = registry.get(task)
    except ValueError as e:
        return str(e)
    if "audio" not in ex:
        return "missing field 'audio'"
    if not isinstance(ex["audio"], str) or not ex["audio"].strip():
        return f"field 'audio' must be a file path (a non-empty string), got {ex['audio']!r}"
    missing = [f for f in spec.fields if ex.get(f) in (None, "", [])]
    if missing:
        return f"task {task!r} needs field(s) {', '.join(repr(m) for m in missing)}"
    blank = [f for f in spec.fields if isinstance(ex[f], str) and not ex[f].strip()]
    if blank:
        return "; ".join(f"field {f!r} is blank (whitespace only), expected text" for f in blank)
    wrong = [f for f in spec.fields if (f in _TEXT_FIELDS and not isinstance(ex[f], str)) or
             (f in _LABEL_FIELDS and (isinstance(ex[f], bool) or not isinstance(ex[f], (str, int))))]
    if wrong:
        return "; ".join(f"field {f!r} must be text (a JSON string), got {ex[f]!r}" for f in wrong)
    span = {}
    for key in ("offset", "duration"):
        value = ex.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"field {key!r} must be a number of seconds, got {value!r}"
        span[key] = float(value)
    if span.get("offset", 0.0) < 0:
        return f"field 'offset' must be >= 0 s, got {span['offset']}"
    if "duration" in span and span["duration"] <= 0:
        return f"field 'duration' must be > 0 s, got {span['duration']}"
    path = Path(ex["audio"]) if Path(ex["audio"]).is_absolute() else root / ex["audio"]
    try:
        total = audio_duration(path)
    except AudioError as e:
        return str(e)
    if total == 0:
        return f"{path}: empty audio (0 samples)"
    offset = span.get("offset", 0.0)
    if offset >= total:
        return f"offset {offset} s is past the end of {path} ({total:.2f} s)"
    duration = span.get("duration", total - offset)
    if offset + duration > total + 0.05:
        return f"offset {offset} + duration {duration} s runs past the end of {path} ({total:.2f} s)"
    if duration < MIN_SECONDS:
        return (f"clip is {duration:.3f} s long: {path}; the encoder needs at least {MIN_SECONDS} s "
                "(a few audio frames)")
    if duration > MAX_SECONDS + 1e-6:
        return (f"clip is {duration:.2f} s long: {path}; the encoder takes at most {MAX_SECONDS:.0f} s "
                "(split it with offset/duration)")
    try:
        registry.target(ex)
        registry.prompt_for(ex)
    except (ValueError, KeyError, TypeError, IndexError) as e:
        return f"bad {', '.join(repr(f) for f in spec.fields)} for task {task!r}: {e}"
    for name, latest in _TIMED.items():
        if name in spec.fields and latest(ex[name]) > duration + 0.01:
            return (f"bad {name!r}: ends at {latest(ex[name])} s, after the clip's end ({duration:.2f} s)")
    ex["_audio_path"] = str(path)
    ex["_duration"] = duration
    return None


# A transcript said faster than this is not what its clip holds (a truncated file that kept the whole text, a
# misaligned segment). Fast speech runs at about 4-6 words or 15-25 characters (syllables, in Chinese or Japanese) a
# second in any language, a little more words where short function words abound (French, Spanish: the world's own
# espeak speech says 8 words in 1.08 s); these bounds leave room for the fastest speakers and flag only text the
# audio cannot hold.
MAX_WORDS_PER_SECOND = 10
MAX_CHARS_PER_SECOND = 40


def too_fast(ex: Example) -> str | None:
    """A warning when a read clip line's transcript has more words or characters than its audio can hold, else None."""
    said = None if "_turns" in ex else registry.transcript(ex)
    if not said:
        return None
    seconds = max(ex["_duration"], 1.0)  # at least a second: a word or two in a short clip is never flagged
    words, chars = len(said.split()), len("".join(said.split()))
    if words / seconds <= MAX_WORDS_PER_SECOND and chars / seconds <= MAX_CHARS_PER_SECOND:
        return None
    return (f"the transcript has {words} words ({chars} characters) for {ex['_duration']:.2f} s of audio in "
            f"{ex['_audio_path']}: faster than anyone speaks (over {MAX_WORDS_PER_SECOND} words or "
            f"{MAX_CHARS_PER_SECOND} characters a second); is the audio truncated?")


def _lines(path: Path, tasks: list[str] | None, left_out: Counter | None = None):
    """Yield (line number, example or None, problem or None) for each non-empty line of a manifest; lines of
    registered tasks not in `tasks` are counted by task in `left_out`."""
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield lineno, None, f"not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1})"
                continue
            if not line.strip():
                continue
            try:
                ex = json.loads(line)
            except json.JSONDecodeError as e:
                yield lineno, None, f"not valid JSON ({e.msg})"
                continue
            if tasks is not None and isinstance(ex, dict) and ex.get("task") in registry.REGISTRY and ex["task"] not in tasks:
                if left_out is not None:
                    left_out[ex["task"]] += 1
                continue
            problem = _problem(ex, path.parent)
            if problem is None:
                ex["_manifest"], ex["_line"] = str(path), lineno
            yield lineno, ex, problem


def read_manifest(path: str | Path, tasks: list[str] | None = None, skip_invalid: bool = False,
                  skip_hint: bool = True) -> list[Example]:
    """Parse and validate a manifest. Each example gains `_manifest`, `_line`, `_audio_path`, `_duration`.

    Audio paths are relative to the manifest's folder unless absolute. Lines of tasks not in `tasks`
    are left out. Invalid lines raise ManifestError listing every bad line, or with `skip_invalid`
    are logged and skipped. `skip_hint=False` leaves the data.skip_invalid hint out of the error (qa-lab eval, which
    scores every line it is given).
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    examples, errors, left_out = [], [], Counter()
    for lineno, ex, problem in _lines(path, tasks, left_out):
        if problem:
            errors.append(f"{path}:{lineno}: {problem}")
        else:
            examples.append(ex)
            if doubt := too_fast(ex):
                log.warning("%s:%d: %s", path, lineno, doubt)
    if errors and not skip_invalid:
        shown = "\n  ".join(errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise ManifestError(f"{path}: {len(errors)} invalid line(s)"
                            f"{' (set data.skip_invalid=true to skip them in training)' if skip_hint else ''}:"
                            f"\n  {shown}{more}")
    for e in errors:
        log.warning("skipping %s", e)
    if errors:
        log.warning("%s: skipped %d invalid line(s), kept %d", path, len(errors), len(examples))
    if left_out:
        log.info("%s: left out %d line(s) of tasks not asked for (%s)", path, sum(left_out.values()),
                 ", ".join(f"{t} x{n}" for t, n in sorted(left_out.items())))
    if not examples:
        raise ManifestError(f"{path}: no usable examples" + (f" for tasks {tasks}" if tasks else ""))
    return examples


SILENCE = 1e-4  # peak amplitude below which a clip counts as silent


def check_manifest(path: str | Path) -> dict:
    """Read every line and decode every clip: problems by line number, plus format facts and hours per task.

    Beyond read_manifest's checks this decodes the audio (catching files whose header reads but whose
    data does not) and flags silent clips; a transcript too fast for its audio is a warning. Returns {"lines", "ok",
    "problems": [(line, text)], "warnings": [(line, text)],
    "formats": {"16000 Hz, 1 ch": n}, "hours": {task: h}}.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    report = {"lines": 0, "ok": 0, "problems": [], "warnings": [], "formats": Counter(), "hours": Counter()}
    for lineno, ex, problem in _lines(path, None):
        report["lines"] += 1
        if problem is None:
            spans = ([(ex["_audio_path"], float(ex.get("offset") or 0.0), ex.get("duration"))] if "_turns" not in ex
                     else [(clip, 0.0, None) for clip in ex["_audio_paths"]])  # a dialogue: each of its clips
            for clip, offset, seconds in spans:
                try:
                    audio = load_audio(clip, offset, seconds)
                    info = audio_info(clip)
                    report["formats"][f"{info.samplerate} Hz, {info.channels} ch"] += 1
                    if np.abs(audio).max() < SILENCE:
                        problem = f"{clip}: silent audio (peak below {SILENCE:g})"
                except AudioError as e:
                    problem = str(e)
                if problem:
                    break
        if problem:
            report["problems"].append((lineno, problem))
        else:
            if doubt := too_fast(ex):
                report["warnings"].append((lineno, doubt))
            report["ok"] += 1
            report["hours"][ex["task"]] += ex["_duration"] / 3600
    if not report["lines"]:
        report["problems"].append((0, "the manifest has no examples (empty, or blank lines only)"))
    return report


def first_per_task(examples: list[Example], k: int) -> list[int]:
    """Indices of the first `k` examples of each task, in manifest order."""
    seen: Counter = Counter()
    keep = []
    for i, ex in enumerate(examples):
        if seen[ex["task"]] < k:
            seen[ex["task"]] += 1
            keep.append(i)
    return keep


def audio_paths(ex: Example) -> list[str]:
    """Every audio file a validated example reads: a clip line's one, each of a dialogue's (a text-only one: none)."""
    return ex["_audio_paths"] if "_turns" in ex else [ex["_audio_path"]]


def sources(examples: list[Example]) -> list[Path]:
    """What validated examples are read from: their manifests and the folders their audio files are in."""
    found = {Path(ex["_manifest"]): None for ex in examples if "_manifest" in ex}
    found.update({Path(p).parent: None for ex in examples for p in audio_paths(ex)})
    return list(found)


def where(ex: Example) -> str:
    """'manifest:line (audio path)' for error messages (a dialogue's: every audio it holds, or 'manifest:line' when it
    holds none); the audio path alone for a clip not read from a manifest (qa-lab infer's files)."""
    audio = ", ".join(ex["_audio_paths"]) if "_turns" in ex else ex.get("_audio_path", ex.get("audio"))
    if "_manifest" not in ex:
        return str(audio)
    return f"{ex['_manifest']}:{ex.get('_line', '?')}" + (f" ({audio})" if audio else "")
