"""Talking to a model: a multi-turn session with audio, answers streamed token by token (`qa-lab chat`).

Each user line becomes a user turn (with the clips attached since the last one, `/audio PATH`); the model's next
assistant turn is decoded as the harness decodes a dialogue's last turn (qa_lab.data.dialogue, greedy unless
decode.num_beams says otherwise). `/reset` starts over; `/save FILE` appends the dialogue so far to FILE as a dialogue
manifest line, ready for training or evaluation; `/quit` ends the session.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

import torch

from qa_lab.core.tokenizer import chat_token_ids
from qa_lab.data import dialogue
from qa_lab.data.audio import check_duration, load_audio
from qa_lab.eval.decode import _batches
from qa_lab.example import Example
from qa_lab.frames import SAMPLE_RATE
from qa_lab.prompts import tags

HELP = "commands: /audio PATH (attach a clip to your next turn), /reset, /save FILE, /quit; anything else is your turn"


class ChatSession:
    """One conversation with `model` (an AudioLLM whose tokenizer has ChatML's tokens)."""
    def __init__(self, model, cfg, max_new_tokens: int = 256):
        if len(chat_token_ids(model.tokenizer)) < len(tags.CHAT_TOKENS):
            raise ValueError("this model was not trained on dialogues (its tokenizer has no <|im_start|> / <|im_end|>):"
                             " train the chat stage first (experiments/chat/), or load a Qwen2-Audio folder")
        self.model, self.cfg, self.max_new_tokens = model, cfg, max_new_tokens
        self.reset()

    def reset(self) -> None:
        self.messages: list[dict] = []
        self.pending: list[str] = []  # clips attached to the next user turn

    def attach(self, path: str | Path) -> float:
        """Attach a clip (read and checked now: format, length) to the next user turn -> its seconds."""
        path = Path(path).expanduser().resolve()
        audio = load_audio(path)  # an AudioError names the file
        check_duration(len(audio) / SAMPLE_RATE, str(path))
        self.pending.append(str(path))
        return len(audio) / SAMPLE_RATE

    def line(self) -> dict:
        """The dialogue so far as a manifest line (typed parts, absolute audio paths)."""
        return {"messages": [dict(m) for m in self.messages]}

    def say(self, text: str, out: TextIO | None = None) -> str:
        """Add a user turn (with the attached clips) and decode the assistant's answer, streamed to `out`."""
        content = [{"type": "audio", "audio": p} for p in self.pending] + [{"type": "text", "text": text}]
        user = {"role": "user", "content": content}
        ex = {"messages": [*self.messages, user, {"role": "assistant", "content": "…"}], "task": dialogue.CHAT_TASK}
        problem = dialogue.problem(ex, Path.cwd())
        if problem:
            raise ValueError(problem)
        answer = next_turn(self.model, self.cfg, ex, self.max_new_tokens, out)
        self.messages += [user, {"role": "assistant", "content": answer}]
        self.pending = []
        return answer

    def save(self, path: str | Path) -> Path:
        """Append the dialogue so far to `path` (a JSONL dialogue manifest)."""
        if not self.messages:
            raise ValueError("nothing to save yet: the dialogue has no turns")
        if not self.messages[-1]["content"].strip():
            raise ValueError("the model's last answer is empty, and a dialogue line needs a final answer to learn "
                             "and to score: say more first")
        path = Path(path)
        with path.open("a") as f:
            f.write(json.dumps(self.line()) + "\n")
        return path


def next_turn(model, cfg, ex: Example, max_new_tokens: int = 256, out: TextIO | None = None) -> str:
    """The model's next assistant turn for a read dialogue `ex` (its last turn is the placeholder to replace),
    written to `out` when given: token by token under greedy decoding, whole once a beam search ends."""
    streamer = _Streamer(model.tokenizer, out) if out is not None and cfg.decode.num_beams == 1 else None
    model.eval()
    ((_, batch),) = list(_batches(model, cfg, [ex], 120.0, 1))
    with torch.no_grad():
        (ids,) = model.generate(batch, max_new_tokens=max_new_tokens, num_beams=cfg.decode.num_beams,
                                stop_ids=chat_token_ids(model.tokenizer)[1:], streamer=streamer)
    text = model.tokenizer.decode(ids, skip_special_tokens=True).strip()
    if streamer is not None:
        streamer.end()
    elif out is not None:
        out.write(text + "\n")
    return text


class _Streamer:
    """transformers' streamer protocol (put / end): the new tokens' text as it grows, written to `out`."""
    def __init__(self, tokenizer, out: TextIO):
        self.tokenizer, self.out = tokenizer, out
        self.ids: list[int] = []
        self.shown = 0
        self.first = True

    def put(self, value) -> None:
        if self.first:  # the prompt (empty here: decoding starts from embeddings)
            self.first = False
            return
        self.ids += value.flatten().tolist()
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if not text.endswith("\ufffd"):  # a multi-byte character still arriving
            self.out.write(text[self.shown:])
            self.out.flush()
            self.shown = len(text)

    def end(self) -> None:
        self.out.write("\n")
        self.out.flush()


def session(model, cfg, lines, out: TextIO = sys.stdout, interactive: bool = False,
            max_new_tokens: int = 256) -> ChatSession:
    """Run a chat over `lines` (an iterable of the user's lines: a script, stdin or the terminal). Problems with a
    line (a clip that does not read, an unknown command) are reported and the session goes on."""
    chat = ChatSession(model, cfg, max_new_tokens)
    if interactive:
        out.write(HELP + "\n")
    for raw in lines:
        text = raw.strip()
        if not text:
            continue
        cmd, _, arg = text.partition(" ")
        try:
            if cmd == "/quit":
                break
            elif cmd == "/reset":
                chat.reset()
                out.write("[reset]\n")
            elif cmd == "/audio":
                seconds = chat.attach(arg.strip())
                out.write(f"[audio {len(chat.pending)} attached: {arg.strip()} ({seconds:.1f} s)]\n")
            elif cmd == "/save":
                out.write(f"[saved to {chat.save(arg.strip())}]\n")
            elif cmd.startswith("/"):
                out.write(f"[unknown command {cmd!r}; {HELP}]\n")
            else:
                out.write("assistant> ")
                out.flush()
                chat.say(text, out)
        except (ValueError, OSError) as e:
            out.write(f"[error: {e}]\n")
        out.flush()
    return chat
