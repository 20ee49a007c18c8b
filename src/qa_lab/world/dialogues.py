"""The world's dialogues (the chat stage): conversations about its own clips, every answer exact.

Built from a split's clip lines (their facts: words, languages, speakers, sound events), never from new audio, so a
dialogue's clips are the split's clips (held-out dialogues hear held-out clips). Each kind is a registry task (family
dialogue), scored by exact match of the dialogue's last answer:

  chat_followup  one speech clip, questions in sequence: what is said, then which word follows a given one.
  chat_scene     one scene clip: is there an X, then what comes right after it / how many times ("it" is the X of
                 the earlier turn: the follow-up needs that turn).
  chat_compare   two or three scene clips: which clip has an X (exactly one has it) -> "audio k".
  chat_speakers  two speech clips: do both speakers speak the same language (the same gender when the world has one
                 language), after a question about the first clip.
  chat_text      text only, no audio: small sums in words, so the LLM keeps answering text.
"""

from __future__ import annotations

import numpy as np

KINDS = ("chat_followup", "chat_scene", "chat_compare", "chat_speakers", "chat_text")
NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _rng(seed: int, split: str, kind: str, i: int) -> np.random.Generator:
    return np.random.default_rng([seed, 7919, sum(map(ord, split)), sum(map(ord, kind)), i])


def _turn(role: str, text: str) -> dict:
    return {"role": role, "content": text}


def _line(kind: str, messages: list[dict], clips: list[dict], split: str, i: int) -> dict:
    return {"task": kind, "messages": messages, "audios": [c["audio"] for c in clips],
            "duration": round(sum(c["duration"] for c in clips), 2), "dataset": "world",
            "generator": "dialogue", "clip": f"{split}-{kind}-{i:06d}"}


def _followup(rng, speech: list[dict], split: str, i: int) -> dict | None:
    c = speech[int(rng.integers(len(speech)))]
    words = [w["word"] for w in c["words"]]
    if len(words) < 2:
        return None
    k = int(rng.integers(len(words) - 1))
    if words.count(words[k]) != 1:  # the word after an ambiguous one has no single answer
        return None
    return _line("chat_followup", [
        _turn("user", "<audio>what is said?"), _turn("assistant", c["text"]),
        _turn("user", f'which word comes right after "{words[k]}"?'), _turn("assistant", words[k + 1])],
        [c], split, i)


def _scene(rng, scenes: list[dict], split: str, i: int) -> dict | None:
    c = scenes[int(rng.integers(len(scenes)))]
    labels = [e["label"] for e in c["events"]]
    x = labels[int(rng.integers(len(labels)))]
    first = [_turn("user", f"<audio>is there a {x} in the recording?"), _turn("assistant", "yes")]
    j = labels.index(x)
    if labels.count(x) == 1 and j + 1 < len(labels) and labels[j + 1] != x and rng.random() < 0.5:
        follow = [_turn("user", "what sound comes right after it?"), _turn("assistant", labels[j + 1])]
    else:
        follow = [_turn("user", "how many times do you hear it?"), _turn("assistant", NUMBERS[labels.count(x)])]
    return _line("chat_scene", first + follow, [c], split, i)


def _compare(rng, scenes: list[dict], split: str, i: int) -> dict | None:
    n = 2 + int(rng.random() < 0.5)
    if len(scenes) < n:
        return None
    picked = [scenes[int(j)] for j in rng.choice(len(scenes), size=n, replace=False)]
    sets = [{e["label"] for e in c["events"]} for c in picked]
    only = [(k, x) for k, s in enumerate(sets) for x in sorted(s) if sum(x in t for t in sets) == 1]
    if not only:
        return None
    k, x = only[int(rng.integers(len(only)))]
    return _line("chat_compare", [_turn("user", "<audio>" * n + f"which clip has a {x}?"),
                                  _turn("assistant", f"audio {k + 1}")], picked, split, i)


def _speakers(rng, speech: list[dict], split: str, i: int, by_language: bool) -> dict | None:
    if len(speech) < 2:
        return None
    a, b = (speech[int(j)] for j in rng.choice(len(speech), size=2, replace=False))
    key, what = ("audio_lang", "speak the same language") if by_language else ("gender", "have the same gender")
    if a.get(key) is None or b.get(key) is None:
        return None
    same = "yes" if a[key] == b[key] else "no"
    first = (_turn("user", "<audio>is the speaker male or female?"), _turn("assistant", a["gender"]))
    return _line("chat_speakers", [*first, _turn("user", f"<audio>do both speakers {what}?"),
                                   _turn("assistant", same)], [a, b], split, i)


def _text(rng, split: str, i: int) -> dict:
    x, y = (int(v) for v in rng.integers(0, 5, size=2))
    return _line("chat_text", [_turn("user", f"what is {NUMBERS[x]} plus {NUMBERS[y]}?"),
                               _turn("assistant", NUMBERS[x + y])], [], split, i)


def compose(rows: list[dict], split: str, seed: int, kinds, n: int) -> list[dict]:
    """Up to `n` dialogues of each kind in `kinds` from one split's clip lines (`rows`, as the world writes them)."""
    speech = [r for r in rows if r.get("generator") == "speech" and r["task"] == "asr"]
    scenes = [r for r in rows if r.get("generator") == "scene" and r["task"] == "asc" and r.get("events")]
    languages = {r["audio_lang"] for r in speech}
    out = []
    for kind in kinds:
        made = 0
        for i in range(4 * n):  # a draw may not fit (no unique answer): try again, deterministically
            if made == n:
                break
            rng = _rng(seed, split, kind, i)
            if kind == "chat_text":
                line = _text(rng, split, i)
            elif kind in ("chat_followup", "chat_speakers") and not speech:
                line = None
            elif kind in ("chat_scene", "chat_compare") and not scenes:
                line = None
            elif kind == "chat_followup":
                line = _followup(rng, speech, split, i)
            elif kind == "chat_scene":
                line = _scene(rng, scenes, split, i)
            elif kind == "chat_compare":
                line = _compare(rng, scenes, split, i)
            else:
                line = _speakers(rng, speech, split, i, len(languages) > 1)
            if line is not None:
                out.append(line)
                made += 1
    return out
