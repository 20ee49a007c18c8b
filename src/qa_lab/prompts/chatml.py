"""Dialogues as ChatML text: the pieces a dialogue's tokens are made of, its answer and its context (what the prompt
of a decode shows). The turns come from a read dialogue line's `_turns` (qa_lab.data.dialogue.problem)."""

from __future__ import annotations

from qa_lab.example import Example
from qa_lab.prompts import tags


def answer(ex: Example) -> str:
    """The last assistant turn's text: the answer a decode of this dialogue is scored against."""
    return "".join(str(v) for kind, v in ex["_turns"][-1][1] if kind == "text").strip()


def context(ex: Example) -> str:
    """The turns before the answer as one line of text: 'user: [audio 1] what is said? | assistant: …'."""
    return " | ".join(f"{role}: " + "".join(f"[audio {v + 1}] " if kind == "audio" else str(v) for kind, v in parts)
                      for role, parts in ex["_turns"][:-1])


def pieces(ex: Example, markers: tuple[str, str], train: bool, qwen2: bool = False) -> list:
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
