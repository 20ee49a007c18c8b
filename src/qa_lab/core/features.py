"""Frozen audio-tower features computed once per clip and cached on disk, so a frozen-encoder recipe never reruns
the encoder: the step then costs only the projector and the LLM (the encoder is most of a step on a CPU).

    store = FeatureStore.for_model(model, "data/features")   # folder named by a hash of the tower's weights
    store.ensure(model, examples)                             # encodes the clips it lacks (progress bar), saves
    store[example]                                            # (T_audio, d_audio) pooled features, pre-projector

Features are what `AudioLLM.cache_features` gives for the clip alone (batch-invariant encoder), stored as float16:
the tower's pooled output, or with `model.train_encoder_layers` the output of the frozen layers below the trained
ones (50 frames/s; `AudioLLM.from_cache` runs the rest each step). A run in mixed precision (trainer.precision
bf16-mixed) encodes under the same autocast its training step would, into a folder of its own.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from tqdm import tqdm

from qa_lab.data.dataset import AudioTextDataset, Collator, eval_batches
from qa_lab.data.shards import member_of
from qa_lab.example import Example


def clip_key(ex: Example) -> str:
    """A clip's identity: file, its size and mtime, offset and duration (tasks on the same audio share features; a
    file replaced at the same path is another clip)."""
    path = ex["_audio_path"]
    return f"{path}|{_stamp(path)}|{float(ex.get('offset') or 0.0):.3f}|{ex.get('duration')}"


def _stamp(path: str) -> str:
    """'size:mtime_ns' of the file a clip is read from (a shard member's: its shard's), what make and rsync compare to
    tell a changed file (a content hash would read every clip of a corpus each run); '-' when there is no such file
    (encoding it then fails, naming the manifest line)."""
    shard = None if os.path.isfile(path) else member_of(path)
    try:
        st = os.stat(shard[0] if shard else path)
    except OSError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def clips_of(examples: list[Example]) -> list[Example]:
    """The clips of `examples`: a clip task's example is its clip; a dialogue (qa_lab.data.dialogue) gives one per
    audio, each an example of its own (task asr: only its audio is read) naming the dialogue's manifest line."""
    out = []
    for ex in examples:
        if "_turns" not in ex:
            out.append(ex)
            continue
        for path, seconds in zip(ex["_audio_paths"], ex["_durations"]):
            out.append({"task": "asr", "text": "", "_audio_path": path, "_duration": seconds,
                        **{k: ex[k] for k in ("_manifest", "_line") if k in ex}})
    return out


def autocast_dtype(precision: str) -> torch.dtype | None:
    """A Lightning precision ("bf16-mixed", "16-mixed", "32-true", ...) -> the dtype its forward passes compute in,
    or None for full precision."""
    return {"bf16": torch.bfloat16, "16": torch.float16}.get(precision.split("-")[0])


def tower_fingerprint(model, dtype: torch.dtype | None = None) -> str:
    """sha1 over the cached part of the audio tower (all of it, or the frozen layers below the trained top ones),
    the pooling/padding settings and the autocast dtype (`dtype`, None: full precision): features are valid for
    exactly these."""
    key = f"{model.pool_stride}|{model.audio_padding}|{model.cached_layers}" + (f"|{dtype}" if dtype else "")
    key += f"|{model.tower}" if model.tower != "whisper" else ""  # the pooling order and edge frames differ
    h = hashlib.sha1(key.encode())
    for name, t in sorted(model.audio_tower.state_dict().items()):
        if not model.cached_weight(name):
            continue  # trained weights: not part of what the cache holds
        h.update(name.encode())
        h.update(t.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:12]


class FeatureStore:
    """Pooled, pre-projector features per clip, kept in memory and in one file per set of clips."""
    def __init__(self, folder: str | Path, dtype: torch.dtype | None = None):
        self.folder = Path(folder)
        self.dtype = dtype  # the autocast dtype clips are encoded under (None: full precision)
        self.features: dict[str, tuple[torch.Tensor, int]] = {}  # key -> ((T_audio, d_audio) f16, mel frames)

    @classmethod
    def for_model(cls, model, root: str | Path = "data/features", dtype: torch.dtype | None = None) -> "FeatureStore":
        return cls(Path(root) / tower_fingerprint(model, dtype), dtype)

    def __contains__(self, ex: Example) -> bool:
        return all(clip_key(c) in self.features for c in clips_of([ex]))

    def __getitem__(self, ex: Example) -> tuple[torch.Tensor, int]:
        """-> (features (T_audio, d_audio) float32, mel frames)."""
        h, n = self.features[clip_key(ex)]
        return h.float(), n

    def ensure(self, model, examples: list[Example], batch_seconds: float = 120.0, progress: bool = True,
               skip_invalid: bool = False) -> None:
        """Load or compute the features of every clip in `examples`; newly computed ones are saved (atomically).
        With `skip_invalid`, a clip that fails to decode is logged and left out (check with `ex in store`)."""
        examples = clips_of(examples)
        keys = sorted({clip_key(ex) for ex in examples})
        digest = hashlib.sha1("\n".join(keys).encode()).hexdigest()[:12]
        path = self.folder / f"{digest}.pt"
        if path.is_file():
            self.features.update(torch.load(path, weights_only=True))
        first = {}
        for ex in examples:
            first.setdefault(clip_key(ex), ex)
        todo = [first[k] for k in keys if k not in self.features]
        if not todo:
            return
        if progress:  # also when the bar below is off (output not a terminal): say what the wait is
            print(f"[qa-lab] encoding {len(todo)} clips once with the frozen audio tower (cache: {self.folder})",
                  flush=True)
        computed = encode_clips(model, todo, batch_seconds, progress, skip_invalid, self.dtype)
        self.features.update(computed)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        torch.save({k: self.features[k] for k in keys if k in self.features}, tmp)
        tmp.replace(path)


@torch.no_grad()
def encode_clips(model, examples: list[Example], batch_seconds: float = 120.0, progress: bool = True,
                 skip_invalid: bool = False, dtype: torch.dtype | None = None) -> dict[str, tuple[torch.Tensor, int]]:
    """Run the (frozen) audio tower over each clip once, in duration-sorted batches -> {key: (features, mel frames)};
    under autocast to `dtype` when given (a mixed-precision run's; CPUs with bf16 matmuls run it several times faster).

    Clips load and collate exactly as training's do (AudioTextDataset, Collator), errors naming the manifest line;
    with `skip_invalid` a clip that fails to decode is logged and has no entry."""
    was_training = model.training
    model.eval()
    device = next(model.audio_tower.parameters()).device
    ds = AudioTextDataset(examples, model.tokenizer, audio_padding=model.front, with_target=False,
                          skip_invalid=skip_invalid, refuse_silent=True)  # a silent clip, as training refuses it
    collate = Collator(model.tokenizer, model.pool_stride, train=False, markers=model.front.markers)
    out = {}
    with tqdm(total=len(examples), desc="encoding clips (frozen encoder, cached)", unit="clip",
              disable=not progress, mininterval=2.0) as bar:  # shown in a log file too: minutes of work
        for idx in eval_batches(ds.durations(), batch_seconds, 64):
            items = [(i, ds[i]) for i in idx]
            idx = [i for i, it in items if it is not None]
            bar.update(len(items) - len(idx))
            if not idx:
                continue
            batch = collate([it for _, it in items if it is not None])
            lengths = batch["mel_lengths"]
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                h, n = model.cache_features(batch["mel"].to(device), lengths.to(device))  # (B, T, d_audio), (B,)
            for b, i in enumerate(idx):
                out[clip_key(examples[i])] = (h[b, :int(n[b])].to(torch.float16).cpu().clone(), int(lengths[b]))
            bar.update(len(idx))
    model.train(was_training)
    return out
