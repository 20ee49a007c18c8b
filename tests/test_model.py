import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM, WhisperConfig, WhisperForConditionalGeneration

from qa_lab.config import load_config
from qa_lab.core.build import build_model
from qa_lab.presets import PRESETS
from qa_lab.core.stages import count_parameters
from qa_lab.core.tokenizer import tag_token_ids
from qa_lab.data.dataset import AudioTextDataset, Collator
from qa_lab.frames import IGNORE
from qa_lab.data.manifest import read_manifest


def _cfg(*overrides):
    return load_config("base", list(overrides))


def _one_step(model, batch) -> dict[str, torch.Tensor]:
    """One SGD step (lr 1) on `batch`; -> what each part computes on fixed inputs before and after it, and with the
    parts' adapters (peft's public disable_adapter) switched off after it. Fixed inputs: the batch's mel for the
    tower, the tower's output before the step for the projector, the input embeddings before the step for the LLM,
    so a change in one part's output comes from that part's own weights."""
    from contextlib import nullcontext
    model.train()

    def run(h_in=None, embeds=None):
        with torch.no_grad():
            h = model.audio_features(batch["mel"], batch["mel_lengths"])[0]
            frames = model.projector(h if h_in is None else h_in)
            e = model.embed(batch) if embeds is None else embeds
            logits = model.language_model(inputs_embeds=e, attention_mask=batch["attention_mask"]).logits
        return h, frames, logits, e

    h0, f0, l0, e0 = run()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    model(batch)["loss"].backward()
    opt.step()
    h1, f1, l1, _ = run(h0, e0)
    off = lambda m: m.disable_adapter() if hasattr(m, "disable_adapter") else nullcontext()  # noqa: E731
    with off(model.audio_tower), off(model.language_model):
        h_off, _, l_off, _ = run(h0, e0)
    return {"tower": (h1 - h0).abs().max(), "projector": (f1 - f0).abs().max(), "llm": (l1 - l0).abs().max(),
            "tower_off": (h_off - h0).abs().max(), "llm_off": (l_off - l0).abs().max(), "logits": (l1 - l0).abs()}


def test_each_stage_trains_what_it_says_and_lora_leaves_the_base_weights(corpus):
    def step(*overrides):
        torch.manual_seed(0)
        model = build_model(_cfg(*overrides))
        ds = AudioTextDataset(read_manifest(corpus / "val.jsonl"), model.tokenizer)
        return model, _one_step(model, Collator(model.tokenizer)([ds[0], ds[1]]))

    model, pre = step("stage=pretrain")  # encoder + projector; of the LLM only the tag tokens' rows
    assert pre["tower"] > 0 and pre["projector"] > 0
    others = torch.ones(pre["logits"].shape[-1], dtype=torch.bool)
    others[torch.tensor(tag_token_ids(model.tokenizer))] = False
    assert pre["logits"][..., others].max() == 0 and pre["llm"] > 0  # only the tag tokens' head rows moved

    _, sft = step("stage=sft")  # LLM LoRA + projector, the encoder frozen
    assert sft["tower"] == 0 and sft["projector"] > 0 and sft["llm"] > 0
    assert sft["llm_off"] == 0  # the change is all in the adapter: the LLM's own weights are untouched

    _, ft = step("stage=finetune", "lora.encoder=true")  # and LoRA on the encoder
    assert ft["tower"] > 0 and ft["tower_off"] == 0 and ft["llm"] > 0 and ft["llm_off"] == 0

    full = build_model(_cfg("stage=full"))
    t, total = count_parameters(full)
    assert t == total - full.audio_tower.embed_positions.weight.numel()


def test_tag_token_rows_get_gradients_and_other_rows_stay(corpus):
    model = build_model(_cfg("stage=sft"))
    ds = AudioTextDataset(read_manifest(corpus / "val.jsonl"), model.tokenizer)
    batch = Collator(model.tokenizer)([ds[0], ds[1]])
    emb = model.language_model.get_input_embeddings()
    with torch.no_grad():
        before = emb(torch.arange(emb.weight.shape[0]))  # every row as the model embeds it
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    model(batch)["loss"].backward()
    opt.step()
    ids = torch.tensor(tag_token_ids(model.tokenizer))
    after = emb(torch.arange(before.shape[0]))
    changed = (after - before).abs().sum(1) > 0
    assert changed[ids].any()  # the tags used in the prompt moved
    others = torch.ones(before.shape[0], dtype=torch.bool)
    others[ids] = False
    assert not changed[others].any()  # base vocabulary frozen


@torch.no_grad()
def test_batched_generation_equals_one_by_one(corpus):
    exs = read_manifest(corpus / "train.jsonl")[:4]
    for seed in range(10):  # a random model often says the same thing for every clip; find one that does not
        torch.manual_seed(seed)
        model = build_model(_cfg("stage=full", f"seed={seed}")).eval()
        ds = AudioTextDataset(exs, model.tokenizer)
        col = Collator(model.tokenizer, train=False)
        items = [ds[i] for i in range(len(ds))]
        model.projector.weight.mul_(20)  # nudge the random model so outputs differ between clips
        alone = [model.generate(col([it]), max_new_tokens=8)[0] for it in items]
        if len({tuple(x) for x in alone}) > 1:
            break
    assert len({tuple(x) for x in alone}) > 1
    assert model.generate(col(items), max_new_tokens=8) == alone


def test_loss_ignores_padding_of_batch_mates(corpus):
    model = build_model(_cfg("stage=full")).eval()
    ds = AudioTextDataset(read_manifest(corpus / "train.jsonl"), model.tokenizer)
    col = Collator(model.tokenizer)
    items = [ds[i] for i in range(4)]
    with torch.no_grad():
        together = model(col(items))
        alone = [model(col([it])) for it in items]
    for i, a in enumerate(alone):
        assert torch.allclose(together["loss_sum"][i], a["loss_sum"][0], atol=1e-4)
        assert together["n_tokens"][i] == a["n_tokens"][0]


def _local_checkpoints(tmp_path, vocab_short_by: int = 0):
    """Tiny local copies of a Whisper and a Qwen2 checkpoint (save_pretrained), the LLM's table `vocab_short_by`
    rows short of its tokenizer (as Qwen2.5's table is of its tokenizer with the tag tokens added) -> (whisper, llm,
    config of the paper's preset pointing at them)."""
    torch.manual_seed(0)
    wcfg = WhisperConfig(**PRESETS["tiny"].encoder_config, decoder_layers=1, decoder_attention_heads=4,
                         decoder_ffn_dim=64)
    whisper = WhisperForConditionalGeneration(wcfg)
    whisper.save_pretrained(tmp_path / "whisper")
    from qa_lab.core.tokenizer import tiny_tokenizer
    tok = tiny_tokenizer()
    tok.save_pretrained(tmp_path / "llm")
    llm = Qwen2ForCausalLM(Qwen2Config(vocab_size=len(tok) - vocab_short_by, hidden_size=64, intermediate_size=128,
                                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2))
    llm.save_pretrained(tmp_path / "llm")
    cfg = _cfg("model.preset=whisper-large-v2+qwen2.5-7b", f"model.audio_encoder={tmp_path / 'whisper'}",
               f"model.language_model={tmp_path / 'llm'}", "stage=sft")
    return whisper, llm, cfg


def test_real_checkpoints_load_through_from_pretrained(tmp_path):
    """The real-preset code path (from_pretrained) on tiny local copies saved with save_pretrained."""
    whisper, llm, cfg = _local_checkpoints(tmp_path)
    model = build_model(cfg)
    enc_w = model.audio_tower.layers[0].fc1.weight
    assert torch.equal(enc_w, whisper.model.encoder.layers[0].fc1.weight)
    q = model.language_model.get_base_model().model.layers[0].self_attn.q_proj.weight  # peft's public accessors
    assert torch.equal(q, llm.model.layers[0].self_attn.q_proj.weight)
    assert model.projector.out_features == 64


@torch.no_grad()
def test_a_table_grown_for_the_tags_is_padded_to_64_rows_and_padding_and_spare_rows_are_never_said(tmp_path, corpus):
    _, _, cfg = _local_checkpoints(tmp_path, vocab_short_by=10)
    model = build_model(cfg).eval()
    n_tok, rows = len(model.tokenizer), model.language_model.get_output_embeddings().weight.shape[0]
    assert rows % 64 == 0 and n_tok <= rows < n_tok + 64
    assert model.language_model.get_base_model().model.embed_tokens.weight.shape[0] == rows
    pad = model.tokenizer.pad_token_id
    # make padding (the CTC blank) and the spare rows the likeliest next tokens everywhere: decoding must still
    # pick a token an answer can hold
    def unsayable_first(module, inputs, logits):
        logits[..., n_tok:] += 1e4
        logits[..., pad] += 1e4
        return logits
    model.language_model.get_output_embeddings().register_forward_hook(unsayable_first)
    exs = read_manifest(corpus / "train.jsonl")[:2]
    ds = AudioTextDataset(exs, model.tokenizer)
    batch = Collator(model.tokenizer, train=False)([ds[i] for i in range(len(ds))])
    for beams in (1, 2):
        out = model.generate(batch, max_new_tokens=4, num_beams=beams)
        assert all(i < n_tok and i != pad for ids in out for i in ids) and any(out)


def test_remote_code_preset_needs_opt_in():
    with pytest.raises(ValueError, match="trust_remote_code=true"):
        from qa_lab.core.build import build_backbones
        build_backbones(_cfg("model.preset=qwen-audio-7b").model, 100)


@pytest.mark.parametrize("overrides", [["model.projector=mlp"], ["model.audio_padding=pad30"],
                                       ["model.pool_stride=1"], ["model.audio_norm=true"],
                                       ["model.frame_times=true", "model.time_sigma=0.08"],
                                       ["model.audio_positions=time", "model.frame_times=true"]])
def test_variants_train_and_decode(corpus, overrides):
    cfg = _cfg("stage=finetune", *overrides)
    model = build_model(cfg)
    ds = AudioTextDataset(read_manifest(corpus / "val.jsonl"), model.tokenizer, audio_padding=cfg.model.audio_padding)
    item = ds[0]
    assert item["mel"].shape[1] == (3000 if cfg.model.audio_padding == "pad30" else item["mel_length"])
    batch = Collator(model.tokenizer, cfg.model.pool_stride)([ds[0], ds[1]])
    loss = model(batch)["loss"]
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.projector.parameters())
    out = model.eval().generate(Collator(model.tokenizer, cfg.model.pool_stride, train=False)([item]), 3)
    assert len(out) == 1 and len(out[0]) <= 3


def test_pad30_trims_audio_to_real_length_before_the_llm(corpus):
    real, pad = build_model(_cfg("model.audio_padding=real")), build_model(_cfg("model.audio_padding=pad30"))
    ds_r = AudioTextDataset(read_manifest(corpus / "val.jsonl"), real.tokenizer)
    ds_p = AudioTextDataset(read_manifest(corpus / "val.jsonl"), pad.tokenizer, audio_padding="pad30")
    br = Collator(real.tokenizer)([ds_r[0]])
    bp = Collator(pad.tokenizer)([ds_p[0]])
    assert bp["input_ids"].shape == br["input_ids"].shape  # same number of audio slots: trimmed, not 750
    assert int(bp["audio_mask"].sum()) < 750


def test_gradient_checkpointing_gives_the_same_loss_and_gradients(corpus):
    results, calls = [], []
    for flag in ("false", "true"):
        model = build_model(_cfg("stage=full", f"model.gradient_checkpointing={flag}")).train()
        ds = AudioTextDataset(read_manifest(corpus / "val.jsonl"), model.tokenizer)
        count = {"encoder": 0, "llm": 0}
        # hooks on the first module inside a layer: transformers keeps the layer's own hooks outside the checkpoint,
        # and torch stops a recomputation once the saved tensors backward needs are back (so a late module may not finish)
        model.audio_tower.layers[0].self_attn_layer_norm.register_forward_hook(
            lambda *_: count.__setitem__("encoder", count["encoder"] + 1))
        model.language_model.model.layers[0].input_layernorm.register_forward_hook(
            lambda *_: count.__setitem__("llm", count["llm"] + 1))
        loss = model(Collator(model.tokenizer)([ds[0], ds[1]]))["loss"]
        loss.backward()
        results.append((loss.detach(), model.audio_tower.layers[0].fc1.weight.grad.clone()))
        calls.append(dict(count))
    assert model.audio_tower.is_gradient_checkpointing
    # checkpointing really happens: each layer's forward runs again during backward (on the kit's real-length
    # encoder path too, which calls the layers itself)
    assert calls == [{"encoder": 1, "llm": 1}, {"encoder": 2, "llm": 2}], calls
    assert torch.allclose(results[0][0], results[1][0], atol=1e-6)
    assert torch.allclose(results[0][1], results[1][1], atol=1e-6)


def test_audio_norm_puts_audio_frames_at_the_text_scale(corpus):
    examples = read_manifest(corpus / "train.jsonl", ["asr"])[:2]
    norms = {}
    for flag in ("false", "true"):
        torch.manual_seed(0)
        model = build_model(_cfg(f"model.audio_norm={flag}")).eval()
        batch = Collator(model.tokenizer)([AudioTextDataset(examples, model.tokenizer)[i] for i in range(2)])
        with torch.no_grad():
            embeds = model.embed(batch)
        norms[flag] = (embeds[batch["audio_mask"]].norm(dim=1).mean(), embeds[~batch["audio_mask"]].norm(dim=1).mean())
    audio, text = norms["true"]
    assert torch.allclose(audio, text, rtol=0.05), norms
    assert not torch.allclose(norms["false"][0], text, rtol=0.5), norms  # the plain projector is off the text's scale


def test_token_frames_are_mixes_of_token_embeddings_and_stay_at_the_text_scale(corpus):
    examples = read_manifest(corpus / "train.jsonl", ["asr"])[:2]
    torch.manual_seed(0)
    model = build_model(_cfg("model.projector=tokens", "model.ctc_layer=0")).eval()
    batch = Collator(model.tokenizer)([AudioTextDataset(examples, model.tokenizer)[i] for i in range(2)])
    table = model.language_model.get_input_embeddings().weight
    with torch.no_grad():
        embeds, logits = model.embed(batch, frame_logits=True)
        frames = embeds[batch["audio_mask"]]
        assert torch.allclose(frames, logits.softmax(-1) @ table, atol=1e-5)  # the residual starts at zero
        model.projector.residual.weight.normal_(std=100.0)  # a residual grown huge still adds at most one token's norm
        frames = model.embed(batch)[batch["audio_mask"]]
    token_norm = table.norm(dim=-1).mean()
    assert float(frames.norm(dim=-1).max()) <= 2 * float(table.norm(dim=-1).max()) + 1e-4
    assert float(frames.norm(dim=-1).mean()) < 3 * float(token_norm)


def test_frame_times_give_each_frame_its_time_tokens_code(corpus):
    from qa_lab.prompts.tags import TIME_TOKENS, time_token
    model = build_model(_cfg("model.frame_times=true", "model.pool_stride=4")).eval()
    emb = model.language_model.get_input_embeddings().weight
    tok = model.tokenizer
    row = lambda t: emb[tok.convert_tokens_to_ids(time_token(t))]  # noqa: E731
    cos = lambda a, b: float(torch.nn.functional.cosine_similarity(a, b, dim=0))  # noqa: E731
    assert cos(row(1.18), row(1.20)) > cos(row(1.18), row(1.50)) > cos(row(1.18), row(4.0))  # nearby times alike
    ids = tok.convert_tokens_to_ids(list(TIME_TOKENS))
    text_norm = emb[:200].norm(dim=1).mean()
    assert torch.allclose(emb[ids].norm(dim=1).mean(), text_norm, rtol=0.1)  # codes at the text rows' scale
    examples = read_manifest(corpus / "train.jsonl", ["asr"])[:2]
    batch = Collator(tok, model.pool_stride)([AudioTextDataset(examples, tok)[i] for i in range(2)])
    with torch.no_grad():
        on = model.embed(batch)
        model.frame_times = False
        off = model.embed(batch)
    added = (on - off)[0][batch["audio_mask"][0]]  # (frames of clip 0, d)
    frames = off[0][batch["audio_mask"][0]]
    for k, t in ((3, 3 * 0.08), (10, 0.80)):
        assert cos(added[k], row(t)) > 0.999  # the code of the frame's own start time
        assert torch.allclose(added[k].norm(), frames[k].norm(), rtol=1e-4)  # at the frame's scale, not the text's
    assert torch.equal(on[~batch["audio_mask"]], off[~batch["audio_mask"]])  # text positions untouched


def test_without_frame_times_the_time_rows_are_left_alone():
    torch.manual_seed(0)
    a = build_model(_cfg()).language_model.get_input_embeddings().weight
    torch.manual_seed(0)
    b = build_model(_cfg("model.frame_times=true")).language_model.get_input_embeddings().weight
    assert torch.equal(a[:100], b[:100]) and not torch.equal(a, b)



def test_the_loss_in_chunks_gives_the_same_losses_and_gradients(monkeypatch):
    import torch.utils.checkpoint

    from qa_lab.core import model as model_module
    torch.manual_seed(0)
    logits = torch.randn(2, 40, 1000, requires_grad=True)
    target = torch.randint(0, 1000, (2, 40))
    target[0, :5] = IGNORE
    whole = model_module.token_losses(logits, target)
    (g_whole,) = torch.autograd.grad(whole.sum(), logits)
    calls = []
    real = torch.utils.checkpoint.checkpoint
    monkeypatch.setattr(torch.utils.checkpoint, "checkpoint", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(model_module, "LOSS_CHUNK_ELEMENTS", 2 * 1000 * 7)  # 7 positions a chunk: 6 chunks
    chunked = model_module.token_losses(logits, target)
    (g_chunked,) = torch.autograd.grad(chunked.sum(), logits)
    assert len(calls) == 6 and torch.allclose(whole, chunked, atol=1e-6) and chunked[0, :5].eq(0).all()
    assert torch.allclose(g_whole, g_chunked, atol=1e-7)


def _positions_after_clips(batch, pos):
    """Per row: (position of a clip's first frame, of the token after its last frame, frames) for each clip."""
    out = []
    for b, row in enumerate(batch["audio_mask"]):
        idx = row.nonzero()[:, 0].tolist()
        out.append((int(pos[b, idx[0]]), int(pos[b, idx[-1] + 1]), len(idx)))
    return out


def test_time_positions_put_what_follows_a_clip_a_full_clips_frames_after_its_start(corpus):
    """model.audio_positions=time: whatever a clip's length, the token after its frames sits 375 positions (30 s at
    12.5 frames/s) after its first frame, so an answer's distance to a frame says the frame's time; left-padded
    decoding batches and right-padded training batches agree; sequential counts one per token."""
    model = build_model(_cfg("model.audio_positions=time", "model.pool_stride=4")).eval()
    ds = AudioTextDataset(read_manifest(corpus / "train.jsonl", ["asr"]), model.tokenizer)
    first = ds[0]
    other = next(ds[i] for i in range(1, len(ds)) if ds[i]["mel_length"] // 16 != first["mel_length"] // 16)
    ds = [first, other]
    for train in (True, False):  # right-padded with answers; left-padded prompts
        batch = Collator(model.tokenizer, 4, train=train)([ds[0], ds[1]])
        pos = model.position_ids(batch)
        clips = _positions_after_clips(batch, pos)
        assert clips[0][2] != clips[1][2]  # two clip lengths
        assert all(after - first == 375 for first, after, _ in clips)
        real = batch["attention_mask"].bool()
        for b in range(2):  # one step per real token, but for the jump after the frames
            steps = pos[b][real[b]].diff()
            assert int((steps != 1).sum()) == 1 and int(steps.max()) == 375 - clips[b][2] + 1
        model.audio_positions = "sequential"
        seq = model.position_ids(batch)
        model.audio_positions = "time"
        assert all(after - first == n for first, after, n in _positions_after_clips(batch, seq))
    left = Collator(model.tokenizer, 4, train=False)([ds[0], ds[1]])
    alone = Collator(model.tokenizer, 4, train=False)([ds[1]])
    assert model.position_ids(left)[1][left["attention_mask"][1].bool()].tolist() == model.position_ids(alone)[0].tolist()


def test_decoding_with_time_positions_scores_as_teacher_forcing_does(corpus):
    """generate() with the KV cache goes on from the jumped positions one per new token: the logits of each greedy
    step equal a teacher-forced pass over the prompt and the tokens before it at the positions training uses, and
    those positions change the logits (a decoder that counted one per token would score differently)."""
    torch.manual_seed(0)
    model = build_model(_cfg("model.audio_positions=time", "model.pool_stride=4")).eval()
    tok = model.tokenizer
    ds = AudioTextDataset(read_manifest(corpus / "val.jsonl")[:1], tok)
    batch = Collator(tok, 4, train=False)([ds[0]])
    steps = []
    llm = model.language_model.get_base_model()  # under LoRA: peft's generate calls the model inside
    hook = llm.register_forward_hook(lambda m, i, o: steps.append(o.logits[0, -1].float().clone()))
    try:
        new = model.generate(batch, max_new_tokens=6)[0]
    finally:
        hook.remove()
    assert new
    ids = torch.tensor([new])
    full = {**batch, "input_ids": torch.cat([batch["input_ids"], ids], 1),
            "attention_mask": torch.cat([batch["attention_mask"], torch.ones_like(ids)], 1),
            "audio_mask": torch.cat([batch["audio_mask"], torch.zeros_like(ids, dtype=torch.bool)], 1)}
    with torch.no_grad():
        embeds = model.embed(full)
        timed = model.language_model(inputs_embeds=embeds, attention_mask=full["attention_mask"],
                                     position_ids=model.position_ids(full)).logits[0].float()
        counted = model.language_model(inputs_embeds=embeds, attention_mask=full["attention_mask"]).logits[0].float()
    start = batch["input_ids"].shape[1] - 1
    for k in range(len(new)):
        assert torch.allclose(steps[k], timed[start + k], atol=1e-3), k
        assert float((steps[k] - counted[start + k]).abs().max()) > 1e-2, k
    assert len(model.generate(batch, max_new_tokens=4, num_beams=2)) == 1  # beams carry the positions too


def test_the_time_pointer_decodes_as_teacher_forcing_scores_and_points_at_the_frames(corpus):
    """model.time_pointer: starts as the plain head; once it has weights, greedy decoding's logits at every step equal
    the training forward's (its loss on the decoded answer is the steps' own cross-entropy), and a time token's score
    follows the frame at that time: change one frame's state and only the times within that frame move."""
    torch.manual_seed(0)
    model = build_model(_cfg("model.time_pointer=true", "model.pool_stride=4")).eval()
    tok = model.tokenizer
    ds = AudioTextDataset(read_manifest(corpus / "val.jsonl")[:1], tok)
    batch = Collator(tok, 4, train=False)([ds[0]])
    h = torch.randn(1, 3, model.time_pointer.weight.shape[0])
    keys, n = torch.randn(1, 5, h.shape[-1]), torch.tensor([5])
    logits = torch.randn(1, 3, len(tok))
    assert torch.equal(model.point_times(logits, h, keys, n), logits)  # zero-initialised: the plain head
    with torch.no_grad():
        model.time_pointer.weight.normal_(0, 0.5)
    moved = keys.clone()
    moved[0, 2] += 1.0
    diff = (model.point_times(logits, h, moved, n) - model.point_times(logits, h, keys, n)).abs().amax((0, 1))
    step = round(model.frame_seconds * 100)
    changed = diff.nonzero()[:, 0]
    assert set(changed.tolist()) == set(model.time_ids[2 * step:3 * step].tolist())
    assert len(changed) == step

    steps = []
    llm = model.language_model.get_base_model() if hasattr(model.language_model, "get_base_model") else model.language_model
    hook = llm.register_forward_hook(lambda m, i, o: steps.append(o.logits[0, -1].float().clone()))
    try:
        new = model.generate(batch, max_new_tokens=6)[0]
    finally:
        hook.remove()
    assert len(new) == 6 and any(t in set(model.time_ids.tolist()) for t in new)  # the pointer's times are chosen
    steps = steps[-len(new):]  # the first pass read the frames' states from the prompt
    ids = torch.tensor([new])
    full = {**batch, "input_ids": torch.cat([batch["input_ids"], ids], 1),
            "attention_mask": torch.cat([batch["attention_mask"], torch.ones_like(ids)], 1),
            "audio_mask": torch.cat([batch["audio_mask"], torch.zeros_like(ids, dtype=torch.bool)], 1)}
    full["labels"] = torch.full_like(full["input_ids"], IGNORE)
    full["labels"][0, -len(new):] = ids[0]
    with torch.no_grad():
        loss = model(full)["loss_sum"][0]
    expected = sum(-steps[k].log_softmax(-1)[t] for k, t in enumerate(new))
    assert torch.allclose(loss.float(), expected, rtol=1e-3), (loss, expected)
    assert len(model.generate(batch, max_new_tokens=4, num_beams=2)) == 1  # beams repeat the frames' keys


def test_an_unknown_audio_positions_value_names_the_key():
    from qa_lab.config import ConfigError
    with pytest.raises(ConfigError, match="model.audio_positions"):
        _cfg("model.audio_positions=clock")
