"""Dialogue manifest lines (the chat stage): several turns, several audios, loss on every assistant turn.

A line is what ms-swift, LLaMA-Factory and OpenAI-style data already hold:

    {"messages": [{"role": "user", "content": "<audio>What is said?"},
                  {"role": "assistant", "content": "hello there"},
                  {"role": "user", "content": "<audio>And here?"}, {"role": "assistant", "content": "a dog barks"}],
     "audios": ["a.wav", "b.wav"]}

`<audio>` placeholders take the `audios` in order. A content may instead be a list of typed parts,
`{"type": "audio", "audio": "a.wav"}` and `{"type": "text", "text": "..."}`. Roles are system (first only), user and
assistant; the first turn after any system turn is the user's. An optional "task" names the dialogue's task (default
`chat`; the world's dialogues name their question type) for sampling weights and per-task scores.

Rendering is ChatML, each audio labelled as Qwen-Audio-Chat labels it ("Audio k:" then the audio between the model's
audio markers), a default system turn when the line has none; the labels cover each assistant turn's text and its
<|im_end|>, nothing else. For decoding, everything before the last assistant turn is the prompt and that turn the
answer to score.
"""

from __future__ import annotations

import copy
from pathlib import Path

from qa_lab.data.audio import AudioError
from qa_lab.data.audio import duration as audio_duration
from qa_lab.example import Example
from qa_lab.frames import MAX_SECONDS
from qa_lab.prompts import tasks as registry

ROLES = ("system", "user", "assistant")
PLACEHOLDER = "<audio>"
CHAT_TASK = "chat"


def problem(ex: Example, root: Path) -> str | None:
    """What is wrong with a dialogue line, or None; a good line gains `_turns` [(role, [("text", s) | ("audio", k)])],
    `_audio_paths`, `_durations` and `_duration` (its total audio seconds), and `task` (default chat)."""
    messages = ex.get("messages")
    if not isinstance(messages, list) or not messages:
        return "field 'messages' must be a non-empty list of {\"role\", \"content\"} turns"
    audios = ex.get("audios", [])
    if not isinstance(audios, list) or not all(isinstance(a, str) and a.strip() for a in audios):
        return f"field 'audios' must be a list of file paths, got {audios!r}"
    task = ex.setdefault("task", CHAT_TASK)
    try:
        if registry.get(task).family != "dialogue":
            return f"task {task!r} is not a dialogue task (lines with 'messages' need one: {CHAT_TASK}, ...)"
    except ValueError as e:
        return str(e)
    turns, paths, placeholders = [], [], 0
    for k, msg in enumerate(messages, 1):
        where = f"turn {k}"
        if not isinstance(msg, dict) or "role" not in msg or "content" not in msg:
            return f"{where}: expected {{\"role\": ..., \"content\": ...}}, got {msg!r}"
        role = msg["role"]
        if role not in ROLES:
            return f"{where}: unknown role {role!r} (expected {', '.join(ROLES)})"
        if role == "system" and k != 1:
            return f"{where}: a system turn may only come first"
        if role == "assistant" and not any(r == "user" for r, _ in turns):
            return f"{where}: an assistant turn comes before any user turn"
        if turns and role != "system" and turns[-1][0] == role:
            return f"{where}: two {role} turns in a row"
        content = msg["content"]
        parts: list[tuple[str, object]] = []
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list):
            return f"{where}: content must be text or a list of typed parts, got {type(content).__name__}"
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                pieces = part["text"].split(PLACEHOLDER)
                for j, piece in enumerate(pieces):
                    if j:
                        placeholders += 1
                        if placeholders > len(audios):
                            continue  # counted: the mismatch is reported below
                        parts.append(("audio", len(paths)))
                        paths.append(audios[placeholders - 1])
                    if piece:
                        parts.append(("text", piece))
            elif kind == "audio" and isinstance(part.get("audio"), str) and part["audio"].strip():
                parts.append(("audio", len(paths)))
                paths.append(part["audio"])
            else:
                return (f"{where}: a part must be {{\"type\": \"text\", \"text\": str}} or "
                        f"{{\"type\": \"audio\", \"audio\": path}}, got {part!r}")
        if role != "user" and any(kind == "audio" for kind, _ in parts):
            return f"{where}: audio in a {role} turn (only user turns carry audio)"
        turns.append((role, parts))
    if placeholders != len(audios):
        return f"{placeholders} {PLACEHOLDER} placeholder(s) but {len(audios)} audio(s) in 'audios'"
    if turns[-1][0] != "assistant":
        return "the last turn must be the assistant's (the answer to learn and to score)"
    if not "".join(str(v) for _, v in turns[-1][1]).strip():
        return f"turn {len(turns)}: the last assistant turn (the answer to learn and to score) is empty"
    durations, resolved = [], []
    for k, p in enumerate(paths):
        path = Path(p) if Path(p).is_absolute() else root / p
        try:
            seconds = audio_duration(path)
        except AudioError as e:
            return f"audio {k + 1} (turn {_turn_of(turns, k)}): {e}"
        if seconds > MAX_SECONDS + 1e-6:
            return f"audio {k + 1} (turn {_turn_of(turns, k)}): {path} is {seconds:.2f} s; at most {MAX_SECONDS:.0f} s"
        durations.append(seconds)
        resolved.append(str(path))
    ex["_turns"], ex["_audio_paths"], ex["_durations"] = turns, resolved, durations
    ex["_duration"] = sum(durations)
    return None


def _turn_of(turns, audio_index: int) -> int:
    for k, (_, parts) in enumerate(turns, 1):
        if ("audio", audio_index) in parts:
            return k
    return 0


def with_audios(ex: Example, paths: list[str]) -> Example:
    """A copy of a read dialogue line (its own fields only) whose audios are `paths`, given in the order `_audio_paths`
    lists them: each <audio> placeholder's entry of 'audios' and each typed audio part rewritten (qa-lab data shard)."""
    line = copy.deepcopy({k: v for k, v in ex.items() if not k.startswith("_")})
    new, audios = iter(paths), []
    for msg in line["messages"]:  # in the order `problem` met them
        parts = [{"type": "text", "text": msg["content"]}] if isinstance(msg["content"], str) else msg["content"]
        for part in parts:
            if part["type"] == "text":
                audios += [next(new) for _ in range(part["text"].count(PLACEHOLDER))]
            else:
                part["audio"] = next(new)
    if "audios" in line:
        line["audios"] = audios
    return line


def is_dialogue(ex: Example) -> bool:
    return "messages" in ex
