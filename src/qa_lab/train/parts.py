"""Pretrained parts for presets without checkpoints: a Whisper encoder trained on world ASR (CTC), an LLM on world text.

The paper's arms start from pretrained Whisper and Qwen; the kit's small scales have no published checkpoints,
so it makes its own once and caches them. Every arm and seed of an ablation then loads the same files:

    p = pretrain_parts(PartsSpec())                   # data/parts/tiny-<hash>/{encoder,llm,tokenizer,parts.json}
    cfg = load_config("base", parts_overrides(p))   # model.audio_encoder=<p>/encoder model.language_model=<p>/llm
    parts_hash(p)                                    # one sha256 over the files: what run folders record

Determinism: the parts train on a world of their own (seed PARTS_WORLD_SEED + spec.seed, so never the exact
clips an experiment trains on; test voices and sentences are unseen either way), with seeded init and batch
order, on a fixed number of CPU threads (PartsSpec.threads: float sums depend on it). On CPU two builds of one
spec with the same torch build give identical bytes; other hardware (a GPU, another CPU kernel set) may round
differently, which is why the cache is built once and run folders record parts_hash.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm
from transformers import AutoModelForCausalLM, Qwen2Config, WhisperConfig, WhisperModel
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from qa_lab.config import WORLD_SIZES, PartsRecipe, WorldConfig
from qa_lab.core.encoder import encode_real, encode_top
from qa_lab.core.model import load_whisper_encoder
from qa_lab.core.tokenizer import load_tokenizer, tiny_tokenizer
from qa_lab.data.audio import load_audio, log_mel
from qa_lab.data.cache import COMPLETE, building, is_complete
from qa_lab.frames import IGNORE, encoder_lengths
from qa_lab.presets import PRESETS
from qa_lab.prompts.tasks import target
from qa_lab.train.callbacks import ProgressLine
from qa_lab.train.module import warmup_cosine
from qa_lab.train.quiet import quiet_libraries
from qa_lab.world import builder as world

PARTS_VERSION = 2  # bump when pretraining changes what a spec produces: part of the cache key
PARTS_WORLD_SEED = 1_000_003  # world seed offset: experiments' worlds use seeds 0, 1, 2 ...
ASR_TASKS = ("asr", "asr_noise")  # the encoder's CTC data: plain transcripts, clean and over backgrounds
MAX_TEXT_TOKENS = 512
_META = "parts.json"
_PARTS = ("encoder", "llm", "tokenizer")


@dataclass
class PartsSpec(PartsRecipe):
    """Everything that determines the parts' bytes (hashed into the cache folder name): the recipe plus these."""
    preset: str = "tiny"
    """Architecture from qa_lab.presets; must be one without checkpoint ids (tiny)."""
    seed: int = 0
    """Seeds initialisation, batch order and the pretraining world (PARTS_WORLD_SEED + seed)."""
    batch_size: int = 16
    """Texts per LLM step (clips per step: encoder_batch)."""
    lr: float = 2e-3
    """Peak AdamW learning rate (linear warm-up, cosine decay) for both parts."""
    threads: int = 1
    """CPU threads while training: float sums depend on it, so it is part of the key (1 is also the fastest
    on a small shared CPU)."""
    @classmethod
    def of(cls, preset: str, recipe: PartsRecipe) -> PartsSpec:
        """The spec a run with `model.preset=preset` and `parts` = recipe pretrains."""
        return cls(preset=preset, **{f.name: getattr(recipe, f.name) for f in fields(PartsRecipe)})

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"parts.preset={self.preset!r}: expected one of {', '.join(PRESETS)}")
        p = PRESETS[self.preset]
        if p.audio_encoder or p.language_model:
            raise ValueError(f"parts.preset={self.preset!r} has checkpoints ({p.audio_encoder}, {p.language_model}); "
                             "pretrained parts are made for presets without (e.g. tiny)")
        if self.encoder_layers < 0:
            raise ValueError(f"parts.encoder_layers={self.encoder_layers}: expected >= 0 (0 = every layer)")
        if self.encoder_layers and not self.encoder_from:
            raise ValueError("parts.encoder_layers needs parts.encoder_from (a real Whisper to adapt)")
        if self.encoder_clips < 1:
            raise ValueError(f"parts.encoder_clips={self.encoder_clips}: expected >= 1")
        if self.encoder_steps < 0:
            raise ValueError(f"parts.encoder_steps={self.encoder_steps}: expected >= 0 (0 = no encoder)")
        for key in ("llm_steps", "batch_size", "encoder_batch", "threads"):
            if getattr(self, key) < 1:
                raise ValueError(f"parts.{key}={getattr(self, key)}: expected >= 1")
        if not self.lr > 0:
            raise ValueError(f"parts.lr={self.lr}: expected > 0")
        if not 0 <= self.llm_copy < 1:
            raise ValueError(f"parts.llm_copy={self.llm_copy}: expected a share in [0, 1)")
        if self.world_size not in WORLD_SIZES:
            raise ValueError(f"parts.world_size={self.world_size!r}: expected one of {', '.join(WORLD_SIZES)}")
        allowed = {f.name for f in fields(WorldConfig)} - {"size", "out"}
        bad = sorted(set(self.world_overrides) - allowed)
        if bad:
            raise ValueError(f"parts.world_overrides: unknown key(s) {bad}; expected WorldConfig fields "
                             f"{', '.join(sorted(allowed))} (size is world_size; out is <parts out>/world)")
        self.world_config("unused")  # validates the values

    def world_config(self, out: str | Path) -> WorldConfig:
        return WorldConfig(size=self.world_size, out=str(out), **self.world_overrides)


# recipe keys added after PARTS_VERSION 2: left out of the key at these defaults, so older parts keep their hash
_LATER = {"llm_copy": 0.0, "encoder_batch": 16}


def parts_dir(spec: PartsSpec, out: str | Path = "data/parts") -> Path:
    """Where pretrain_parts puts (or finds) the parts for `spec`: <out>/<preset>-<hash>."""
    fields_ = {k: v for k, v in asdict(spec).items() if not (k in _LATER and v == _LATER[k])}
    key = {"version": PARTS_VERSION, "world_version": world.WORLD_VERSION, "spec": fields_}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    return Path(out) / f"{spec.preset}-{digest}"


# ---------------------------------------------------------------------------------------------
# data

def char_vocab() -> dict[str, int]:
    """CTC targets: every character the world can write -> 1..N (0 is the blank)."""
    chars = sorted(set("".join(world.corpus_text())) | {" "})
    return {c: i + 1 for i, c in enumerate(chars)}


def asr_clips(root: Path, split: str, vocab: dict[str, int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The world's ASR lines of `split` -> [(mel (n_mels, T), character ids (S,))]."""
    clips = []
    for ex in world.iter_examples(root, split, list(ASR_TASKS)):
        unknown = sorted(set(ex["text"]) - set(vocab))
        if unknown:
            raise ValueError(f"{root / split}.jsonl ({ex['clip']}): characters {unknown} are not in "
                             "world.corpus_text()")
        mel = torch.from_numpy(log_mel(load_audio(ex["audio"])))
        clips.append((mel, torch.tensor([vocab[c] for c in ex["text"]])))
    if not clips:
        raise ValueError(f"{root}: no {'/'.join(ASR_TASKS)} lines in {split}; the parts world needs the speech "
                         "generator")
    return clips


def world_texts(root: Path, split: str) -> list[str]:
    """Every plain target text of `split`: transcripts, translations, captions, questions, answers, labels (unique).

    Targets holding tag or time tokens (srwt, sed, grounding, note_analysis) are left out: the tag grammar is what
    the experiments teach, not what the LLM brings.
    """
    texts = []
    for ex in world.read_split(root, split):
        texts.append(target(ex))
        texts += ex.get("references", []) + [ex.get("question") or "", ex.get("source_text") or ""]
    return [t for t in dict.fromkeys(texts) if t.strip() and "<|" not in t]


def text_rows(tokenizer, texts: list[str]) -> list[list[int]]:
    """Texts -> token rows EOS + text + EOS (the leading EOS lets the first token be predicted too)."""
    eos = tokenizer.eos_token_id
    return [[eos, *tokenizer(t, add_special_tokens=False)["input_ids"][:MAX_TEXT_TOKENS], eos] for t in texts]


def copy_rows(seqs: list[list[int]], share: float, blank: int, seed: int) -> tuple[list[list[int]], list[int]]:
    """parts.llm_copy: turn about `share` of the rows (EOS + text + EOS) into EOS + spelled + EOS + text + EOS, where
    `spelled` is the text as a CTC over audio frames spells it: each token once or twice, 0-3 blanks before it.
    -> (rows, per row the number of leading tokens that carry no label: the spelled part)."""
    rng = random.Random(seed)
    rows, prefixes = [], []
    for row in seqs:
        if rng.random() >= share:
            rows.append(row)
            prefixes.append(0)
            continue
        text = row[1:-1]
        spelled = [t for tok in text for t in [blank] * rng.randint(0, 3) + [tok] * rng.randint(1, 2)]
        rows.append([row[0], *spelled, row[0], *text, row[-1]])
        prefixes.append(len(spelled) + 2)
    return rows, prefixes


def _order(n: int, steps: int, batch_size: int, generator: torch.Generator,
           lengths: list[int] | None = None) -> list[list[int]]:
    """`steps` batches of indices (at most n each) from seeded epochs of shuffled indices.

    With `lengths`, each pool of 8 batches is sorted by length before cutting (less padding), and the batches
    of an epoch are shuffled again.
    """
    b = min(batch_size, n)
    batches = []
    while len(batches) < steps:
        perm = torch.randperm(n, generator=generator).tolist()[:n // b * b]  # a ragged rest waits for a later epoch
        if lengths is not None:
            pool = 8 * b
            perm = [i for a in range(0, n, pool) for i in sorted(perm[a:a + pool], key=lambda i: lengths[i])]
        epoch = [perm[a:a + b] for a in range(0, len(perm), b)]
        if lengths is not None:
            epoch = [epoch[i] for i in torch.randperm(len(epoch), generator=generator).tolist()]
        batches += epoch
    return batches[:steps]


def _mel_batch(clips, idx, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> mel (B, n_mels, T_max), mel_lengths (B,), targets (sum S,), target_lengths (B,)."""
    mels = [clips[i][0] for i in idx]
    lengths = torch.tensor([m.shape[1] for m in mels])
    mel = torch.zeros(len(mels), mels[0].shape[0], int(lengths.max()))
    for b, m in enumerate(mels):
        mel[b, :, :m.shape[1]] = m
    targets = torch.cat([clips[i][1] for i in idx])
    target_lengths = torch.tensor([len(clips[i][1]) for i in idx])
    return mel.to(device), lengths.to(device), targets.to(device), target_lengths.to(device)


def _text_batch(seqs, idx, pad_id, device, prefixes: list[int] | None = None) -> dict:
    """Right-padded token rows with labels (IGNORE on padding and on each row's unlabelled prefix)."""
    rows = [seqs[i] for i in idx]
    L = max(map(len, rows))
    ids = torch.full((len(rows), L), pad_id)
    mask = torch.zeros(len(rows), L, dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, :len(r)] = torch.tensor(r)
        mask[b, :len(r)] = 1
    labels = ids.masked_fill(mask == 0, IGNORE)
    for b, i in enumerate(idx):
        if prefixes and prefixes[i]:
            labels[b, :prefixes[i]] = IGNORE
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


# ---------------------------------------------------------------------------------------------
# training

def ctc_loss(encoder, head: nn.Linear, mel, mel_lengths, targets, target_lengths, reduction: str = "mean"):
    """CTC on the encoder's real-length frames (as the kit encodes them); blank = 0."""
    logp = head(encode_real(encoder, mel, mel_lengths)).float().log_softmax(-1)  # (B, T_enc, C)
    return F.ctc_loss(logp.transpose(0, 1), targets, encoder_lengths(mel_lengths), target_lengths, blank=0,
                      reduction=reduction, zero_infinity=True)


class _Steps(L.LightningModule):
    """A part's training on Lightning's loop, the one every run uses: step s trains on `losses_of(s)` (the batch
    order is the caller's, seeded), AdamW, linear warm-up over the first tenth of the steps, cosine decay to 0 (the
    parts train once from scratch-like starts, so nothing is kept at the end as a run's 10 % floor is)."""
    def __init__(self, groups: list[dict], lr: float, steps: int, losses_of):
        super().__init__()
        self._groups, self._lr, self._steps, self._losses_of = groups, lr, steps, losses_of
        self.losses: list[float] = []

    def training_step(self, step: int, _) -> torch.Tensor:
        loss = self._losses_of(int(step))
        self.losses.append(float(loss.detach()))
        return loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self._groups, lr=self._lr, weight_decay=0.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(max(1, self._steps // 10), self._steps,
                                                                     from_zero=True))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def _optimise(params, lr, steps, losses_of, desc: str, progress: bool, device: str = "cpu") -> list[float]:
    """Train for `steps` steps on Lightning's loop (_Steps); `losses_of(step)` returns the step's loss (its modules
    already on `device`). -> per-step losses. `params`: tensors, or param-group dicts (each may name its own lr)."""
    quiet_libraries()
    groups = list(params)
    if groups and not isinstance(groups[0], dict):
        groups = [{"params": groups}]
    module = _Steps(groups, lr, steps, losses_of)
    trainer = L.Trainer(max_steps=steps, accelerator="cpu" if device == "cpu" else "gpu", devices=1,
                        gradient_clip_val=1.0, logger=False, enable_checkpointing=False,
                        callbacks=[ProgressLine(desc)] if progress else [], enable_progress_bar=progress,
                        enable_model_summary=False, num_sanity_val_steps=0)
    # its own generator: a DataLoader otherwise draws its base seed from the global RNG the losses may use
    trainer.fit(module, DataLoader(range(steps), batch_size=None, generator=torch.Generator()))
    return module.losses


def train_ctc(encoder, head: nn.Linear, clips, steps: int, batch_size: int, lr: float, seed: int,
              device: str = "cpu", progress: bool = True, encoder_lr: float | None = None) -> list[float]:
    """Train encoder (at `encoder_lr`, default lr) + CTC head (at lr) on [(mel, char ids)] clips; the sinusoidal
    positions stay fixed. -> per-step loss."""
    encoder.train().to(device)
    head.train().to(device)
    encoder.embed_positions.requires_grad_(False)  # Whisper's sinusoids: the kit never trains them either
    batches = _order(len(clips), steps, batch_size, torch.Generator().manual_seed(seed),
                     lengths=[mel.shape[1] for mel, _ in clips])
    groups = [{"params": [p for p in encoder.parameters() if p.requires_grad], "lr": encoder_lr or lr},
              {"params": list(head.parameters()), "lr": lr}]
    return _optimise(groups, lr, steps, lambda s: ctc_loss(encoder, head, *_mel_batch(clips, batches[s], device)),
                     "encoder (CTC)", progress, device)


def train_ctc_top(encoder, head: nn.Linear, clips, n_top: int, steps: int, batch_size: int, lr: float, seed: int,
                  device: str = "cpu", progress: bool = True, encoder_lr: float | None = None) -> list[float]:
    """Train the top `n_top` layers, the final norm (at `encoder_lr`, default lr) and the CTC head (at lr) of a
    pretrained encoder on [(mel, char ids)]; the layers below stay frozen and run once per clip (their output is kept
    in memory). -> per-step loss."""
    k = len(encoder.layers) - n_top
    encoder.requires_grad_(False).eval().to(device)
    head.train().to(device)
    with torch.no_grad():
        bottom = [encode_real(encoder, mel[None].to(device), torch.tensor([mel.shape[1]], device=device), k)[0]
                  for mel, _ in tqdm(clips, desc="encoder bottom (frozen, once)", disable=not progress,
                                     mininterval=2.0)]
    top = [*encoder.layers[k:].parameters(), *encoder.layer_norm.parameters()]
    for p in top:
        p.requires_grad_(True)
    encoder.layers[k:].train()
    batches = _order(len(clips), steps, batch_size, torch.Generator().manual_seed(seed),
                     lengths=[len(h) for h in bottom])

    def loss(step: int) -> torch.Tensor:
        idx = batches[step]
        n = torch.tensor([len(bottom[i]) for i in idx], device=device)
        x = nn.utils.rnn.pad_sequence([bottom[i] for i in idx], batch_first=True)
        logp = head(encode_top(encoder, x, n, k)).float().log_softmax(-1)
        targets = torch.cat([clips[i][1] for i in idx]).to(device)
        target_lengths = torch.tensor([len(clips[i][1]) for i in idx], device=device)
        return F.ctc_loss(logp.transpose(0, 1), targets, n, target_lengths, blank=0, zero_infinity=True)

    groups = [{"params": top, "lr": encoder_lr or lr}, {"params": list(head.parameters()), "lr": lr}]
    return _optimise(groups, lr, steps, loss, "encoder top (CTC)", progress, device)


def train_lm(llm, seqs: list[list[int]], pad_id: int, steps: int, batch_size: int, lr: float, seed: int,
             device: str = "cpu", progress: bool = True, prefixes: list[int] | None = None) -> list[float]:
    """Next-token training of a causal LM on token rows (each EOS + text + EOS; `prefixes`: leading tokens per row
    without a label, as copy_rows makes). -> per-step loss."""
    llm.train().to(device)
    batches = _order(len(seqs), steps, batch_size, torch.Generator().manual_seed(seed))
    return _optimise(llm.parameters(), lr, steps,
                     lambda s: llm(**_text_batch(seqs, batches[s], pad_id, device, prefixes), use_cache=False).loss,
                     "llm (next token)", progress, device)


@torch.no_grad()
def eval_ctc(encoder, head, clips, batch_size: int = 16, device: str = "cpu") -> float:
    """Mean per-character CTC loss over `clips` (each clip's loss / its transcript length, averaged)."""
    encoder.eval()
    head.eval()
    total = 0.0
    for a in range(0, len(clips), batch_size):
        mel, ml, tg, tl = _mel_batch(clips, range(a, min(a + batch_size, len(clips))), device)
        total += float((ctc_loss(encoder, head, mel, ml, tg, tl, reduction="none") / tl).sum())
    return total / len(clips)


@torch.no_grad()
def eval_lm(llm, seqs, pad_id: int, batch_size: int = 16, device: str = "cpu") -> float:
    """Mean next-token loss over every predicted token of `seqs`."""
    llm.eval()
    loss_sum, n = 0.0, 0
    for a in range(0, len(seqs), batch_size):
        batch = _text_batch(seqs, range(a, min(a + batch_size, len(seqs))), pad_id, device)
        k = int((batch["labels"][:, 1:] != IGNORE).sum())
        loss_sum += float(llm(**batch, use_cache=False).loss) * k
        n += k
    return loss_sum / max(n, 1)


def _summary(losses: list[float]) -> list[float]:
    """[first step, mean of the last tenth of the steps]: the batch loss before any update, and where it ended."""
    k = max(1, len(losses) // 10)
    return [round(losses[0], 4), round(sum(losses[-k:]) / k, 4)]


# ---------------------------------------------------------------------------------------------
# building and checking

def _whisper_with(encoder, encoder_config: dict):
    """A WhisperModel around the trained encoder, with a one-layer random decoder the kit never uses."""
    cfg = WhisperConfig(**encoder_config | dict(
        decoder_layers=1, decoder_attention_heads=encoder.config.encoder_attention_heads, decoder_ffn_dim=64,
        vocab_size=4, max_target_positions=4, pad_token_id=0, bos_token_id=1, eos_token_id=1,
        decoder_start_token_id=1, suppress_tokens=None, begin_suppress_tokens=None))
    model = WhisperModel(cfg)
    model.encoder.load_state_dict(encoder.state_dict())
    return model


def _file_hashes(root: Path) -> dict[str, str]:
    out = {}
    for part in _PARTS:
        for p in sorted((root / part).rglob("*")):
            if p.is_file():
                with p.open("rb") as f:
                    out[p.relative_to(root).as_posix()] = hashlib.file_digest(f, "sha256").hexdigest()
    return out


def pretrain_parts(spec: PartsSpec, out: str | Path = "data/parts", progress: bool = True) -> Path:
    """Pretrain (or return the cached) parts for `spec` -> <out>/<preset>-<hash>/ with encoder/, llm/, tokenizer/.

    encoder/: a WhisperModel folder whose encoder was trained by CTC on the world's ASR lines (head dropped).
    llm/: the causal LM trained on the world's texts, with tiny_tokenizer() saved beside it (the kit loads the
    tokenizer from the LLM's folder, as for any hub LLM); tokenizer/: the same tokenizer files on their own.
    parts.json: the spec, each file's sha256, losses (train: [first step, last tenth]; val: [before, after]), seconds.
    Built in a temporary folder renamed at the end; a folder with its COMPLETE marker is returned as is.
    """
    final = parts_dir(spec, out)
    if is_complete(final):
        return final
    t0 = time.time()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    preset = PRESETS[spec.preset]
    wseed = PARTS_WORLD_SEED + spec.seed
    root = world.build_world(spec.world_config(Path(out) / "world"), wseed, progress=progress)
    t_world = time.time()
    threads = torch.get_num_threads()
    torch.set_num_threads(spec.threads)
    try:
        with building(final) as tmp:
            clips, enc_losses, enc_val = [], [], []
            if spec.encoder_steps:  # 0: the runs bring a real Whisper (model.audio_encoder), no encoder is made
                vocab = char_vocab()
                speech = root
                if spec.encoder_from:  # its own world: many speech clips, without building every generator's
                    wc = replace(spec.world_config(Path(out) / "world"), n_train=spec.encoder_clips)
                    speech = world.build_world(wc, wseed, tasks=["asr"], progress=progress)
                clips, val_clips = asr_clips(speech, "train", vocab), asr_clips(speech, "val", vocab)
                torch.manual_seed(spec.seed)
                if spec.encoder_from:
                    encoder = load_whisper_encoder(spec.encoder_from)
                    c = encoder.config
                    encoder_config = {k: getattr(c, k) for k in (
                        "num_mel_bins", "d_model", "encoder_layers", "encoder_attention_heads", "encoder_ffn_dim",
                        "max_source_positions", "activation_function", "scale_embedding", "dropout",
                        "attention_dropout", "activation_dropout")}
                else:
                    encoder_config = preset.encoder_config
                    encoder = WhisperEncoder(WhisperConfig(**encoder_config))
                head = nn.Linear(encoder.config.d_model, len(vocab) + 1)
                encoder.to(device)
                head.to(device)
                enc_val = [eval_ctc(encoder, head, val_clips, spec.batch_size, device)]
                if spec.encoder_from and spec.encoder_layers:
                    enc_losses = train_ctc_top(encoder, head, clips, spec.encoder_layers, spec.encoder_steps,
                                               spec.encoder_batch, spec.lr, spec.seed, device, progress,
                                               encoder_lr=spec.encoder_lr)
                else:
                    enc_losses = train_ctc(encoder, head, clips, spec.encoder_steps, spec.encoder_batch, spec.lr,
                                           spec.seed, device, progress,
                                           encoder_lr=spec.encoder_lr if spec.encoder_from else None)
                enc_val.append(eval_ctc(encoder, head, val_clips, spec.batch_size, device))
                _whisper_with(encoder.cpu(), encoder_config).save_pretrained(tmp / "encoder")
            t_enc = time.time()

            tiny = tiny_tokenizer()
            llm_config = Qwen2Config(vocab_size=len(tiny), bos_token_id=tiny.eos_token_id,
                                     eos_token_id=tiny.eos_token_id, pad_token_id=tiny.pad_token_id, **preset.llm_config)
            for part in ("llm", "tokenizer"):
                tiny.save_pretrained(tmp / part)
            llm_config.save_pretrained(tmp / "llm")
            # Train on the ids the kit will feed: its own loader on this folder. transformers loads any qwen2 folder
            # as Qwen2Tokenizer, whose pre-tokenizer splits numbers digit by digit ("en-01"), unlike tiny_tokenizer().
            tok = load_tokenizer(tmp / "llm")
            if tok.get_vocab() != tiny.get_vocab():
                raise RuntimeError(f"{tmp / 'llm'}: the reloaded tokenizer's vocabulary differs from tiny_tokenizer()")
            seqs, val_seqs = [text_rows(tok, world_texts(root, s)) for s in ("train", "val")]
            torch.manual_seed(spec.seed)
            llm = AutoModelForCausalLM.from_config(llm_config).to(device)
            llm_val = [eval_lm(llm, val_seqs, tok.pad_token_id, spec.batch_size, device)]
            rows, prefixes = copy_rows(seqs, spec.llm_copy, tok.pad_token_id, spec.seed)
            llm_losses = train_lm(llm, rows, tok.pad_token_id, spec.llm_steps, spec.batch_size, spec.lr, spec.seed,
                                  device, progress, prefixes)
            llm_val.append(eval_lm(llm, val_seqs, tok.pad_token_id, spec.batch_size, device))
            llm.cpu().save_pretrained(tmp / "llm")
            t_llm = time.time()

            meta = {
                "spec": asdict(spec), "version": PARTS_VERSION,
                "world": {"folder": root.name, "seed": wseed, "train_clips": len(clips), "train_texts": len(seqs)},
                "sha256": _file_hashes(tmp),
                "encoder_ctc_loss": _summary(enc_losses) if enc_losses else None,
                "encoder_val_ctc_loss": [round(x, 4) for x in enc_val] or None,
                "llm_loss": _summary(llm_losses), "llm_val_loss": [round(x, 4) for x in llm_val],
                "seconds": {"world": round(t_world - t0, 1), "encoder": round(t_enc - t_world, 1),
                            "llm": round(t_llm - t_enc, 1), "total": round(time.time() - t0, 1)},
                "device": device, "torch": torch.__version__,
            }
            (tmp / _META).write_text(json.dumps(meta, indent=1) + "\n")
    finally:
        torch.set_num_threads(threads)
    return final


def _meta(path: str | Path) -> dict:
    path = Path(path)
    if not is_complete(path) or not (path / _META).is_file():
        raise FileNotFoundError(f"{path}: not a complete parts folder (no {COMPLETE} / {_META}); "
                                "make it with pretrain_parts")
    return json.loads((path / _META).read_text())


def parts_overrides(path: str | Path) -> list[str]:
    """The key=value overrides that make an experiment start from these parts (absolute paths)."""
    _meta(path)
    p = Path(path).resolve()
    return [f"model.audio_encoder={p / 'encoder'}", f"model.language_model={p / 'llm'}"]


def parts_hash(path: str | Path) -> str:
    """One sha256 over parts.json's file hashes: what run folders record (verify() checks the files match)."""
    hashes = _meta(path)["sha256"]
    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()


def verify(path: str | Path) -> None:
    """Recompute every file's sha256; ValueError naming each file that changed, vanished or appeared."""
    path = Path(path)
    want, have = _meta(path)["sha256"], _file_hashes(path)
    bad = [f"{path / f}: {'missing' if f not in have else 'bytes changed'}" for f in want if have.get(f) != want[f]]
    bad += [f"{path / f}: not in {_META}" for f in have if f not in want]
    if bad:
        raise ValueError(f"{path}: parts differ from {_META}:\n  " + "\n  ".join(bad))
