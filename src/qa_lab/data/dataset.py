"""Data path: manifest examples -> mel + token ids -> duration-bucketed, task-weighted batches."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from qa_lab.config import Config, ConfigError
from qa_lab.data.audio import AudioError, AudioFront, check_duration, load_audio
from qa_lab.data.manifest import SILENCE, ManifestError, read_manifest, where
from qa_lab.example import Example
from qa_lab.frames import HOP, IGNORE, SAMPLE_RATE, pooled_lengths
from qa_lab.prompts import chatml, tags
from qa_lab.prompts.tasks import heard, prompt_for, target, transcript

log = logging.getLogger(__name__)


class AudioTextDataset(Dataset):
    """Manifest examples -> {mel (n_mels, T), prompt_ids, target_ids, task}; errors name file and line.

    With `skip_invalid`, a clip whose audio only fails when decoded (NaN or Inf samples, a body that does not
    decode; with `refuse_silent`, training's datasets, a silent clip) is a logged, counted skip: the item is None and
    the Collator leaves it out of its batch."""

    def __init__(self, examples: list[Example], tokenizer, tag_format: str = "hierarchical",
                 audio_padding: str | AudioFront = "real", with_target: bool = True, features=None, ctc: bool = False,
                 skip_invalid: bool = False, ctc_sounds: bool = True, refuse_silent: bool = False,
                 srwt_spaces: bool = False):
        self.examples = examples
        self.skip_invalid = skip_invalid
        self.refuse_silent = refuse_silent  # a clip with nothing to hear teaches its answer without audio
        self.skipped: set[int] = set()  # indices skipped so far (in this process; a worker counts its own)
        self.features = features  # a qa_lab.core.features.FeatureStore: items carry cached tower features, not mel
        self.tokenizer = tokenizer
        self.tag_format = tag_format
        self.srwt_spaces = srwt_spaces  # tags.srwt_spaces: the targets' spelling of SRWT answers
        self.front = audio_padding if isinstance(audio_padding, AudioFront) else AudioFront(audio_padding)
        self.with_target = with_target  # False: prompts only (decoding), no target fields needed
        self.ctc = ctc and with_target  # also tokenise what is said (ctc_ids), for the auxiliary CTC loss
        self.ctc_text = heard if ctc_sounds else transcript  # ... and what is heard (model.ctc_sounds)
        self._label_counts: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.examples)

    def durations(self) -> np.ndarray:
        return np.array([ex["_duration"] for ex in self.examples])

    def label_counts(self) -> np.ndarray:
        """The target tokens each example is trained on (its target and the end-of-sequence token), counted once."""
        if self._label_counts is None:
            ids = self.tokenizer([target(ex, self.srwt_spaces) for ex in self.examples],
                                 add_special_tokens=False)["input_ids"]
            self._label_counts = np.array([len(x) + 1 for x in ids], dtype=np.int64)
        return self._label_counts

    def __getitem__(self, i: int) -> dict | None:
        ex = self.examples[i]
        enc = lambda s: self.tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
        if "_turns" in ex:  # a dialogue (qa_lab.data.dialogue)
            return self._dialogue(i, ex, enc)
        said = self.ctc_text(ex) if self.ctc else None
        instruction = prompt_for(ex, self.tag_format)
        prefix = ""
        if self.tag_format == "qwen2-audio-chat":  # a one-turn ChatML dialogue around the audio and the instruction
            prefix, instruction = chatml.one_clip_prompt(instruction, self.front.markers)
        item = {"prompt_ids": enc(instruction), "prefix_ids": enc(prefix) if prefix else [],
                "target_ids": enc(target(ex, self.srwt_spaces)) if self.with_target else [], "task": ex["task"],
                "index": i,
                "ctc_ids": enc(said) if said else []}
        clip = self._clip(i, ex, ex["_audio_path"], float(ex.get("offset") or 0.0), ex.get("duration"))
        return None if clip is None else {**clip, **item}

    def _clip(self, i: int, ex: Example, path: str, offset: float = 0.0, duration: float | None = None) -> dict | None:
        """One clip's {"mel" or "feats", "mel_length"}; None when it fails to decode under skip_invalid."""
        if self.features is not None:
            feats, n_mel = self.features[{"_audio_path": path, "offset": offset, "duration": duration}]
            return {"feats": feats, "mel_length": n_mel}
        try:
            audio = load_audio(path, offset, duration)
            check_duration(len(audio) / SAMPLE_RATE, path)
            if self.refuse_silent and np.abs(audio).max() < SILENCE:  # the bound `qa-lab data check` flags
                raise AudioError(f"{path}: silent audio (peak below {SILENCE:g})")
            mel, n_mel = self.front.mel(audio)
        except AudioError as e:
            if not self.skip_invalid:
                raise AudioError(f"{where(ex)}: {e}") from None
            if i not in self.skipped:
                self.skipped.add(i)
                log.warning("skipped %s: %s (data.skip_invalid; %d clip(s) skipped so far)", where(ex), e,
                            len(self.skipped))
            return None
        return {"mel": torch.from_numpy(mel), "mel_length": n_mel}

    def _dialogue(self, i: int, ex: Example, enc) -> dict | None:
        """A dialogue's item: its ChatML pieces tokenised ([ids, labelled] or an audio's index) and its clips."""
        clips = [self._clip(i, ex, p) for p in ex["_audio_paths"]]
        if any(c is None for c in clips):
            return None
        pieces = [p if isinstance(p, int) else (enc(p[0]), p[1]) for p in
                  chatml.pieces(ex, self.front.markers, self.with_target, self.front.tower == "qwen2-audio")]
        kind = "feats" if self.features is not None else "mel"  # the key a clip item holds its one clip under
        return {"pieces": pieces, kind: [c[kind] for c in clips], "mel_length": [c["mel_length"] for c in clips],
                "task": ex["task"], "index": i, "ctc_ids": [],
                "target_ids": enc(chatml.answer(ex)) if self.with_target else [], "prompt_ids": []}


class Collator:
    """Pad a list of items into a batch. train: right-padded with labels; else left-padded prompts."""

    def __init__(self, tokenizer, pool_stride: int = 2, train: bool = True,
                 markers: tuple[str, str] = (tags.AUDIO_START, tags.AUDIO_END)):
        self.pad_id = tokenizer.pad_token_id
        self.eos_id = tokenizer.eos_token_id
        self.start_id, self.end_id = tokenizer.convert_tokens_to_ids(list(markers))
        self.pool_stride = pool_stride
        self.train = train

    def _layout(self, it: dict) -> tuple[list[int], list[int], list[bool], list[torch.Tensor], list[int]]:
        """An item -> (token ids, labels, audio-slot flags, its clips, their mel frames). An item holds its audio as
        "feats" (cached tower features) or "mel", and "mel_length": one clip's for a clip-task item, laid out as
        [prefix] <audio> slots </audio> prompt [target eos]; lists of clips for a dialogue item, laid out as its
        pieces, each audio its slots."""
        clips, lengths = it["feats" if "feats" in it else "mel"], it["mel_length"]  # cached features, or mel
        if "pieces" in it:  # a dialogue: a list of clips
            pieces = it["pieces"]
        else:
            clips, lengths = [clips], [lengths]
            tail = [(it["target_ids"] + [self.eos_id], True)] if self.train else []
            pieces = [(it.get("prefix_ids", []) + [self.start_id], False), 0,
                      ([self.end_id] + it["prompt_ids"], False), *tail]
        ids, labels, slots = [], [], []
        for piece in pieces:
            if isinstance(piece, int):  # the audio with this index: one slot per frame the LLM sees
                n = int(pooled_lengths(lengths[piece], self.pool_stride))
                ids += [self.pad_id] * n
                labels += [IGNORE] * n
                slots += [True] * n
            else:
                toks, labelled = piece
                ids += toks
                labels += toks if labelled and self.train else [IGNORE] * len(toks)
                slots += [False] * len(toks)
        return ids, labels, slots, clips, lengths

    def __call__(self, items: list[dict | None]) -> dict | None:
        items = [it for it in items if it is not None]  # clips skipped under data.skip_invalid
        if not items:
            return None  # the training step skips an empty batch
        B = len(items)
        laid = [self._layout(it) for it in items]
        clips = [c for *_, cs, _ in laid for c in cs]  # every clip of the batch, in the order its slots come
        mel_lengths = torch.tensor([n for *_, ns in laid for n in ns])
        audio = {"mel_lengths": mel_lengths,  # and each clip's place in its row (model.clip_codes)
                 "clip_index": torch.tensor([k for *_, ns in laid for k in range(len(ns))], dtype=torch.long)}
        if not clips:  # text-only dialogues: no audio in the batch
            pass
        elif any("feats" in it for it in items):  # cached tower features (N, T_a, d)
            audio["audio_feats"] = torch.zeros(len(clips), max(c.shape[0] for c in clips), clips[0].shape[1])
            for b, c in enumerate(clips):
                audio["audio_feats"][b, :c.shape[0]] = c
        else:
            T = max(c.shape[1] for c in clips)
            audio["mel"] = torch.zeros(len(clips), clips[0].shape[0], T)  # (N, n_mels, T)
            for b, c in enumerate(clips):
                audio["mel"][b, :, :c.shape[1]] = c
        L_max = max(len(ids) for ids, *_ in laid)
        input_ids = torch.full((B, L_max), self.pad_id)
        label_t = torch.full((B, L_max), IGNORE)
        audio_mask = torch.zeros(B, L_max, dtype=torch.bool)
        attention = torch.zeros(B, L_max, dtype=torch.long)
        for b, (s, lab, sl, _, _) in enumerate(laid):
            span = slice(0, len(s)) if self.train else slice(L_max - len(s), L_max)
            input_ids[b, span] = torch.tensor(s)
            label_t[b, span] = torch.tensor(lab)
            audio_mask[b, span] = torch.tensor(sl)
            attention[b, span] = 1
        ctc = [it.get("ctc_ids", []) for it in items]
        audio["ctc_targets"] = torch.tensor([t for ids in ctc for t in ids], dtype=torch.long)  # (sum S,)
        audio["ctc_lengths"] = torch.tensor([len(ids) for ids in ctc], dtype=torch.long)  # (B,), 0 = no transcript
        return {**audio, "input_ids": input_ids, "attention_mask": attention,
                "audio_mask": audio_mask, "labels": label_t, "tasks": [it["task"] for it in items],
                "index": [it["index"] for it in items]}


def pack(order: np.ndarray, durations: np.ndarray, batch_seconds: float, max_batch_size: int) -> list[list[int]]:
    """Greedy packing in `order`: a batch holds clips while (longest clip x count) <= batch_seconds."""
    batches, cur, longest = [], [], 0.0
    for i in order:
        d = float(durations[i])
        if cur and (max(longest, d) * (len(cur) + 1) > batch_seconds or len(cur) >= max_batch_size):
            batches.append(cur)
            cur, longest = [], 0.0
        cur.append(int(i))
        longest = max(longest, d)
    if cur:
        batches.append(cur)
    return batches


class BucketBatchSampler(Sampler[list[int]]):
    """Endless, seeded stream of batches: task-weighted draws, duration buckets, shuffled batch order.

    Batch k of the stream depends only on (seed, k), so a resumed run continues with the batch an
    uninterrupted run would have seen (`start`), and each of `world_size` ranks takes every
    world_size-th batch.
    """

    POOL = 64  # batches' worth of clips sorted together: similar lengths, still random across pools

    def __init__(self, durations: np.ndarray, tasks: list[str], batch_seconds: float, max_batch_size: int,
                 task_weights: dict[str, float] | None = None, bucket: bool = True, seed: int = 0,
                 num_batches: int = 1, start: int = 0, rank: int = 0, world_size: int = 1):
        self.durations, self.tasks = np.asarray(durations), list(tasks)
        self.batch_seconds, self.max_batch_size = batch_seconds, max_batch_size
        self.weights = task_weights or {}
        self.bucket, self.seed = bucket, seed
        self.num_batches, self.start = num_batches, start
        self.rank, self.world_size = rank, world_size
        self._epochs: list[list[list[int]]] = []  # epochs batch_at has drawn so far

    def epoch(self, e: int) -> list[list[int]]:
        """The batches of pass `e` over the (weighted) data."""
        rng = np.random.default_rng([self.seed, e])
        by_task: dict[str, list[int]] = {}
        for i, t in enumerate(self.tasks):
            by_task.setdefault(t, []).append(i)
        w = {t: float(self.weights.get(t, 1.0)) for t in by_task}
        total_w = sum(w.values())
        if total_w <= 0:
            raise ValueError("data.task_weights gives every task weight 0")
        n = len(self.tasks)
        draws = []
        for t, idx in sorted(by_task.items()):
            k = int(round(n * w[t] / total_w))
            reps = math.ceil(k / len(idx)) if k else 0
            draws.extend(np.concatenate([rng.permutation(idx) for _ in range(reps)])[:k] if reps else [])
        order = rng.permutation(np.array(draws, dtype=int))
        if self.bucket:
            pool = self.POOL * self.max_batch_size
            chunks = [order[i:i + pool] for i in range(0, len(order), pool)]
            batches = []
            for c in chunks:
                c = c[np.argsort(self.durations[c], kind="stable")]
                batches.extend(pack(c, self.durations, self.batch_seconds, self.max_batch_size))
            return [batches[j] for j in rng.permutation(len(batches))]
        return pack(order, self.durations, self.batch_seconds, self.max_batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        k, e, emitted = 0, 0, 0
        while emitted < self.num_batches:
            for b in self.epoch(e):
                if k >= self.start * self.world_size and k % self.world_size == self.rank:
                    yield b
                    emitted += 1
                    if emitted >= self.num_batches:
                        return
                k += 1
            e += 1

    def __len__(self) -> int:
        return self.num_batches

    def batch_at(self, k: int) -> list[int]:
        """Batch k of the stream every rank draws from (rank r trains on batches r, r + world_size, ...)."""
        base = 0
        for e in range(k + 1):  # an epoch holds at least one batch
            if e == len(self._epochs):
                self._epochs.append(self.epoch(e))
            if k < base + len(self._epochs[e]):
                return self._epochs[e][k - base]
            base += len(self._epochs[e])
        raise AssertionError("unreachable")

    def step_batches(self, step: int, accumulate: int = 1) -> list[list[int]]:
        """Every batch of optimiser step `step` on every rank: stream batches [step·A·R, (step+1)·A·R)."""
        per = accumulate * self.world_size
        return [self.batch_at(k) for k in range(step * per, (step + 1) * per)]


def loss_shares(data: AudioDataModule, steps: int, norm: str) -> dict[str, dict[str, float]]:
    """Per task, over optimiser steps 0 .. steps-1 of the run's seeded batch stream: the share of examples that
    data.task_weights asks for (`asked`), and the measured shares of examples, of target tokens and of loss weight
    (`loss`: the sum of the weights the gradient gives its token losses) under trainer.loss_normalization `norm`."""
    if data.train_sampler is None:
        data.train_dataloader()
    t, sampler = data.cfg.trainer, data.train_sampler
    per_rank = t.accumulate_grad_batches * sampler.world_size
    counts, tasks = data.train_set.label_counts(), [ex["task"] for ex in data.train_set.examples]
    got: dict[str, np.ndarray] = {task: np.zeros(3) for task in sorted(set(tasks))}
    for s in range(steps):
        denom = 0.0 if norm == "batch" else data.loss_denominator(s, norm)  # per batch for "batch"
        for b in sampler.step_batches(s, t.accumulate_grad_batches):
            if norm == "batch":
                denom = counts[b].sum() * per_rank
            for i in b:
                n = counts[i]
                got[tasks[i]] += (1, n, (1 if norm == "examples" else n) / denom)
    weights = {task: float(data.cfg.data.task_weights.get(task, 1.0)) for task in got}
    total = np.sum(list(got.values()), axis=0)
    return {task: {"asked": weights[task] / sum(weights.values()), "examples": v[0] / total[0],
                   "tokens": v[1] / total[1], "loss": v[2] / total[2]} for task, v in got.items()}


def eval_batches(durations: np.ndarray, batch_seconds: float, max_batch_size: int) -> list[list[int]]:
    """Deterministic batches over every example once, sorted by duration (for validation and decoding)."""
    return pack(np.argsort(durations, kind="stable"), durations, batch_seconds, max_batch_size)


class AudioDataModule(L.LightningDataModule):
    """Wires manifests (or the built-in audio world) to datasets, samplers and collation.

    `world` builds the built-in world for a config that names no manifest (data.train_manifest null) and returns its
    folder: qa_lab.world.builder.build_for, handed in by the caller so that the data layer needs no world code."""

    def __init__(self, cfg: Config, tokenizer, features=None, front: AudioFront | None = None,
                 context: int | None = None, world: Callable[[Config], Path] | None = None):
        super().__init__()
        self.world = world
        self.context = context  # the LLM's positions (max_position_embeddings): a dialogue longer is refused
        self.cfg, self.tokenizer = cfg, tokenizer
        self.front = front or AudioFront(cfg.model.audio_padding)  # the model's (AudioLLM.front)
        self.features = features  # examples -> FeatureStore holding them (a frozen tower's cache), or None
        self.train_set: AudioTextDataset | None = None
        self.val_set: AudioTextDataset | None = None
        self.train_sampler: BucketBatchSampler | None = None
        self._per_step: dict[str, float] = {}

    def manifests(self) -> tuple[Path, Path]:
        d = self.cfg.data
        if d.train_manifest:
            return Path(d.train_manifest), Path(d.val_manifest)
        if self.world is None:
            raise ConfigError("data.train_manifest is null (train on the built-in world), but this data module was "
                              "given no world builder: pass world=qa_lab.world.builder.build_for, or name manifests")
        root = self.world(self.cfg)
        return root / "train.jsonl", root / "val.jsonl"

    def prepare_data(self) -> None:
        self.manifests()  # builds the world once, on rank 0

    def within_limit(self, examples: list[Example]) -> list[Example]:
        """Examples that fit, checked up front (one long example would otherwise ask attention for gigabytes
        mid-run): a target within data.max_target_tokens; a dialogue within data.max_dialogue_seconds of audio and,
        turns and audio frames together, within the LLM's context (`self.context`, when known). Anything over is an
        error naming file:line and what is over, or with data.skip_invalid a counted, logged skip."""
        d = self.cfg.data
        lengths = [len(ids) for ids in self.tokenizer([target(ex, self.cfg.tags.srwt_spaces) for ex in examples],
                                                     add_special_tokens=False)["input_ids"]]
        over = [(ex, f"a target of {n} tokens, over data.max_target_tokens={d.max_target_tokens}")
                for ex, n in zip(examples, lengths) if n > d.max_target_tokens]
        for ex in examples:
            if "_turns" not in ex:
                continue
            if ex["_duration"] > d.max_dialogue_seconds:
                over.append((ex, f"{ex['_duration']:.1f} s of audio, over data.max_dialogue_seconds="
                                 f"{d.max_dialogue_seconds:g}"))
            elif self.context is not None and (n := self.dialogue_length(ex)) > self.context:
                over.append((ex, f"{n} positions (turns and audio frames), over the LLM's context of {self.context}"))
        if not over:
            return examples
        lines = "\n  ".join(f"{where(ex)}: {why}" for ex, why in over[:20])
        if not d.skip_invalid:
            raise ManifestError(f"{len(over)} example(s) too long (raise the limit named, or set data.skip_invalid=true "
                                f"to skip them):\n  {lines}")
        log.warning("skipped %d example(s) too long:\n  %s", len(over), lines)
        keep = {id(ex) for ex, _ in over}
        return [ex for ex in examples if id(ex) not in keep]

    def dialogue_length(self, ex: Example) -> int:
        """Positions a dialogue line takes in the LLM: its ChatML tokens and one slot per audio frame."""
        text = [p[0] for p in chatml.pieces(ex, self.front.markers, True, self.front.tower == "qwen2-audio")
                if not isinstance(p, int)]
        tokens = sum(len(ids) for ids in self.tokenizer(text, add_special_tokens=False)["input_ids"])
        frames = [-(-round(s * SAMPLE_RATE) // HOP) for s in ex["_durations"]]  # at most one over the front's count
        return tokens + int(sum(pooled_lengths(np.array(frames), self.cfg.model.pool_stride)))

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        d, m = self.cfg.data, self.cfg.model
        paths = self.manifests()
        train, val = (self.within_limit(read_manifest(p, d.tasks, d.skip_invalid)) for p in paths)
        held = sorted({ex["task"] for ex in train})
        if held and not any(d.task_weights.get(t, 1) > 0 for t in held):  # the sampler would draw nothing
            raise ManifestError(f"{paths[0]}: every task it holds for training ({', '.join(held)}) has weight 0 in "
                                "data.task_weights; give one a weight > 0")
        store = self.features(train + val) if self.features is not None else None
        if store is not None:  # under data.skip_invalid, clips that failed to decode were left out of the cache
            kept = [[ex for ex in exs if ex in store] for exs in (train, val)]
            if dropped := len(train) + len(val) - sum(map(len, kept)):
                log.warning("skipped %d example(s) whose audio failed to decode (data.skip_invalid; each named "
                            "above)", dropped)
            train, val = kept
        mk = lambda exs: AudioTextDataset(exs, self.tokenizer, self.cfg.tags.format, self.front,  # noqa: E731
                                          features=store, ctc=m.ctc_weight > 0, skip_invalid=d.skip_invalid,
                                          ctc_sounds=m.ctc_sounds, refuse_silent=True,
                                          srwt_spaces=self.cfg.tags.srwt_spaces)
        self.train_set, self.val_set = mk(train), mk(val)

    def _loader(self, ds: AudioTextDataset, sampler) -> DataLoader:
        return DataLoader(ds, batch_sampler=sampler, num_workers=self.cfg.data.num_workers,
                          collate_fn=Collator(self.tokenizer, self.cfg.model.pool_stride, train=True,
                                              markers=self.front.markers),
                          persistent_workers=self.cfg.data.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        d, t = self.cfg.data, self.cfg.trainer
        trainer = self.trainer
        consumed = trainer.global_step * t.accumulate_grad_batches if trainer else 0
        total = t.steps * t.accumulate_grad_batches
        sampler = BucketBatchSampler(
            self.train_set.durations(), [ex["task"] for ex in self.train_set.examples], d.batch_seconds,
            d.max_batch_size, dict(d.task_weights), d.bucket, self.cfg.seed, num_batches=total,
            start=consumed, rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1)
        self.train_sampler = sampler
        return self._loader(self.train_set, sampler)

    def loss_denominator(self, step: int, norm: str) -> float:
        """What the summed losses of optimiser step `step` are divided by under trainer.loss_normalization `norm`
        (tokens, examples or step_tokens; config/schema.py says what each means), counted over every micro-batch and rank
        from the seeded batch stream, so no rank waits for another's count. A clip skipped at load under
        data.skip_invalid still counts (too small a share to matter)."""
        if norm == "step_tokens":
            return float(self.units(self.train_sampler.step_batches(step, self.cfg.trainer.accumulate_grad_batches)))
        if norm not in self._per_step:  # the mean over the stream's first pass, the same for the whole run
            first = self.train_sampler.epoch(0)
            per_batch = self.units(first, "examples" if norm == "examples" else "tokens") / max(len(first), 1)
            self._per_step[norm] = per_batch * self.cfg.trainer.accumulate_grad_batches * self.train_sampler.world_size
        return self._per_step[norm]

    def units(self, batches: list[list[int]], unit: str = "tokens") -> int:
        """Target tokens (unit "tokens") or examples ("examples") in `batches` of the training set."""
        if unit == "examples":
            return sum(map(len, batches))
        counts = self.train_set.label_counts()
        return int(sum(counts[b].sum() for b in batches))

    def val_dataloader(self) -> DataLoader:
        """Every validation batch once, shared out between ranks (each rank's sums are added up at the end of
        validation, AudioLLMModule); with fewer batches than ranks every rank validates all, which gives the same
        means."""
        d = self.cfg.data
        batches = eval_batches(self.val_set.durations(), d.batch_seconds, d.max_batch_size)
        trainer = self.trainer
        if trainer is not None and 1 < trainer.world_size <= len(batches):
            batches = batches[trainer.global_rank::trainer.world_size]
        return self._loader(self.val_set, batches)
