"""AudioLLM: Whisper encoder -> average pool -> projector -> spliced between <audio></audio> in a causal LLM."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import AutoConfig, LogitsProcessorList, PreTrainedModel, WhisperModel
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from qa_lab.core.convert import ensure_whisper
from qa_lab.core.ctc import CTCPrefixScorer
from qa_lab.core.encoder import MEL_FRAMES_30S, encode_pad30, encode_pad30_masked, encode_real, encode_top
from qa_lab.core.tokenizer import chat_token_ids, tag_token_ids
from qa_lab.data.audio import AudioFront
from qa_lab.frames import HOP, IGNORE, SAMPLE_RATE, encoder_lengths, pooled_lengths
from qa_lab.prompts import tags
from qa_lab.prompts.tags import TIME_TOKENS


class TokenProjector(nn.Module):
    """model.projector=tokens: each audio frame enters the LLM as the token it most likely spells.

    Scores every frame against the LLM's input embedding table (logits = to_token(h) @ E^T, which the auxiliary
    CTC trains at `model.ctc_layer=0`) and feeds the LLM softmax(logits) @ E: a frame that spells "cat" looks to
    the LLM like the token "cat", and a blank frame like the pad token. Answers then copy text they can match
    token for token, which the LLM's text pretraining can teach (`parts.llm_copy`). A zero-initialised linear
    residual, its norm capped at a token embedding's mean norm, carries what no token spells (sounds, voices)."""
    def __init__(self, d_audio: int, d_llm: int):
        super().__init__()
        self.to_token = nn.Linear(d_audio, d_llm)
        self.residual = nn.Linear(d_audio, d_llm)
        nn.init.zeros_(self.residual.weight)
        nn.init.zeros_(self.residual.bias)

    def forward(self, h: torch.Tensor, table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """h (..., d_audio), table (V, d_llm) -> (embeddings (..., d_llm), logits (..., V))."""
        logits = self.to_token(h) @ table.T
        residual = self.residual(h)
        # never louder than a token: left free, the residual grew to 58x the text's norm on tiny-cpu and the frames
        # stopped looking like tokens (experiments/results/listen-diagnosis, section 7)
        scale = table.detach().norm(dim=-1).mean()
        residual = residual * (scale / residual.norm(dim=-1, keepdim=True).clamp(min=float(scale)))
        return logits.softmax(-1).to(table.dtype) @ table + residual, logits


LOSS_CHUNK_ELEMENTS = 2**26  # fp32 logits per chunk of the loss (256 MiB): a 152k vocabulary, batch 4 -> 110 positions


def token_losses(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-token cross-entropy (B, T) in fp32, IGNORE targets 0. With a big vocabulary the fp32 copy of the logits,
    and the log-probabilities autograd keeps for backward, would each be B x T x V floats: past LOSS_CHUNK_ELEMENTS
    the loss runs over chunks of positions, each recomputed in backward (activation checkpointing), so only one
    chunk's fp32 copy exists at a time (as litgpt's chunked cross-entropy). Values agree with the one-chunk path to
    float rounding. The tiny models (4.4k tokens, batches of a few thousand positions) stay in one chunk."""
    def chunk_loss(lg: torch.Tensor, tg: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(lg.float().transpose(1, 2), tg, ignore_index=IGNORE, reduction="none")

    B, T, V = logits.shape
    per = max(1, LOSS_CHUNK_ELEMENTS // max(B * V, 1))
    if T <= per:
        return chunk_loss(logits, target)
    from torch.utils.checkpoint import checkpoint  # looked up per call: test_model patches it on torch.utils.checkpoint
    grad = torch.is_grad_enabled() and logits.requires_grad
    parts = [checkpoint(chunk_loss, lg, tg, use_reentrant=False) if grad else chunk_loss(lg, tg)
             for lg, tg in zip(logits.split(per, dim=1), target.split(per, dim=1))]
    return torch.cat(parts, dim=1)


MAX_CLIP_CODES = 9  # model.clip_codes: clips 1..9 of a row get their own number's code; later ones share the 9th's


def _add_at_scale(feats: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """feats (N, T, d) plus codes (broadcast to it) scaled to each frame's own norm."""
    return feats + codes * (feats.norm(dim=-1, keepdim=True).detach() / codes.norm(dim=-1, keepdim=True))


class AudioLLM(nn.Module):
    """Plain PyTorch: no Lightning. Parts are named as in transformers' Qwen2-Audio so LoRA targets match."""
    def __init__(self, audio_tower: WhisperEncoder, language_model: PreTrainedModel, tokenizer,
                 audio_padding: str = "real", projector: str = "linear", pool_stride: int = 2,
                 ctc_weight: float = 0.0, ctc_layer: int | None = None, train_encoder_layers: int = 0,
                 frame_times: bool = False, audio_norm: bool = False, tower: str = "whisper",
                 clip_codes: bool = False, time_sigma: float = 0.0, audio_positions: str = "sequential",
                 time_pointer: bool = False):
        super().__init__()
        if tower not in ("whisper", "qwen2-audio"):
            raise ValueError(f"tower={tower!r}: expected whisper or qwen2-audio")
        if tower == "qwen2-audio" and pool_stride != 2:
            raise ValueError(f"model.pool_stride={pool_stride}: a Qwen2-Audio tower pools by 2 (its AvgPool1d)")
        # whisper: the kit's arrangement (final norm, then pooling). qwen2-audio: Qwen2-Audio's (pooling, then the
        # norm), 128 mel bins and its processor's frame count (qa_lab.data.audio.AudioFront)
        self.tower = tower
        n_enc = len(audio_tower.layers)
        if not 0 <= train_encoder_layers <= n_enc:
            raise ValueError(f"model.train_encoder_layers={train_encoder_layers}: the audio tower has {n_enc} layers")
        if train_encoder_layers and audio_padding == "pad30":
            raise ValueError("model.train_encoder_layers needs model.audio_padding=real (its cache is per clip length)")
        self.train_encoder_layers = train_encoder_layers
        if audio_positions not in ("sequential", "time"):
            raise ValueError(f"audio_positions={audio_positions!r}: expected sequential or time")
        self.audio_positions = audio_positions
        self.frame_times = frame_times
        self.time_sigma = time_sigma
        if frame_times or time_sigma > 0 or time_pointer:  # the time tokens' ids in time order
            self.register_buffer("time_ids", torch.tensor(tokenizer.convert_tokens_to_ids(list(TIME_TOKENS))),
                                 persistent=False)
        self.clip_codes = clip_codes
        if clip_codes:  # the token of each clip number as a text writes it alone ("2"): its last token
            ids = [tokenizer(str(k), add_special_tokens=False)["input_ids"][-1] for k in range(1, MAX_CLIP_CODES + 1)]
            self.register_buffer("clip_ids", torch.tensor(ids), persistent=False)
        self.ctc_weight = ctc_weight
        n_layers = language_model.config.num_hidden_layers
        if ctc_layer is not None and not 0 <= ctc_layer <= n_layers:
            raise ValueError(f"model.ctc_layer={ctc_layer}: the language model has layers 1..{n_layers} "
                             "(0 = the audio embeddings at its input)")
        self.ctc_layer = n_layers if ctc_layer is None else ctc_layer
        self.audio_tower = audio_tower
        self.language_model = language_model
        self.tokenizer = tokenizer
        self.audio_padding = audio_padding
        self.pool_stride = pool_stride
        d_audio = audio_tower.config.d_model
        d_llm = language_model.get_input_embeddings().embedding_dim
        if projector == "linear":
            self.projector = nn.Linear(d_audio, d_llm)
        elif projector == "tokens":
            self.projector = TokenProjector(d_audio, d_llm)
        else:
            self.projector = nn.Sequential(nn.Linear(d_audio, d_llm), nn.GELU(), nn.Linear(d_llm, d_llm))
        # model.time_pointer: a bilinear match of the answer's state against each frame's, added to the time tokens'
        # logits at that frame's times; zero at the start, so an untrained pointer leaves the LM head as it was
        self.time_pointer = nn.Linear(d_llm, d_llm, bias=False) if time_pointer else None
        if time_pointer:
            nn.init.zeros_(self.time_pointer.weight)
        if audio_norm and projector == "tokens":
            raise ValueError("model.audio_norm with model.projector=tokens: token frames are at the text's scale already")
        if audio_norm:
            # Audio frames at the scale of the text they sit among: RMS-normalised, gain started at the mean norm of
            # the LLM's token embeddings (model.audio_norm).
            norm = nn.RMSNorm(d_llm, eps=1e-6)
            text_norm = language_model.get_input_embeddings().weight.detach().float().norm(dim=1).mean()
            norm.weight.data.fill_(float(text_norm) / d_llm ** 0.5)
            self.projector = nn.Sequential(self.projector, norm)

    @property
    def front(self):
        """How clips become this model's mel features and audio slots (qa_lab.data.audio.AudioFront)."""
        markers = ((tags.QWEN2_AUDIO_BOS, tags.QWEN2_AUDIO_EOS) if self.tower == "qwen2-audio"
                   else (tags.AUDIO_START, tags.AUDIO_END))
        return AudioFront(self.audio_padding, self.tower, self.audio_tower.config.num_mel_bins, markers)

    def tag_ids(self) -> list[int]:
        """Ids of the tokens the kit added to the tokenizer, whose embedding rows train in every stage but full: every
        tag token, or for a released Qwen2-Audio (plain-text prompts) the tokens answers write."""
        ids = tag_token_ids(self.tokenizer, prompt_tags=self.tower == "whisper")
        return ids + [i for i in chat_token_ids(self.tokenizer) if i not in ids]  # dialogues' ChatML, last

    def _pool(self, h: torch.Tensor) -> torch.Tensor:
        if self.pool_stride == 1:
            return h
        return F.avg_pool1d(h.transpose(1, 2), self.pool_stride, self.pool_stride).transpose(1, 2)

    def _finish(self, h: torch.Tensor) -> torch.Tensor:
        """The tower's last layer's output (B, T2, d_audio) -> normed and pooled, in the tower's order."""
        norm = self.audio_tower.layer_norm
        return norm(self._pool(h)) if self.tower == "qwen2-audio" else self._pool(norm(h))

    def audio_features(self, mel: torch.Tensor, mel_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mel (B, n_mels, T), mel_lengths (B,) -> pooled encoder output (B, T_a, d_audio), before the projector,
        and its lengths (B,). What a frozen tower's feature cache stores (qa_lab.core.features)."""
        qwen2 = self.tower == "qwen2-audio"
        if self.audio_padding == "pad30" and qwen2:  # transformers' own masked 30 s path, pooled and normed
            h = encode_pad30_masked(self.audio_tower, mel, mel_lengths)  # (B, 750, d_audio)
        elif self.audio_padding == "pad30":
            h = self._pool(encode_pad30(self.audio_tower, mel))  # stock Whisper: (B, 1500, d_audio), normed
        else:
            h = self._finish(encode_real(self.audio_tower, mel, mel_lengths, edges=qwen2, norm=False))
        return h, pooled_lengths(mel_lengths, self.pool_stride)

    @property
    def cached_layers(self) -> int | None:
        """Encoder layers whose output the feature cache holds when only the top `train_encoder_layers` train
        (the cache then stores that output at 50 frames/s, before the norm and pooling); None: the cache holds
        `audio_features` (the whole tower frozen)."""
        return len(self.audio_tower.layers) - self.train_encoder_layers if self.train_encoder_layers else None

    def cached_weight(self, name: str) -> bool:
        """Whether the audio-tower weight `name` (a named_parameters / state_dict key) is part of what the feature
        cache holds: every weight, or with trained top layers only those of the frozen layers below them."""
        top = self.cached_layers
        return top is None or not (name.startswith("layer_norm.") or
                                   (name.startswith("layers.") and int(name.split(".")[1]) >= top))

    def cache_features(self, mel: torch.Tensor, mel_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What qa_lab.core.features caches for a clip: (B, T, d_audio) and lengths (B,); `from_cache` finishes it."""
        if self.cached_layers is None:
            return self.audio_features(mel, mel_lengths)
        h = encode_real(self.audio_tower, mel, mel_lengths, self.cached_layers, edges=self.tower == "qwen2-audio")
        return h, encoder_lengths(mel_lengths)

    def from_cache(self, h: torch.Tensor, mel_lengths: torch.Tensor) -> torch.Tensor:
        """Cached features (B, T, d_audio) -> what `audio_features` gives: the trained top layers, norm and pooling
        run here when the cache holds a lower layer's output."""
        if self.cached_layers is None:
            return h
        h = encode_top(self.audio_tower, h, encoder_lengths(mel_lengths), self.cached_layers, norm=False)
        return self._finish(h)

    def project(self, h: torch.Tensor, with_logits: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Pooled encoder output (B, T_a, d_audio) -> audio embeddings (B, T_a, d_llm) and, with `with_logits` (the
        CTC at the LLM's input, `ctc_layer` 0), each frame's logits over the vocabulary (B, T_a, V), else None."""
        table = self.language_model.get_input_embeddings().weight
        if isinstance(self.projector, TokenProjector):
            feats, logits = self.projector(h, table)  # the token mix needs the logits anyway
        else:
            feats = self.projector(h)
            logits = feats @ table.T if with_logits else None
        return feats, logits if with_logits else None

    def encode_audio(self, mel: torch.Tensor, mel_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mel (B, n_mels, T), mel_lengths (B,) -> audio embeddings (B, T_a, d_llm) and their lengths (B,)."""
        h, lengths = self.audio_features(mel, mel_lengths)
        return self.project(h)[0], lengths  # (B, T_a, d_llm)

    def embed(self, batch: dict, frame_logits: bool = False):
        """Token embeddings with the audio frames written into the `audio_mask` slots: (B, L, d_llm); with
        `frame_logits` (needs `ctc_layer` 0) also the frames' logits at the LLM's input (N_frames, V) in
        `audio_mask` order.

        The batch holds either mel features (`mel`) or cached audio-tower features (`audio_feats`, qa_lab.core.features)."""
        embeds = self.language_model.get_input_embeddings()(batch["input_ids"])
        if batch["mel_lengths"].numel() == 0:  # text-only dialogues
            if frame_logits:
                raise ValueError("frame logits need audio, and this batch has none (text-only dialogues)")
            return embeds
        if "audio_feats" in batch:
            h = self.from_cache(batch["audio_feats"].to(self.projector_dtype()), batch["mel_lengths"])
            lengths = pooled_lengths(batch["mel_lengths"], self.pool_stride)
        else:
            h, lengths = self.audio_features(batch["mel"], batch["mel_lengths"])
        if frame_logits and self.ctc_layer != 0:
            raise ValueError(f"frame logits at the LLM's input need model.ctc_layer=0 (it is {self.ctc_layer})")
        feats, logits = self.project(h, with_logits=frame_logits)
        if self.frame_times:
            # at each frame's own scale: the LLM's layers RMS-normalise their input, so a code much smaller than the
            # frame would be invisible to attention (tiny-cpu frames have 77x the text's norm)
            feats = _add_at_scale(feats, self.frame_time_embeddings(feats.shape[1]).to(feats.dtype))
        if self.clip_codes:
            if "clip_index" not in batch:
                raise ValueError("model.clip_codes needs the batch's clip_index (each clip's place in its row), which "
                                 "qa_lab.data.dataset.Collator writes")
            k = batch["clip_index"].to(feats.device).clamp(max=MAX_CLIP_CODES - 1)
            codes = self.language_model.get_input_embeddings()(self.clip_ids[k])[:, None]  # (N, 1, d_llm)
            feats = _add_at_scale(feats, codes.to(feats.dtype))
        valid = torch.arange(feats.shape[1], device=feats.device)[None, :] < lengths[:, None]
        slots = batch["audio_mask"]
        if int(slots.sum()) != int(valid.sum()):
            raise ValueError(f"batch has {int(slots.sum())} audio slots but the encoder gave "
                             f"{int(valid.sum())} frames; collate and model disagree on pool_stride")
        embeds = embeds.masked_scatter(slots[..., None], feats[valid].to(embeds.dtype))
        return (embeds, logits[valid].float()) if frame_logits else embeds

    @property
    def frame_seconds(self) -> float:
        """Seconds per audio frame the LLM sees: mel hop x conv2 stride (2) x pool stride."""
        return HOP / SAMPLE_RATE * 2 * self.pool_stride

    def frame_time_embeddings(self, n_frames: int) -> torch.Tensor:
        """(1, n_frames, d_llm): the input embedding of the time token at each frame's start (model.frame_times)."""
        step = round(self.frame_seconds * 100)  # time tokens are 0.01 s apart
        k = (torch.arange(n_frames, device=self.time_ids.device) * step).clamp(max=len(self.time_ids) - 1)
        return self.language_model.get_input_embeddings()(self.time_ids[k])[None]

    def position_ids(self, batch: dict) -> torch.Tensor:
        """(B, L) RoPE position ids of a left- or right-padded batch: padding at 0, each real token one past the one
        before it, except that with audio_positions=time the token after a clip's last frame sits a full 30 s clip's
        frames after the clip's first frame (model.audio_positions)."""
        mask = batch["attention_mask"].long()
        step = mask.clone()
        if self.audio_positions == "time":
            full = int(pooled_lengths(MEL_FRAMES_30S, self.pool_stride))
            for b, row in enumerate(batch["audio_mask"]):
                idx = row.nonzero()[:, 0]
                if not len(idx):
                    continue
                cut = (idx[1:] != idx[:-1] + 1).nonzero()[:, 0]  # one clip's frames end where the run breaks
                starts, ends = torch.cat([idx[:1], idx[cut + 1]]).tolist(), torch.cat([idx[cut], idx[-1:]]).tolist()
                for first, last in zip(starts, ends):
                    if last + 1 < step.shape[1]:
                        step[b, last + 1] += full - (last - first + 1)
        return (step.cumsum(-1) - 1).masked_fill(mask == 0, 0)

    def _time_positions(self, batch: dict) -> dict:
        """position_ids for the language model where they differ from its own count (audio_positions=time)."""
        return {"position_ids": self.position_ids(batch)} if self.audio_positions == "time" else {}

    def projector_dtype(self) -> torch.dtype:
        """dtype the projector computes in (cached features are cast to it)."""
        return next(self.projector.parameters()).dtype

    def forward(self, batch: dict) -> dict:
        """Teacher-forced loss on the output text only.

        Returns loss (mean over target tokens, plus ctc_weight x the CTC loss when that is on), and per example the
        summed token loss and token count (for per-task losses); with ctc_weight > 0 also `ctc` (the auxiliary loss).
        """
        labels = batch["labels"]  # (B, L), IGNORE outside the output text
        use_ctc = self.ctc_weight > 0 and self.training and int(batch.get("ctc_lengths", torch.zeros(1)).sum()) > 0
        at_input = use_ctc and self.ctc_layer == 0
        embeds, input_logits = self.embed(batch, frame_logits=True) if at_input else (self.embed(batch), None)
        has_label = (labels != IGNORE).any(0).nonzero()
        first = int(has_label[0]) if len(has_label) else labels.shape[1] - 1
        # Logits only where a label follows: the audio frames are most of the sequence and need none.
        keep = labels.shape[1] - max(first - 1, 0)
        point = self.time_pointer is not None and batch["mel_lengths"].numel() > 0
        out = self.language_model(inputs_embeds=embeds, attention_mask=batch["attention_mask"],
                                  **self._time_positions(batch), logits_to_keep=keep, use_cache=False,
                                  output_hidden_states=(use_ctc and not at_input) or point)
        logits = out.logits[:, :-1]  # (B, keep-1, V) predicting labels[:, L-keep+1:], in the LLM's dtype
        if point:
            last = out.hidden_states[-1]  # after the final norm: what the LM head reads
            keys, n_frames = self.frame_states(last, batch["audio_mask"])
            logits = self.point_times(logits, last[:, last.shape[1] - keep:-1], keys, n_frames)
        target = labels[:, labels.shape[1] - keep + 1:]
        tok_loss = token_losses(logits, target)
        if self.time_sigma > 0:
            tok_loss = self.soft_time_losses(logits, target, tok_loss)
        n_tokens = (target != IGNORE).sum(1)
        loss_sum = tok_loss.sum(1)
        loss = loss_sum.sum() / n_tokens.sum().clamp(min=1)
        result = {"loss": loss, "loss_sum": loss_sum, "n_tokens": n_tokens}
        if use_ctc:
            frames = input_logits if at_input else self.frame_logits(out.hidden_states, batch["audio_mask"])
            result["ctc"] = self.ctc_loss(frames, batch)
            result["loss"] = loss + self.ctc_weight * result["ctc"]
        return result

    @staticmethod
    def frame_states(last: torch.Tensor, audio_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's audio frames' states (B, T_max, d), zero past a row's own count, and the counts (B,)."""
        n = audio_mask.sum(1)
        keys = last.new_zeros(last.shape[0], max(int(n.max()), 1), last.shape[-1])
        keys[torch.arange(keys.shape[1], device=n.device)[None, :] < n[:, None]] = last[audio_mask]
        return keys, n

    def pointer_scores(self, h: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """model.time_pointer's match of each answer state h (B, Q, d) with each frame's state keys (B, T, d): (B, Q, T)."""
        return (self.time_pointer(h.to(self.time_pointer.weight.dtype)) @ keys.to(h.dtype).transpose(1, 2)
                ) / h.shape[-1] ** 0.5

    def point_times(self, logits: torch.Tensor, h: torch.Tensor, keys: torch.Tensor, n_frames: torch.Tensor) -> torch.Tensor:
        """model.time_pointer: logits (B, Q, V) with each time token's logit raised by how well the answer's state
        h (B, Q, d, what the LM head read) matches, through the pointer's learned bilinear form, the state of the
        audio frame at that time (keys, B x T frames of the row, in order; a row with several clips counts its frames
        on from the first clip's). Times past a row's last frame take its last frame's score."""
        scores = self.pointer_scores(h, keys)  # (B, Q, T)
        step = round(self.frame_seconds * 100)  # time tokens are 0.01 s apart
        grid = torch.arange(len(self.time_ids), device=h.device) // step  # (3001,) each time's frame
        frame = torch.minimum(grid[None], (n_frames.to(h.device) - 1).clamp(min=0)[:, None])  # (B, 3001)
        per_time = scores.gather(-1, frame[:, None].expand(-1, scores.shape[1], -1))  # (B, Q, 3001)
        return logits.index_add(-1, self.time_ids, per_time.to(logits.dtype))

    def soft_time_losses(self, logits: torch.Tensor, target: torch.Tensor, tok_loss: torch.Tensor) -> torch.Tensor:
        """tok_loss with each time-token target's cross-entropy replaced by KL(q || p): q a Gaussian over the time
        tokens around the target (model.time_sigma seconds), p the LM head's distribution over the whole vocabulary
        (mass on other tokens is lost, as the format demands)."""
        is_time = torch.isin(target, self.time_ids)
        if not is_time.any():
            return tok_loss
        order = self.time_ids.argsort()
        k = order[torch.searchsorted(self.time_ids[order], target[is_time])]  # each target's place in time order
        logp = logits[is_time].float().log_softmax(-1)[:, self.time_ids]  # (K, 3001)
        grid = torch.arange(len(self.time_ids), device=k.device, dtype=torch.float32)
        q = (-0.5 * ((grid[None] - k[:, None]) / (self.time_sigma * 100)) ** 2).softmax(-1)
        kl = (q * (q.clamp(min=1e-30).log() - logp)).sum(-1)
        return torch.where(is_time, torch.zeros_like(tok_loss).masked_scatter(is_time, kl), tok_loss)

    def frame_logits(self, hidden_states: tuple[torch.Tensor, ...], audio_mask: torch.Tensor) -> torch.Tensor:
        """The LM head's logits at every audio frame (N_frames, V), in `audio_mask` order, read from layer
        `ctc_layer` >= 1. transformers' hidden_states are (embeddings, layer 1, ..., layer n) with the last already
        through the final norm, so only a middle layer gets the norm here."""
        h = hidden_states[self.ctc_layer][audio_mask]
        if self.ctc_layer < len(hidden_states) - 1:
            h = self.language_model.get_decoder().norm(h)
        return self.language_model.get_output_embeddings()(h).float()

    def ctc_loss(self, frame_logits: torch.Tensor, batch: dict) -> torch.Tensor:
        """Auxiliary CTC: the LLM's outputs at the audio frames (N_frames, V) spell the clip's transcript (blank = pad);
        with `ctc_layer` 0 the frames' scores against the input embeddings do (the LLM's input spells it).

        It gives every frame a direct gradient towards what is said there, so a small LLM learns to read the audio
        long before its answers alone would teach it (measured: experiments/results/listen-diagnosis/README.md). Clips without a
        transcript (ctc_lengths 0) are left out."""
        mask = batch["audio_mask"]  # (B, L)
        n = mask.sum(1)
        frames = torch.zeros(mask.shape[0], int(n.max()), frame_logits.shape[-1], device=frame_logits.device)
        frames[torch.arange(int(n.max()), device=n.device)[None, :] < n[:, None]] = frame_logits
        logp = frames.log_softmax(-1).transpose(0, 1)  # (T, B, V)
        has = batch["ctc_lengths"] > 0
        starts = torch.cumsum(batch["ctc_lengths"], 0) - batch["ctc_lengths"]
        targets = torch.cat([batch["ctc_targets"][s:s + k] for s, k, h in
                             zip(starts.tolist(), batch["ctc_lengths"].tolist(), has.tolist()) if h])
        return F.ctc_loss(logp[:, has], targets, n[has], batch["ctc_lengths"][has],
                          blank=self.tokenizer.pad_token_id, reduction="mean", zero_infinity=True)

    @torch.no_grad()
    def frame_log_probs(self, batch: dict, embeds: torch.Tensor | None = None) -> list[torch.Tensor]:
        """CTC log-probabilities at each clip's audio frames (layer `ctc_layer`): one (T_i, V) tensor per clip.
        Positions count real tokens only, so left-padded (decoding) and right-padded batches agree."""
        split = batch["audio_mask"].sum(1).tolist()
        if self.ctc_layer == 0:  # read at the LLM's input: the LLM need not run
            return list(self.embed(batch, frame_logits=True)[1].log_softmax(-1).split(split))
        hidden = self.prompt_states(batch, self.embed(batch) if embeds is None else embeds)
        logp = self.frame_logits(hidden, batch["audio_mask"]).log_softmax(-1)
        return list(logp.split(split))

    @torch.no_grad()
    def prompt_states(self, batch: dict, embeds: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The language model's hidden states over a (left- or right-padded) prompt batch, every layer."""
        out = self.language_model(inputs_embeds=embeds, attention_mask=batch["attention_mask"],
                                  position_ids=self.position_ids(batch), logits_to_keep=1, output_hidden_states=True,
                                  use_cache=False)
        return out.hidden_states

    def generate(self, batch: dict, max_new_tokens: int = 128, num_beams: int = 1, ctc_weight: float = 0.0,
                 stop_ids: list[int] | tuple = (), ctc_silent: list[int] | tuple = (),
                 ctc_lead: list[int] | tuple = (), **generate_kwargs) -> list[list[int]]:
        """Batched decoding with the KV cache from left-padded prompts; returns new token ids per example, up to the
        end-of-sequence token or any of `stop_ids` (e.g. a dialogue turn's <|im_end|>).

        Greedy (num_beams=1) or beam search; ctc_weight > 0 decodes jointly with the CTC prefix scores of the
        model's own frames (qa_lab.core.ctc; for transcription prompts of a model trained with the CTC loss), with
        the tokens `ctc_silent` (an SRWT answer's time tokens) outside what the frames spell, and `ctc_lead` too as the
        answer's first spoken token (CTCPrefixScorer's `lead`). Other keyword arguments
        go to transformers' generate()."""
        embeds = self.embed(batch)
        tok = self.tokenizer
        mask = batch["attention_mask"]
        # never said: padding, which is also the CTC's blank (the LM head learns long blank runs at the audio frames,
        # and beam search's length normalisation then preferred all-blank answers, decoded as empty: 117 of 200 AQA
        # answers of one cpu-evidence run, listen-diagnosis section 9), and the table's rows no token owns
        never = [tok.pad_token_id] if tok.pad_token_id != tok.eos_token_id else []
        never += range(len(tok), self.language_model.config.get_text_config().vocab_size)
        if never:
            generate_kwargs.setdefault("suppress_tokens", never)
        if ctc_weight > 0:
            scorer = CTCPrefixScorer(self.frame_log_probs(batch, embeds), ctc_weight, blank=tok.pad_token_id,
                                     eos=tok.eos_token_id, num_beams=num_beams, silent=ctc_silent,
                                     lead=ctc_lead)
            generate_kwargs["logits_processor"] = LogitsProcessorList([*generate_kwargs.get("logits_processor", []), scorer])
        generate_kwargs.update(self._time_positions(batch))  # generate() goes on one position per new token
        hook = None
        if self.time_pointer is not None and batch["mel_lengths"].numel() > 0:
            # the frames' states come from the prompt alone (causal), so one pass before decoding gives the same keys
            # as teacher forcing; the LM head's output then gets the pointer's scores at every step (beams repeat rows)
            keys, n_frames = self.frame_states(self.prompt_states(batch, embeds)[-1], batch["audio_mask"])

            def add_pointer(module, inputs, logits):
                rep = logits.shape[0] // keys.shape[0]
                return self.point_times(logits, inputs[0], keys.repeat_interleave(rep, 0),
                                        n_frames.repeat_interleave(rep, 0))
            hook = self.language_model.get_output_embeddings().register_forward_hook(add_pointer)
        try:
            out = self.language_model.generate(
                inputs_embeds=embeds, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                num_beams=num_beams, eos_token_id=[tok.eos_token_id, *stop_ids] if stop_ids else tok.eos_token_id,
                pad_token_id=tok.pad_token_id, **generate_kwargs)
        finally:
            if hook is not None:
                hook.remove()
        stops = {tok.eos_token_id, *stop_ids}
        result = []
        for row in out.tolist():
            end = next((k for k, t in enumerate(row) if t in stops), len(row))
            result.append(row[:end])
        return result


PACKAGED = "packaged:"  # model.audio_encoder=packaged:tiny.en -> a Whisper shipped in a pip package (qa_lab.core.convert)


def load_whisper_encoder(name: str) -> WhisperEncoder:
    """The encoder half of a Whisper checkpoint (hub id, save_pretrained folder, or packaged:NAME)."""
    if name.startswith(PACKAGED):
        name = str(ensure_whisper(name.removeprefix(PACKAGED)))
    # transformers' own Whisper, never code the folder carries (trust_remote_code=False: no y/N prompt on stdin)
    config = AutoConfig.from_pretrained(name, trust_remote_code=False)
    if getattr(config, "model_type", None) != "whisper":
        raise ValueError(f"model.audio_encoder={name!r} is a {config.model_type!r} checkpoint, expected whisper")
    encoder = WhisperModel.from_pretrained(name, trust_remote_code=False).get_encoder()
    return encoder


def time_codes(n: int, d: int) -> torch.Tensor:
    """(n, d) sinusoidal codes of times 0, 0.01, ... s: periods from 0.04 s to 60 s, so nearby times look alike and
    a linear map can tell any two apart."""
    periods = 4 * 1500 ** (torch.arange(d // 2) / max(d // 2 - 1, 1))  # in 0.01 s steps
    angle = 2 * torch.pi * torch.arange(n)[:, None] / periods[None, :]
    codes = torch.cat([angle.sin(), angle.cos()], 1)
    return F.pad(codes, (0, d - codes.shape[1]))


@torch.no_grad()
def init_time_codes(llm: PreTrainedModel, tokenizer) -> None:
    """Write time_codes into the time tokens' rows of the input embeddings and (when untied) the LM head, at the mean
    norm of the other rows, so that a time token and the audio frame at that time (model.frame_times) share a code."""
    ids = torch.tensor(tokenizer.convert_tokens_to_ids(list(TIME_TOKENS)))
    tables = {id(m.weight): m.weight for m in (llm.get_input_embeddings(), llm.get_output_embeddings()) if m is not None}
    for w in tables.values():
        others = torch.ones(w.shape[0], dtype=torch.bool)
        others[ids] = False
        codes = time_codes(len(ids), w.shape[1])
        scale = w[others].float().norm(dim=1).mean() / codes.norm(dim=1).mean()
        w[ids] = (codes * scale).to(w.dtype)
