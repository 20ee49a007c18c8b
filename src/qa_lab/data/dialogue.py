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

from pathlib import Path

from qa_lab.data.audio import MAX_SECONDS, AudioError
from qa_lab.data.audio import duration as audio_duration
from qa_lab.prompts import tags

ROLES = ("system", "user", "assistant")
PLACEHOLDER = "<audio>"
CHAT_TASK = "chat"


def problem(ex: dict, root: Path) -> str | None:
    """What is wrong with a dialogue line, or None; a good line gains `_turns` [(role, [("text", s) | ("audio", k)])],
    `_audio_paths`, `_durations` and `_duration` (its total audio seconds), and `task` (default chat)."""
    messages = ex.get("messages")
    if not isinstance(messages, list) or not messages:
        return "field 'messages' must be a non-empty list of {\"role\", \"content\"} turns"
    audios = ex.get("audios", [])
    if not isinstance(audios, list) or not all(isinstance(a, str) and a.strip() for a in audios):
        return f"field 'audios' must be a list of file paths, got {audios!r}"
    task = ex.setdefault("task", CHAT_TASK)
    from qa_lab.prompts import tasks as registry
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


def with_audios(ex: dict, paths: list[str]) -> dict:
    """A copy of a read dialogue line (its own fields only) whose audios are `paths`, given in the order `_audio_paths`
    lists them: each <audio> placeholder's entry of 'audios' and each typed audio part rewritten (qa-lab data shard)."""
    import copy
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


def is_dialogue(ex: dict) -> bool:
    return "messages" in ex


def answer(ex: dict) -> str:
    """The last assistant turn's text: the answer a decode of this dialogue is scored against."""
    return "".join(str(v) for kind, v in ex["_turns"][-1][1] if kind == "text").strip()


def context(ex: dict) -> str:
    """The turns before the answer as one line of text: 'user: [audio 1] what is said? | assistant: …'."""
    return " | ".join(f"{role}: " + "".join(f"[audio {v + 1}] " if kind == "audio" else str(v) for kind, v in parts)
                      for role, parts in ex["_turns"][:-1])


def pieces(ex: dict, markers: tuple[str, str], train: bool, qwen2: bool = False) -> list:
    """The dialogue as a sequence of (text, labelled) and audio indices, ChatML. train: every assistant turn's text
    and <|im_end|> labelled; else the turns before the last assistant turn, then the assistant turn opened (the
    prompt of a decode). qwen2: Qwen2-Audio's audio labels ("Audio k: " then its markers)."""
    start, end = markers
    out: list = []
    turns = ex["_turns"] if train else ex["_turns"][:-1]
    if not turns or turns[0][0] != "system":
        out.append((f"{tags.IM_START}system\n{tags.CHAT_SYSTEM}{tags.IM_END}\n", False))
    for role, parts in turns:
        out.append((f"{tags.IM_START}{role}\n", False))
        for kind, value in parts:
            if kind == "audio":  # the markers are pieces of their own: one_clip_prompt splits at them
                out += [(f"Audio {value + 1}:{' ' if qwen2 else ''}", False), (start, False), value, (end, False),
                        ("\n", False)]
            else:
                out.append((value, role == "assistant"))
        if role == "assistant":
            out.append((tags.IM_END, True))
            out.append(("\n", False))
        else:
            out.append((f"{tags.IM_END}\n", False))
    if not train:
        out.append((f"{tags.IM_START}assistant\n", False))
    return out


def one_clip_prompt(instruction: str, markers: tuple[str, str], qwen2: bool = True) -> tuple[str, str]:
    """The ChatML text before a one-clip task's audio (its start marker excluded) and after it (its end marker
    excluded): the prompt of a one-turn dialogue, "Audio 1:" and `instruction`, as `pieces` renders it
    (tags.format qwen2-audio-chat, the instruct model's single-clip prompts)."""
    turn = {"_turns": [("user", [("audio", 0), ("text", instruction)]), ("assistant", [("text", "")])]}
    out = pieces(turn, markers, train=False, qwen2=qwen2)
    k = out.index(0)  # [..., (start marker), 0, (end marker), ...]
    return "".join(t for t, _ in out[:k - 1]), "".join(t for t, _ in out[k + 2:])
