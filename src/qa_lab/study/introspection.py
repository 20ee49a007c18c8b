"""Inside the model on given clips: what the audio frames spell, where the answer attends, whether it listens.

    batch = batch_for(model, cfg, examples)            # a teacher-forced batch, as training collates it
    attention_to_audio(model, batch)                   # (T_out, T_audio) attention from output tokens to audio frames
    frame_transcripts(model, cfg, examples)            # what the LLM hears: greedy CTC reading at the audio frames
    listening(model, cfg, examples)                    # own vs swapped audio loss, norms, attention mass, frame WER
    dialogue_listening(model, cfg, dialogues)          # the same for a chat model's last answers, attention per clip

Plots live in qa_lab.study.plots (plot_attention_to_audio, plot_audio_frames, plot_word_times).
"""

from __future__ import annotations

import numpy as np
import torch

from qa_lab.data.dataset import AudioTextDataset, Collator
from qa_lab.eval.metrics import word_error_rate
from qa_lab.example import Example
from qa_lab.frames import IGNORE, pooled_lengths
from qa_lab.prompts import tags
from qa_lab.prompts.tasks import target, transcript


def batch_for(model, cfg, examples: list[Example], outputs: list[str] | None = None) -> dict:
    """A teacher-forced batch of manifest-style examples, as training collates it (right-padded, labels on the
    output only), on the model's device. The output of example i is its target text, or `outputs[i]` (e.g. the
    model's own decode) when given."""
    if outputs is not None and len(outputs) != len(examples):
        raise ValueError(f"batch_for: {len(examples)} examples but {len(outputs)} outputs")
    if outputs is not None and any("_turns" in ex for ex in examples):
        raise ValueError("batch_for: a dialogue is teacher-forced on its own assistant turns; outputs= is for "
                         "single-clip examples")
    exs = [{**ex, "_line": i + 1} if "_turns" in ex else  # a dialogue: its clips were found when it was read
           {**ex, "_audio_path": str(ex.get("_audio_path") or ex["audio"]), "_line": i + 1}
           for i, ex in enumerate(examples)]
    ds = AudioTextDataset(exs, model.tokenizer, cfg.tags.format, model.front, with_target=outputs is None,
                          srwt_spaces=cfg.tags.srwt_spaces)
    items = [ds[i] for i in range(len(ds))]
    if outputs is not None:
        for it, text in zip(items, outputs):
            it["target_ids"] = model.tokenizer(text, add_special_tokens=False)["input_ids"]
    batch = Collator(model.tokenizer, cfg.model.pool_stride, train=True, markers=model.front.markers)(items)
    device = next(model.parameters()).device
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


@torch.no_grad()
def audio_frames(model, batch: dict) -> list[np.ndarray]:
    """The audio frames the LLM reads (encoder output, pooled and projected): one (T_audio_i, d_llm) array per
    example, at 1 / (0.02 * pool_stride) frames per second (25/s by default)."""
    feats, lengths = model.encode_audio(batch["mel"], batch["mel_lengths"])  # (B, T_a, d_llm), (B,)
    return [f[:n].float().cpu().numpy() for f, n in zip(feats, lengths.tolist())]


def output_tokens(model, batch: dict) -> list[str]:
    """The output tokens of a one-example batch (the rows of attention_to_audio), EOS included."""
    labels = batch["labels"][0]
    return model.tokenizer.convert_ids_to_tokens(labels[labels != IGNORE].tolist())


@torch.no_grad()
def attention_to_audio(model, batch: dict, layers: list[int] | None = None) -> np.ndarray:
    """Attention from each output token to the audio frames of a one-example teacher-forced batch (batch_for):
    (T_out, T_audio), averaged over heads and `layers` (default: all).

    Row k is the attention of the position that predicts output token k (the one before it), so row 0 is the
    last prompt tag deciding the first output token; rows hold probability mass, summing to at most 1 over the
    audio. The LLM runs with eager attention for this call (sdpa returns no weights), then switches back."""
    if batch["input_ids"].shape[0] != 1:
        raise ValueError(f"attention_to_audio: expected a one-example batch, got {batch['input_ids'].shape[0]}")
    llm = model.language_model
    base = llm.get_base_model() if hasattr(llm, "get_base_model") else llm
    before = base.config._attn_implementation
    was_training = model.training
    model.eval()
    base.set_attn_implementation("eager")
    try:
        out = llm(inputs_embeds=model.embed(batch), attention_mask=batch["attention_mask"],
                  position_ids=model.position_ids(batch), output_attentions=True, use_cache=False)
    finally:
        base.set_attn_implementation(before)
        model.train(was_training)
    attn = out.attentions  # n_layers x (1, H, L, L)
    picked = [attn[i] for i in (layers if layers is not None else range(len(attn)))]
    mean = torch.stack([a[0].float() for a in picked]).mean((0, 1))  # (L, L)
    out_pos = (batch["labels"][0] != IGNORE).nonzero()[:, 0] - 1  # positions predicting each output token
    audio_pos = batch["audio_mask"][0].nonzero()[:, 0]
    return mean[out_pos][:, audio_pos].cpu().numpy()


@torch.no_grad()
def frame_transcripts(model, cfg, examples: list[Example], batch_size: int = 16) -> list[str]:
    """What the LLM hears: the greedy CTC reading of its outputs at each clip's audio frames (layer
    `model.ctc_layer`, best token per frame, repeats merged, blanks dropped). Meaningful for a model trained with
    the auxiliary CTC loss (model.ctc_weight > 0); compare it with the model's answers to tell a model that hears
    the words but does not say them from one that does not hear them."""
    tok = model.tokenizer
    was_training = model.training
    model.eval()
    texts = []
    for s in range(0, len(examples), batch_size):
        batch = batch_for(model, cfg, examples[s:s + batch_size], [""] * len(examples[s:s + batch_size]))
        for logp in model.frame_log_probs(batch):
            row = torch.unique_consecutive(logp.argmax(-1)).tolist()
            texts.append(tok.decode([i for i in row if i != tok.pad_token_id]).strip())
    model.train(was_training)
    return texts


def listening(model, cfg, examples: list[Example], max_attention_examples: int = 8) -> dict:
    """Does the model use the audio? Measured on teacher-forced held-out examples (manifest-style, with targets):

    loss_own / loss_swapped: answer loss (nats/token) with each clip's own audio, and with the audio rotated by one
    clip (every answer paired with another clip); a model that ignores the audio scores the same on both.
    audio_norm / text_norm: mean L2 norm of the projected audio frames and of the prompt's token embeddings (the
    LLM's input scale for each). attention_to_audio: per LLM layer, the mean attention mass that output positions
    put on audio frames (first `max_attention_examples` examples). frame_wer: word error rate of
    frame_transcripts against what is said in each clip (clips with a transcript; None without any): low frame_wer
    with a high answer WER means the model hears the words but does not copy them into its answers."""
    was_training = model.training
    model.eval()
    outputs = [target(ex, cfg.tags.srwt_spaces) for ex in examples]
    rotated = examples[1:] + examples[:1]

    def per_token(batch) -> float:
        out = model(batch)
        return float(out["loss_sum"].sum() / out["n_tokens"].sum().clamp(min=1))

    own = batch_for(model, cfg, examples, outputs)
    report = {"loss_own": per_token(own), "loss_swapped": per_token(batch_for(model, cfg, rotated, outputs))}
    frames = model.embed(own)[own["audio_mask"]]
    text = model.language_model.get_input_embeddings()(own["input_ids"])[own["attention_mask"].bool() & ~own["audio_mask"]]
    report["audio_norm"], report["text_norm"] = float(frames.norm(dim=-1).mean()), float(text.norm(dim=-1).mean())
    n_layers = model.language_model.config.num_hidden_layers
    mass = np.zeros(n_layers)
    k = min(max_attention_examples, len(examples))
    for i in range(k):
        one = batch_for(model, cfg, examples[i:i + 1], outputs[i:i + 1])
        mass += [attention_to_audio(model, one, [layer]).sum(1).mean() for layer in range(n_layers)]
    report["attention_to_audio"] = [round(float(m / k), 4) for m in mass]
    said = [(text, ex) for ex in examples if (text := transcript(ex))]
    report["frame_wer"] = (word_error_rate([t for t, _ in said], frame_transcripts(model, cfg, [ex for _, ex in said]))
                           if said else None)
    model.train(was_training)
    return report


def last_answer_only(batch: dict) -> dict:
    """A teacher-forced dialogue batch with labels on each row's last assistant turn alone (its text and
    <|im_end|>: the last run of labelled positions), the answer a decode is scored on."""
    labels = batch["labels"].clone()
    for row in labels:
        at = (row != IGNORE).nonzero()[:, 0]
        if len(at):
            gaps = (at[1:] - at[:-1] > 1).nonzero()[:, 0]
            start = int(at[int(gaps[-1]) + 1]) if len(gaps) else int(at[0])
            row[:start] = IGNORE
    return {**batch, "labels": labels}


def clip_attention(model, cfg, dialogue: dict, layers: list[int] | None = None) -> np.ndarray:
    """The attention mass a dialogue's last answer puts on each of its clips (n_clips,): attention_to_audio's rows
    for the answer's tokens, summed over each clip's frames, averaged over the tokens (heads and `layers`
    averaged). Sums to at most 1; the rest goes to text."""
    one = last_answer_only(batch_for(model, cfg, [dialogue]))
    att = attention_to_audio(model, one, layers)  # (T_answer, T_audio), the clips' frames in order
    frames = pooled_lengths(one["mel_lengths"], cfg.model.pool_stride).tolist()
    edges = np.cumsum([0, *frames])
    return np.array([att[:, a:b].sum(1).mean() for a, b in zip(edges[:-1], edges[1:])])


def dialogue_listening(model, cfg, dialogues: list[Example], max_attention_examples: int = 16) -> dict:
    """Does a chat model use the clips of held-out dialogues (read dialogue lines, each with its reference turns)?

    loss_own / loss_swapped: the last answer's loss (nats/token) teacher-forced with the dialogue's own clips, and
    with the clips of the next dialogue holding as many (a dialogue alone in its clip count keeps its own); a model
    that ignores the audio scores the same on both. audio_norm / text_norm: as in `listening`. attention_per_clip:
    the mean attention mass of the last answer on clip k (clip_attention; over the first `max_attention_examples`
    dialogues with k clips or more)."""
    was_training = model.training
    model.eval()
    groups: dict[int, list[int]] = {}
    for i, d in enumerate(dialogues):
        groups.setdefault(len(d["_audio_paths"]), []).append(i)
    swapped = list(dialogues)
    for idx in groups.values():
        for a, b in zip(idx, idx[1:] + idx[:1]):
            swapped[a] = {**dialogues[a], **{k: dialogues[b][k] for k in ("_audio_paths", "_durations", "_duration")}}

    def per_token(batch) -> float:
        out = model(last_answer_only(batch))
        return float(out["loss_sum"].sum() / out["n_tokens"].sum().clamp(min=1))

    own = batch_for(model, cfg, dialogues)
    report = {"loss_own": per_token(own), "loss_swapped": per_token(batch_for(model, cfg, swapped))}
    if own["audio_mask"].any():
        frames = model.embed(own)[own["audio_mask"]]
        report["audio_norm"] = float(frames.norm(dim=-1).mean())
    text = model.language_model.get_input_embeddings()(own["input_ids"])[own["attention_mask"].bool() & ~own["audio_mask"]]
    report["text_norm"] = float(text.norm(dim=-1).mean())
    per_clip: dict[int, list[float]] = {}
    for d in dialogues[:max_attention_examples]:
        if d["_audio_paths"]:
            for k, m in enumerate(clip_attention(model, cfg, d)):
                per_clip.setdefault(k, []).append(float(m))
    report["attention_per_clip"] = [round(float(np.mean(per_clip[k])), 4) for k in sorted(per_clip)]
    model.train(was_training)
    return report


@torch.no_grad()
def time_readout(model, cfg, examples: list[Example], window: float = 0.1, max_examples: int | None = None) -> dict:
    """Where a timed answer's time tokens come from, teacher-forced on held-out srwt / grounding examples (with
    targets), one record per answer position whose target is a time token:

    target: the target time (s); index: the time token's place in its answer (0 = first); clip_seconds: the clip's
    length; argmax: the time the LM head ranks first among the time tokens; expected: the mean time under its
    distribution over the time tokens; p_target: the probability of the exact target token; p_times: the
    probability mass on all time tokens (the format); attention_window: the attention mass (mean over heads and
    layers) on the audio frames within `window` s of the target, over the mass on all the clip's frames;
    attention_window_heads: the same per layer and head (n_layers x n_heads values per record: one head that finds
    the word is diluted in the mean); window_share: the share of the clip's frames within that window (what uniform
    attention would give);
    hidden: the last layer's hidden state at the position (rows of a linear probe, `probe_times`).
    Every field is a numpy array over the records; `clip` numbers the example each record came from."""
    was_training = model.training
    model.eval()
    time_ids = torch.tensor(model.tokenizer.convert_tokens_to_ids(list(tags.TIME_TOKENS)))
    seconds = torch.arange(len(time_ids), dtype=torch.float64) / 100
    rank = {int(t): k for k, t in enumerate(time_ids)}
    llm = model.language_model
    base = llm.get_base_model() if hasattr(llm, "get_base_model") else llm
    before = base.config._attn_implementation
    base.set_attn_implementation("eager")
    rows: dict[str, list] = {k: [] for k in ("clip", "target", "index", "clip_seconds", "argmax", "expected",
                                             "p_target", "p_times", "attention_window", "attention_window_heads",
                                             "window_share", "hidden")}
    try:
        for c, ex in enumerate(examples[:max_examples]):
            batch = batch_for(model, cfg, [ex], [target(ex, cfg.tags.srwt_spaces)])
            out = llm(inputs_embeds=model.embed(batch), attention_mask=batch["attention_mask"],
                      position_ids=model.position_ids(batch), use_cache=False,
                      output_attentions=True, output_hidden_states=True)
            labels = batch["labels"][0]
            at = [p for p in (labels != IGNORE).nonzero()[:, 0].tolist() if int(labels[p]) in rank]
            if not at:
                continue
            pos = torch.tensor(at) - 1  # the positions that predict each time token
            logits = out.logits[:, pos]
            if model.time_pointer is not None:  # the head's scores as decoding gives them (model.time_pointer)
                last = out.hidden_states[-1]
                logits = model.point_times(logits, last[:, pos], *model.frame_states(last, batch["audio_mask"]))
            logp = logits[0].float().log_softmax(-1)
            p = logp.exp()
            p_time = p[:, time_ids]  # (K, 3001)
            audio = batch["audio_mask"][0].nonzero()[:, 0]
            heads = torch.stack([a[0].float() for a in out.attentions])[:, :, pos][..., audio]  # (n_l, H, K, T_a)
            attn = heads.mean((0, 1))  # (K, T_audio)
            frame_t = (torch.arange(len(audio)) + 0.5) * model.frame_seconds
            for k, p_at in enumerate(at):
                t = rank[int(labels[p_at])] / 100
                near = (frame_t - t).abs() <= window
                rows["clip"].append(c)
                rows["target"].append(t)
                rows["index"].append(k)
                rows["clip_seconds"].append(len(audio) * model.frame_seconds)
                rows["argmax"].append(float(seconds[int(p_time[k].argmax())]))
                rows["expected"].append(float((p_time[k].double() / p_time[k].sum()) @ seconds))
                rows["p_target"].append(float(p_time[k, rank[int(labels[p_at])]]))
                rows["p_times"].append(float(p_time[k].sum()))
                rows["attention_window"].append(float(attn[k, near].sum() / attn[k].sum().clamp(min=1e-12)))
                on = heads[:, :, k]  # (n_l, H, T_audio)
                rows["attention_window_heads"].append(
                    (on[..., near].sum(-1) / on.sum(-1).clamp(min=1e-12)).flatten().cpu().numpy())
                rows["window_share"].append(float(near.float().mean()))
                rows["hidden"].append(out.hidden_states[-1][0, pos[k]].float().cpu().numpy())
    finally:
        base.set_attn_implementation(before)
        model.train(was_training)
    return {k: np.array(v) for k, v in rows.items()}


def probe_times(features: np.ndarray, times: np.ndarray, groups: np.ndarray, folds: int = 5,
                ridges: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1000.0)) -> dict:
    """Is the time in the features? A ridge regression from `features` (N, d, standardised) to `times` (N,),
    cross-validated with whole groups (clips) held out per fold: the mean absolute error (s) of the held-out
    predictions at the best of `ridges` (the choice is made on the same folds, so slightly optimistic), against the
    error of predicting the training folds' mean time."""
    x = (features - features.mean(0)) / (features.std(0) + 1e-8)
    x = np.concatenate([x, np.ones((len(x), 1))], 1).astype(np.float64)
    fold_of = np.unique(groups, return_inverse=True)[1] % folds
    const = np.zeros(len(times))
    errors = {}
    for ridge in ridges:
        pred = np.zeros(len(times))
        for f in range(folds):
            tr, te = fold_of != f, fold_of == f
            if not te.any() or not tr.any():
                continue
            reg = ridge * np.eye(x.shape[1])
            reg[-1, -1] = 0.0  # the bias is not shrunk
            w = np.linalg.solve(x[tr].T @ x[tr] + reg, x[tr].T @ times[tr])
            pred[te], const[te] = x[te] @ w, times[tr].mean()
        errors[ridge] = float(np.abs(pred - times).mean())
    best = min(errors, key=errors.get)
    return {"mae": errors[best], "ridge": best, "mae_constant": float(np.abs(const - times).mean())}
