"""Inference: audio files + a task -> decoded text (and words with times for srwt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm
from transformers import LogitsProcessor, LogitsProcessorList

from qa_lab.config import Config, ConfigError
from qa_lab.core import align, ctc
from qa_lab.core.model import AudioLLM
from qa_lab.core.tokenizer import chat_token_ids
from qa_lab.data.audio import AudioError, duration
from qa_lab.data.dataset import AudioTextDataset, Collator, eval_batches
from qa_lab.data.manifest import MIN_SECONDS
from qa_lab.example import Example
from qa_lab.heap import HeapTrim
from qa_lab.prompts import tags, tasks

TIMED = ("srwt", "grounding")  # answers whose time tokens must not go back in time (a span ends after it starts)
ALIGNED = ("srwt", "grounding")  # answers whose times can come from the frames instead (decode.times=ctc)


class MonotoneTimes(LogitsProcessor):
    """Time tokens never go back: after <|t|> only times >= t may follow (Whisper's decoding rule), so a timed
    answer cannot fail to parse for decreasing times. `time_ids` are the time tokens' ids in time order."""
    def __init__(self, time_ids: list[int]):
        self.time_ids = torch.tensor(time_ids)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        rank = torch.full((scores.shape[1],), -1, dtype=torch.long, device=scores.device)  # time order, -1 = not a time
        rank[self.time_ids.to(scores.device)] = torch.arange(len(self.time_ids), device=scores.device)
        last = rank[input_ids].max(dim=1).values if input_ids.shape[1] else torch.full((len(scores),), -1)  # (R,)
        earlier = (rank[None] >= 0) & (rank[None] < last[:, None])  # (R, V)
        return scores.masked_fill(earlier, float("-inf"))


class SrwtGrammar(LogitsProcessor):
    """An SRWT answer keeps SRWT's grammar (N words between N+1 time tokens) while it is decoded: it opens with a
    time token, and a word stands between every two time tokens, so no time token follows a time token or a word
    that is only spaces (`space_ids`). Such answers would not parse (an empty word); joint CTC decoding wrote them
    (decode.ctc_timed, experiments/results/srwt-spaces/). The LLM's own tokens still: only those choices go."""
    def __init__(self, time_ids: list[int], space_ids: list[int]):
        self.time_ids, self.space_ids = torch.tensor(time_ids), torch.tensor(space_ids, dtype=torch.long)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        times = self.time_ids.to(scores.device)
        if not input_ids.shape[1]:  # the first token is a time
            keep = torch.full_like(scores, float("-inf"))
            keep[:, times] = scores[:, times]
            return keep
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)
        last = torch.where(torch.isin(input_ids, times), pos, -1).max(1).values  # (R,) the last time token, -1: none
        said = (pos > last[:, None]) & ~torch.isin(input_ids, self.space_ids.to(input_ids.device))
        no_word = (last >= 0) & ~said.any(1)  # nothing but spaces since the last time token
        scores = scores.clone()
        scores[no_word[:, None] & torch.isin(torch.arange(scores.shape[1], device=scores.device), times)[None]] = \
            float("-inf")
        return scores


def space_tokens(tokenizer) -> list[int]:
    """Ids of the tokens that decode to spaces only (not special tokens)."""
    special = set(tokenizer.all_special_ids)
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return [i for i, t in enumerate(texts) if not t.strip() and i not in special]


def decode(model: AudioLLM, ids: list[int], task: str) -> str:
    """Token ids -> text. Tag and time tokens stay (timed answers need them; elsewhere they mark a
    malformed answer); only EOS and padding are dropped."""
    tok = model.tokenizer
    drop = {tok.eos_token_id, tok.pad_token_id}
    return tok.decode([i for i in ids if i not in drop], skip_special_tokens=False).strip()


def run(model: AudioLLM, cfg: Config, examples: list[Example], batch_seconds: float = 120.0,
        max_new_tokens: int | None = None, num_beams: int | None = None, max_batch_size: int = 64,
        progress: bool = False) -> list[str]:
    """Decode manifest-style examples (keys: audio, task, and audio_lang/question as the task needs).

    Batches hold one task each (its own cap on new tokens, Task.max_new_tokens, or cfg.decode.max_new_tokens if
    lower; `max_new_tokens` overrides both) and clips of similar duration;
    beam width `num_beams` (None: cfg.decode.num_beams; 1 = greedy); transcription tasks decode jointly with the
    frames' CTC scores when cfg.decode.ctc_weight > 0 (qa_lab.core.ctc); with cfg.decode.times == "ctc", srwt and
    grounding answers are timed from the frames (`_from_frames`). Outputs come back in input order.
    """
    num_beams = num_beams or cfg.decode.num_beams
    for key in ("ctc_weight", "times"):
        if getattr(cfg.decode, key) not in (0.0, "lm") and cfg.model.ctc_weight == 0:
            raise ConfigError(f"decode.{key}={getattr(cfg.decode, key)}: this model was trained without the CTC "
                              f"loss (model.ctc_weight=0), so its frames spell nothing; set decode.{key}="
                              f"{'0' if key == 'ctc_weight' else 'lm'}")
    for i, ex in enumerate(examples):
        ex.setdefault("_line", i + 1)
        if "_turns" in ex:  # a dialogue: its clips were found when its line was read
            continue
        ex.setdefault("_audio_path", str(ex["audio"]))
        if "_duration" not in ex:  # a file not read from a manifest (qa-lab infer's): the manifest's lower bound
            ex["_duration"] = duration(ex["_audio_path"])
            if ex["_duration"] < MIN_SECONDS:
                raise AudioError(f"{ex['_audio_path']}: clip is {ex['_duration']:.3f} s long; the encoder needs at "
                                 f"least {MIN_SECONDS} s (a few audio frames)")
    outputs: list[str] = [""] * len(examples)
    framed = {i for i, ex in enumerate(examples) if cfg.decode.times == "ctc" and ex["task"] in ALIGNED}
    for fn, idx in ((_from_frames, sorted(framed)), (_generate, [i for i in range(len(examples)) if i not in framed])):
        for i, text in zip(idx, fn(model, cfg, [examples[i] for i in idx], batch_seconds, max_new_tokens, num_beams,
                                   max_batch_size, progress)):
            outputs[i] = text
    return outputs


def run_on_ranks(model: AudioLLM, cfg: Config, examples: list[Example], rank: int = 0, world_size: int = 1,
                 **kwargs) -> list[str]:
    """`run` split across the ranks of a multi-process job (torch.distributed initialised, e.g. by Lightning Fabric):
    rank r decodes examples r, r + world_size, ... (every rank gets a share of each task and duration), and every
    rank gets all outputs back in input order, gathered once. world_size 1: plain `run`."""
    if world_size == 1:
        return run(model, cfg, examples, **kwargs)
    mine = list(range(rank, len(examples), world_size))
    part = run(model, cfg, [examples[i] for i in mine], **kwargs)
    shards: list = [None] * world_size
    dist.all_gather_object(shards, list(zip(mine, part)))
    outputs = [""] * len(examples)
    for shard in shards:
        for i, text in shard:
            outputs[i] = text
    return outputs


def _batches(model: AudioLLM, cfg: Config, examples: list[Example], batch_seconds: float, max_batch_size: int,
             progress: bool = False):
    """Collated batches of prepared examples on the model's device, one task and similar durations each
    -> yields (indices into examples, batch)."""
    if not examples:
        return
    ds = AudioTextDataset(examples, model.tokenizer, cfg.tags.format, model.front, with_target=False)
    collate = Collator(model.tokenizer, cfg.model.pool_stride, train=False, markers=model.front.markers)
    device = next(model.parameters()).device
    durations = ds.durations()
    plan = []
    for task in dict.fromkeys(ex["task"] for ex in examples):
        idx = np.array([i for i, ex in enumerate(examples) if ex["task"] == task])
        plan += [idx[b].tolist() for b in eval_batches(durations[idx], batch_seconds, max_batch_size)]
    trim = HeapTrim()  # beams and new shapes leave heap holes (qa_lab.heap): an evaluation grew 2.0 -> 2.75 GB
    for batch_idx in tqdm(plan, desc="decoding", unit="batch", disable=not progress or None):
        batch = collate([ds[i] for i in batch_idx])
        yield batch_idx, {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        trim()


def _generate(model: AudioLLM, cfg: Config, examples: list[Example], batch_seconds: float, max_new_tokens: int | None,
              num_beams: int, max_batch_size: int, progress: bool) -> list[str]:
    """The LLM's own answers to prepared examples (run's docstring), in input order."""
    outputs: list[str] = [""] * len(examples)
    times = model.tokenizer.convert_tokens_to_ids(list(tags.TIME_TOKENS))
    spaces = space_tokens(model.tokenizer) if any(ex["task"] == "srwt" for ex in examples) else []
    for batch_idx, batch in _batches(model, cfg, examples, batch_seconds, max_batch_size, progress):
        task = examples[batch_idx[0]]["task"]
        budget, limit = tasks.get(task).max_new_tokens, cfg.decode.max_new_tokens
        cap = max_new_tokens or (min(budget, limit) if limit else budget)
        timed_ctc = cfg.decode.ctc_timed and task in ctc.TIMED_TASKS
        w = cfg.decode.ctc_weight if task in ctc.TASKS or timed_ctc else 0.0
        extra = {}
        processors = []
        if task in TIMED and cfg.decode.monotone_times:
            processors.append(MonotoneTimes(times))
        if task == "srwt" and cfg.decode.srwt_grammar:
            processors.append(SrwtGrammar(times, spaces))
        if processors:
            extra["logits_processor"] = LogitsProcessorList(processors)
        if timed_ctc and w > 0:  # the words jointly with the frames, the time tokens by the LLM alone
            extra["ctc_silent"] = times
            extra["ctc_lead"] = spaces  # a spaced answer's space before its first word
        if tasks.get(task).family == "dialogue":  # an assistant turn ends with <|im_end|>
            extra["stop_ids"] = chat_token_ids(model.tokenizer)[1:]
        for i, ids in zip(batch_idx, model.generate(batch, max_new_tokens=cap, num_beams=num_beams, ctc_weight=w,
                                                    **extra)):
            outputs[i] = decode(model, ids, task)
    return outputs


def _from_frames(model: AudioLLM, cfg: Config, examples: list[Example], batch_seconds: float, max_new_tokens: int | None,
                 num_beams: int, max_batch_size: int, progress: bool) -> list[str]:
    """SRWT and grounding answers timed by the model's own frames (decode.times=ctc): each clip is transcribed with
    the asr prompt (as `run` decodes asr), the transcript force-aligned to the frames' CTC (qa_lab.core.align); an
    SRWT answer is the timed words, a grounding answer the query's span(s). The LLM writes no time token here."""
    if not examples:
        return []
    for ex in examples:  # the errors the LLM's path gives (e.g. a grounding example without its query)
        tasks.prompt_for(ex, cfg.tags.format)
    # one transcript and one frame pass per clip (an srwt and a grounding line of the same clip share them)
    key = lambda ex: (ex["_audio_path"], ex.get("offset"), ex.get("duration"), ex.get("audio_lang"))  # noqa: E731
    first: dict = {}
    for ex in examples:
        first.setdefault(key(ex), ex)
    clip_of = {k: i for i, k in enumerate(first)}
    said = [{**ex, "task": "asr"} for ex in first.values()]
    texts = [tags.strip_special(t) for t in _generate(model, cfg, said, batch_seconds, max_new_tokens, num_beams,
                                                        max_batch_size, progress)]
    tok, blank = model.tokenizer, model.tokenizer.pad_token_id
    frames: list = [None] * len(said)
    for idx, batch in _batches(model, cfg, said, batch_seconds, max_batch_size):
        for i, logp in zip(idx, model.frame_log_probs(batch)):
            frames[i] = logp.float().cpu().numpy()
    outputs = []
    for ex in examples:
        c = clip_of[key(ex)]
        if ex["task"] == "srwt":
            words = align.word_times(frames[c], texts[c], tok, model.frame_seconds, blank)
            outputs.append(tags.format_srwt(words) if words else texts[c])  # no alignment: a format error
        else:
            spans = align.ground(frames[c], texts[c], ex["query"], tok, model.frame_seconds, blank)
            outputs.append(tags.format_spans(spans) if spans else "")
    return outputs


def transcribe(model: AudioLLM, cfg: Config, audio: list[str | Path], task: str = "asr",
               audio_lang: str | None = None, text_lang: str | None = None, question: str | None = None,
               query: str | None = None) -> list[str]:
    """Decode each audio file with `task`'s prompt."""
    exs = [{"audio": str(a), "task": task, "audio_lang": audio_lang, "text_lang": text_lang,
            "question": question, "query": query} for a in audio]
    return run(model, cfg, exs)


def format_words(text: str) -> str:
    """SRWT output -> one 'start end word' line per word, or the raw text with a note if it does not parse."""
    try:
        words = tags.parse_srwt(text)
    except tags.SrwtFormatError as e:
        return f"{text}\n(not a valid SRWT answer: {e})"
    return "\n".join(f"{w.start:6.2f} {w.end:6.2f}  {w.word}" for w in words)
