"""Cached frozen-tower features: the same loss as running the encoder, computed once, used by training."""

import pytest
import torch

from qa_lab.config import load_config
from qa_lab.core.build import build_model
from qa_lab.core.features import FeatureStore, clip_key
from qa_lab.data.dataset import AudioTextDataset, Collator
from qa_lab.data.manifest import read_manifest
from qa_lab.train.run import train
from qa_lab.world.builder import build_for


def _frozen(tmp_path, *more):
    cfg = load_config("base", ["stage=full", "model.freeze=[audio_tower]", f"data.features_dir={tmp_path}", *more])
    torch.manual_seed(0)
    return cfg, build_model(cfg).eval()


def test_cached_features_give_the_loss_of_the_live_encoder(corpus, tmp_path):
    cfg, model = _frozen(tmp_path)
    examples = read_manifest(corpus / "train.jsonl", ["asr", "srwt"])[:6]
    store = FeatureStore.for_model(model, tmp_path)
    store.ensure(model, examples, progress=False)
    collate = Collator(model.tokenizer, model.pool_stride, train=True)
    live = collate([AudioTextDataset(examples, model.tokenizer)[i] for i in range(6)])
    cached = collate([AudioTextDataset(examples, model.tokenizer, features=store)[i] for i in range(6)])
    assert "mel" not in cached and cached["audio_feats"].shape[0] == 6
    with torch.no_grad():
        a, b = model(live), model(cached)
    assert torch.allclose(a["loss_sum"], b["loss_sum"], rtol=2e-3, atol=2e-3)  # float16 storage
    assert not torch.allclose(a["loss_sum"], model({**cached, "audio_feats": cached["audio_feats"].flip(0)})["loss_sum"],
                              rtol=2e-3, atol=2e-3)  # the features matter


def test_features_are_computed_once_and_reloaded(corpus, tmp_path, monkeypatch):
    _, model = _frozen(tmp_path)
    examples = read_manifest(corpus / "train.jsonl", ["asr", "srwt"])
    FeatureStore.for_model(model, tmp_path).ensure(model, examples, progress=False)
    assert len(list(tmp_path.rglob("*.pt"))) == 1
    import qa_lab.core.features as features
    monkeypatch.setattr(features, "encode_clips", lambda *a, **k: pytest.fail("encoded again"))
    store = FeatureStore.for_model(model, tmp_path)
    store.ensure(model, examples, progress=False)
    assert {clip_key(ex) for ex in examples} <= set(store.features)  # asr and srwt lines share each clip's entry
    assert len(store.features) == len({ex["_audio_path"] for ex in examples})


def test_other_tower_weights_get_another_folder(tmp_path):
    _, model = _frozen(tmp_path)
    a = FeatureStore.for_model(model, tmp_path).folder
    with torch.no_grad():
        model.audio_tower.layers[0].fc1.weight.add_(1e-3)
    assert FeatureStore.for_model(model, tmp_path).folder != a


def test_a_mixed_precision_run_encodes_under_its_autocast_into_its_own_folder(corpus, tmp_path):
    from qa_lab.core.features import autocast_dtype
    from qa_lab.train.run import feature_cache
    from qa_lab.train.trainer import resolve_precision
    if resolve_precision("bf16-mixed") != "bf16-mixed":
        pytest.skip("this process runs bf16 as 32-true (QA_LAB_PRECISION, or a CPU without bf16 matmuls)")
    cfg, model = _frozen(tmp_path, "trainer.precision=bf16-mixed")
    assert autocast_dtype("bf16-mixed") is torch.bfloat16 and autocast_dtype("32-true") is None
    examples = read_manifest(corpus / "train.jsonl", ["asr"])[:3]
    mixed = feature_cache(cfg, model)(examples)
    full = FeatureStore.for_model(model, tmp_path)
    full.ensure(model, examples, progress=False)
    assert mixed.folder != full.folder and mixed.folder.parent == full.folder.parent
    for ex in examples:
        a, b = full[ex][0], mixed[ex][0]
        assert not torch.equal(a, b)  # computed in bf16, not reloaded from the full-precision folder
        assert (a - b).norm() < 0.05 * a.norm()


def test_trained_top_layers_run_on_the_cached_bottom_and_give_the_live_loss(corpus, tmp_path):
    cfg, model = _frozen(tmp_path, "model.train_encoder_layers=1")
    tower = model.audio_tower
    trained = {n for n, p in tower.named_parameters() if p.requires_grad}
    top = len(tower.layers) - 1
    assert trained == {n for n, _ in tower.named_parameters() if n.startswith((f"layers.{top}.", "layer_norm."))}
    examples = read_manifest(corpus / "train.jsonl", ["asr", "srwt"])[:6]
    store = FeatureStore.for_model(model, tmp_path)
    store.ensure(model, examples, progress=False)
    h, n_mel = store[examples[0]]
    assert h.shape[0] == (n_mel - 1) // 2 + 1  # the bottom's output at the encoder's 50 frames/s, not pooled
    collate = Collator(model.tokenizer, model.pool_stride, train=True)
    live = collate([AudioTextDataset(examples, model.tokenizer)[i] for i in range(6)])
    cached = collate([AudioTextDataset(examples, model.tokenizer, features=store)[i] for i in range(6)])
    model.train()  # the top layer runs in training mode on cached input (dropout 0 in the tiny tower)
    a, b = model(live), model(cached)
    assert torch.allclose(a["loss_sum"], b["loss_sum"], rtol=2e-3, atol=2e-3)
    b["loss"].backward()
    assert tower.layers[top].fc1.weight.grad.abs().sum() > 0 and tower.layer_norm.weight.grad.abs().sum() > 0
    # the cache holds the frozen bottom only: training the top layer keeps its folder, touching the bottom does not
    folder = store.folder
    with torch.no_grad():
        tower.layers[top].fc1.weight.add_(1e-3)
    assert FeatureStore.for_model(model, tmp_path).folder == folder
    with torch.no_grad():
        tower.layers[0].fc1.weight.add_(1e-3)
    assert FeatureStore.for_model(model, tmp_path).folder != folder


def test_encoder_lr_puts_the_tower_in_its_own_group(tmp_path):
    from qa_lab.train.module import AudioLLMModule
    cfg, model = _frozen(tmp_path, "model.train_encoder_layers=1", "trainer.encoder_lr=1e-4", "trainer.lr=2e-3")
    opt = AudioLLMModule(model, cfg.trainer).configure_optimizers()["optimizer"]
    lrs = {id(p): g["initial_lr"] for g in opt.param_groups for p in g["params"]}
    assert lrs[id(model.audio_tower.layer_norm.weight)] == 1e-4 and lrs[id(model.projector.weight)] == 2e-3
    assert id(model.audio_tower.layers[0].fc1.weight) not in lrs  # frozen bottom: not optimised


def test_train_encoder_layers_is_checked():
    from qa_lab.config import ConfigError
    with pytest.raises(ConfigError, match="model.train_encoder_layers"):
        load_config("base", ["model.train_encoder_layers=-1"])
    with pytest.raises(ValueError, match="model.train_encoder_layers=9"):
        build_model(load_config("base", ["model.train_encoder_layers=9"]))


@pytest.mark.slow
def test_training_with_a_frozen_tower_uses_the_cache(smoke_overrides, tmp_path):
    cfg = load_config("demo", [*smoke_overrides, "model.freeze=[audio_tower]", f"data.features_dir={tmp_path / 'f'}"])
    run_dir, module = train(cfg, report_examples=0)
    assert list((tmp_path / "f").rglob("*.pt"))
    assert not any(p.requires_grad for p in module.model.audio_tower.parameters())
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()


def test_freeze_names_a_part():
    from qa_lab.config import ConfigError
    with pytest.raises(ConfigError, match="model.freeze"):
        load_config("base", ["model.freeze=[encoder]"])


@pytest.mark.slow  # trains a tiny model per variant: 4-5 s each
@pytest.mark.parametrize("layer,projector", [("null", "linear"), ("1", "linear"), ("0", "linear"), ("0", "tokens")])
def test_auxiliary_ctc_loss_trains_the_frames_towards_the_transcript(corpus, tmp_path, layer, projector):
    cfg = load_config("base", ["stage=full", "model.freeze=[audio_tower]", "model.ctc_weight=1.0",
                               f"model.ctc_layer={layer}", f"model.projector={projector}"])
    torch.manual_seed(0)
    model = build_model(cfg).train()
    examples = read_manifest(corpus / "train.jsonl", ["asr", "srwt"])[:4]
    store = FeatureStore.for_model(model, tmp_path)
    store.ensure(model, examples, progress=False)
    ds = AudioTextDataset(examples, model.tokenizer, features=store, ctc=True)
    batch = Collator(model.tokenizer, model.pool_stride, train=True)([ds[i] for i in range(4)])
    assert (batch["ctc_lengths"] > 0).all()  # every world speech clip knows its words
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    first = None
    for _ in range(30):
        out = model(batch)
        assert torch.isclose(out["loss"], out["loss_sum"].sum() / out["n_tokens"].sum() + out["ctc"])
        first = first if first is not None else float(out["ctc"])
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert float(out["ctc"]) < 0.5 * first
    model.eval()
    assert "ctc" not in model(batch)  # evaluation losses stay the answer loss alone
    logp = model.frame_log_probs(batch)  # what joint CTC decoding reads, wherever the CTC sits
    assert [len(x) for x in logp] == batch["audio_mask"].sum(1).tolist()
    assert torch.allclose(logp[0].exp().sum(-1), torch.ones(len(logp[0])), atol=1e-4)


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_training_batches_carry_ctc_targets_only_when_the_ctc_loss_is_on(smoke_overrides, weight):
    from qa_lab.core.build import build_tokenizer
    from qa_lab.data.dataset import AudioDataModule
    cfg = load_config("base", [*smoke_overrides, f"model.ctc_weight={weight}"])
    data = AudioDataModule(cfg, build_tokenizer(cfg), world=build_for)
    data.setup()
    batch = Collator(data.tokenizer, cfg.model.pool_stride, train=True)([data.train_set[i] for i in range(4)])
    assert bool((batch["ctc_lengths"] > 0).all()) == (weight > 0)  # no tokenising of transcripts nobody reads


def test_ctc_layer_reads_the_named_layer(corpus, tmp_path):
    from qa_lab.config import ConfigError
    cfg = load_config("base", ["stage=full", "model.freeze=[audio_tower]", "model.ctc_weight=1.0"])
    torch.manual_seed(0)
    model = build_model(cfg).train()
    examples = read_manifest(corpus / "train.jsonl", ["asr"])[:3]
    batch = Collator(model.tokenizer, model.pool_stride, train=True)(
        [AudioTextDataset(examples, model.tokenizer, ctc=True)[i] for i in range(3)])
    n = model.language_model.config.num_hidden_layers
    last = model(batch)["ctc"]
    model.ctc_layer = n  # the last layer by number is the default
    assert torch.allclose(model(batch)["ctc"], last)
    model.ctc_layer = 1  # a middle layer: the layers above it get no gradient from the CTC loss
    layers = model.language_model.get_decoder().layers
    grads = torch.autograd.grad(model(batch)["ctc"], [p for p in layers[1].parameters()] + [layers[0].mlp.up_proj.weight],
                                allow_unused=True)
    assert all(g is None or not g.any() for g in grads[:-1]) and grads[-1].abs().sum() > 0
    with pytest.raises(ConfigError, match="model.ctc_layer"):
        load_config("base", ["model.ctc_layer=-1"])
    with pytest.raises(ConfigError, match="model.projector=tokens needs model.ctc_layer=0"):
        load_config("base", ["model.projector=tokens"])
    model.ctc_layer = 0  # at the LLM's input: no LLM weight gets a gradient from the CTC, the projector does
    ctc = model(batch)["ctc"]
    llm = [p for p in model.language_model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(ctc, [*llm[1:], model.projector.weight], allow_unused=True)  # [0]: the embedding table
    assert all(g is None or not g.any() for g in grads[:-1]) and grads[-1].abs().sum() > 0
    with pytest.raises(ValueError, match=rf"model.ctc_layer={n + 1}: .*1..{n}"):
        build_model(load_config("base", [f"model.ctc_layer={n + 1}"]))


def test_a_bad_clip_names_its_manifest_line_and_writes_no_cache(corpus, tmp_path):
    from qa_lab.data.audio import AudioError
    _, model = _frozen(tmp_path)
    examples = read_manifest(corpus / "train.jsonl", ["asr"])[:3]
    examples[1] = {**examples[1], "_audio_path": str(tmp_path / "gone.wav")}
    with pytest.raises(AudioError, match=rf"train.jsonl:{examples[1]['_line']} .*gone.wav"):
        FeatureStore.for_model(model, tmp_path / "f").ensure(model, examples, progress=False)
    assert not list((tmp_path / "f").rglob("*.pt"))


def test_weight_decay_shrinks_matrices_only(tmp_path):
    from qa_lab.train.module import AudioLLMModule
    cfg, model = _frozen(tmp_path, "trainer.weight_decay=0.5", "trainer.lr=0.1")
    opt = AudioLLMModule(model, cfg.trainer).configure_optimizers()["optimizer"]
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    before = {n: p.detach().clone() for n, p in trained}
    for _, p in trained:
        p.grad = torch.zeros_like(p)  # no gradient: only the decay moves a weight
    opt.step()
    moved = {n for n, p in trained if not torch.equal(p, before[n])}
    embedding = model.language_model.get_input_embeddings().weight
    matrices = {n for n, p in trained if p.ndim >= 2 and p is not embedding}
    assert moved == matrices and embedding.requires_grad and any(p.ndim == 1 for _, p in trained)


def test_the_ctc_target_is_what_is_heard_words_and_sound_events_in_time_order():
    from qa_lab.prompts.tasks import heard, transcript
    speech = {"task": "asr", "text": "a b", "words": [{"word": "hello", "start": 0.1, "end": 0.4},
                                                      {"word": "there", "start": 0.4, "end": 0.8}]}
    scene = {"task": "sed", "events": [{"label": "whistle", "start": 2.4, "end": 3.4},
                                       {"label": "dog bark", "start": 0.6, "end": 1.3}],
             "words": [{"word": "another", "start": 0.85, "end": 1.15}]}
    assert heard(speech) == transcript(speech) == "hello there"  # speech: what is said, as before
    assert heard(scene) == "dog bark another whistle"  # a sound's frames learn its name, in the order heard
    assert heard({"task": "event", "label": "clap", "events": [{"label": "clap", "start": 0.2, "end": 0.5}]}) == "clap"
    assert heard({"task": "asr", "text": "no times"}) == "no times"
    assert heard({"task": "asc", "label": "park"}) is None  # nothing known to spell


@pytest.mark.parametrize("sounds", [True, False])
def test_model_ctc_sounds_decides_whether_a_sound_clip_gets_a_ctc_target(corpus, tmp_path, sounds):
    import json

    from qa_lab.core.build import build_tokenizer
    clip = json.loads((corpus / "train.jsonl").read_text().splitlines()[0])["audio"]
    line = {"audio": str(corpus / clip), "task": "event", "label": "clap",
            "events": [{"label": "clap", "start": 0.1, "end": 0.3}]}
    (tmp_path / "e.jsonl").write_text(json.dumps(line) + "\n")
    cfg = load_config("base", [f"model.ctc_sounds={sounds}", "model.ctc_weight=1.0"])
    tok = build_tokenizer(cfg)
    ds = AudioTextDataset(read_manifest(tmp_path / "e.jsonl"), tok, ctc=True, ctc_sounds=cfg.model.ctc_sounds)
    assert tok.decode(ds[0]["ctc_ids"]) == ("clap" if sounds else "")


def test_a_clip_replaced_at_the_same_path_is_encoded_again(corpus, tmp_path):
    import json
    import os
    import shutil

    import numpy as np
    import soundfile as sf

    from qa_lab.data.audio import AudioError
    _, model = _frozen(tmp_path)
    line = json.loads((corpus / "train.jsonl").read_text().splitlines()[0])
    clip = tmp_path / "clip.wav"
    shutil.copy(corpus / line["audio"], clip)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({**line, "audio": str(clip)}) + "\n")

    def replace(audio, **kw):  # the same path, a second later (a coarse clock could give a quick rewrite the old mtime)
        st = clip.stat()
        sf.write(clip, audio, 16000, **kw)
        os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))

    def features():
        examples = read_manifest(manifest)
        store = FeatureStore.for_model(model, tmp_path / "f")  # a fresh run: what the cache on disk holds
        store.ensure(model, examples, progress=False)
        return store[examples[0]][0]

    before = features()
    audio, _ = sf.read(clip, dtype="float32")
    replace(audio[::-1].copy(), subtype=sf.info(clip).subtype)  # other content, same size
    after = features()
    assert after.shape == before.shape and not torch.allclose(after, before)
    replace(np.full(len(audio), np.nan, np.float32), subtype="FLOAT")  # refused as an uncached clip is
    with pytest.raises(AudioError, match=rf"m.jsonl:1 .*clip.wav: audio contains NaN"):
        features()
