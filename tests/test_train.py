import csv
import json
import subprocess
import sys

import pytest
import torch

from qa_lab.config import EXPERIMENTS_DIR, experiment_names, load_config
from qa_lab.core.checkpoint import export, load, load_checkpoint
from qa_lab.data.dataset import AudioTextDataset, Collator
from qa_lab.data.manifest import read_manifest
from qa_lab.eval.decode import run
from qa_lab.prompts.tasks import target as target_text
from qa_lab.train.run import train


def _losses(run_dir) -> dict[int, float]:
    with open(run_dir / "logs" / "metrics.csv") as f:
        return {int(r["step"]): float(r["train/loss"]) for r in csv.DictReader(f) if r["train/loss"]}


# every experiment yaml (ablation files and scales are checked in test_config and test_ablation)
@pytest.mark.slow
@pytest.mark.parametrize("experiment", [n for n in experiment_names() if not n.startswith("scale/")
                                        and "arms:" not in (EXPERIMENTS_DIR / f"{n}.yaml").read_text()])
def test_every_experiment_runs_in_smoke_mode(experiment, smoke_overrides, tmp_path):
    cfg = load_config(experiment, smoke_overrides)
    if not {"asr", "srwt"} & set(cfg.data.tasks):  # the session corpus has speech lines only: a smoke world of its own
        cfg = load_config(experiment, [o for o in smoke_overrides if not o.startswith(("data.train_manifest=",
                                                                                      "data.val_manifest="))]
                          + [f"world.out={tmp_path / 'world'}"])
    run_dir, _ = train(cfg, report_examples=1)
    assert (run_dir / "config.yaml").is_file() and (run_dir / "checkpoints" / "last.ckpt").is_file()
    # the yaml it came from, nested ones too (chat/chat), though the Python API names only the config
    assert (run_dir / "experiment.yaml").read_text() == (EXPERIMENTS_DIR / f"{experiment}.yaml").read_text()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["val_loss_after"] is not None and (run_dir / "loss.png").stat().st_size > 0


@pytest.mark.slow
def test_tiny_model_overfits_until_greedy_transcription_is_exact(corpus, smoke_overrides, tmp_path):
    """The audio path carries each clip's identity into the answer (the smoke-sized parts: a tiny random-start
    encoder, frozen, and the tiny LLM); whether the recipe generalises is tests/test_listen.py's question."""
    exs = [l for l in (corpus / "train.jsonl").read_text().splitlines() if '"task": "asr"' in l][:3]
    (tmp_path / "three.jsonl").write_text("\n".join(exs) + "\n")
    import shutil
    shutil.copytree(corpus / "wav", tmp_path / "wav", dirs_exist_ok=True)  # audio paths are relative to the manifest
    cfg = load_config("demo", smoke_overrides + [
        f"data.train_manifest={tmp_path / 'three.jsonl'}", f"data.val_manifest={tmp_path / 'three.jsonl'}",
        "data.tasks=[asr]", "trainer.max_steps=90", "trainer.warmup_steps=5", "trainer.val_every_n_steps=90",
        "trainer.checkpoint_every_n_steps=1000"])
    run_dir, module = train(cfg, report_examples=0)
    model = module.model.eval()
    manifest = read_manifest(tmp_path / "three.jsonl")
    hyps = run(model, cfg, [dict(e) for e in manifest])
    assert hyps == [target_text(e) for e in manifest]
    losses = _losses(run_dir)
    assert losses[max(losses)] < 0.1 * losses[min(losses)]


@pytest.mark.slow
def test_resume_gives_the_same_next_step_loss(smoke_overrides):
    over = smoke_overrides + ["trainer.max_steps=4", "trainer.checkpoint_every_n_steps=2", "trainer.lr=3e-3"]
    full_dir, _ = train(load_config("demo", over), report_examples=0)
    import shutil
    copy = full_dir.with_name("copy")  # resume continues in the checkpoint's run folder: a copy without its logs
    shutil.copytree(full_dir, copy, ignore=shutil.ignore_patterns("logs"))
    resumed_dir, _ = train(load_config("demo", over), resume=copy / "checkpoints" / "step2.ckpt", report_examples=0)
    assert resumed_dir == copy
    full, resumed = _losses(full_dir), _losses(resumed_dir)
    assert sorted(resumed) == [2, 3]
    for step in (2, 3):
        assert resumed[step] == pytest.approx(full[step], abs=1e-6), f"step {step}"
    assert full[3] != full[2]


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["finetune", "pretrain"])
def test_export_reload_gives_identical_logits(stage, smoke_overrides, corpus, tmp_path):
    over = smoke_overrides + [f"stage={stage}", "lora.encoder=true"]
    run_dir, _ = train(load_config("base", over), report_examples=0)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    (tmp_path / "export" / "adapter").mkdir(parents=True)  # an older export's files must not survive
    (tmp_path / "export" / "adapter" / "stale.safetensors").write_text("old")
    with pytest.raises(ValueError, match="export folder exists and is not empty; pass --overwrite"):
        export(ckpt, tmp_path / "export")
    out = export(ckpt, tmp_path / "export", overwrite=True)
    for name in ("adapter", "projector.safetensors", "tag_embeddings.safetensors", "tokenizer", "config.yaml"):
        assert (out / name).exists(), name
    assert not (out / "adapter" / "stale.safetensors").exists()
    cfg_a, a = load_checkpoint(ckpt)
    cfg_b, b = load(out)
    ds = AudioTextDataset(read_manifest(corpus / "val.jsonl"), a.tokenizer)
    batch = Collator(a.tokenizer)([ds[0], ds[1]])
    with torch.no_grad():
        la = a.language_model(inputs_embeds=a.embed(batch), attention_mask=batch["attention_mask"]).logits
        lb = b.language_model(inputs_embeds=b.embed(batch), attention_mask=batch["attention_mask"]).logits
    assert torch.equal(la, lb)
    # the adapter folder is a standard PEFT adapter
    from peft import PeftModel
    from qa_lab.core.build import build_model
    fresh = build_model(load_config("base", over + ["stage=full"]), b.tokenizer)  # same seed: same base weights
    peft_llm = PeftModel.from_pretrained(fresh.language_model, out / "adapter")
    with torch.no_grad():
        emb = b.embed(batch)
        lc = peft_llm(inputs_embeds=emb, attention_mask=batch["attention_mask"]).logits
        ld = b.language_model(inputs_embeds=emb, attention_mask=batch["attention_mask"]).logits
    assert torch.allclose(lc, ld, atol=1e-5)


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "qa_lab.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})


def test_cli_config_and_tags_show():
    r = _cli("config", "show", "demo", "trainer.max_steps=11")
    assert r.returncode == 0 and "max_steps: 11" in r.stdout
    r = _cli("tags", "show", "s2tt", "--audio-lang", "en", "--text-lang", "de")
    assert r.stdout.strip() == "<|startoftranscript|><|en|><|translate|><|de|><|notimestamps|><|itn|>"
    r = _cli("config", "show", "demo", "trainer.max_step=3")
    assert r.returncode == 2 and "did you mean 'trainer.max_steps'" in r.stderr


@pytest.mark.slow
def test_cli_train_infer_srwt(smoke_overrides, corpus, librispeech):
    r = _cli("train", "demo", *smoke_overrides)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "trainable parameters" in r.stdout
    assert "demo: 100%" in r.stderr  # the run's one progress line reached its last step
    for chatter in ("GPU available", "TPU available", "litlogger", "Loading weights", "Writing model shards",
                    "weights_only", "Sanity Checking", "Epoch 0"):
        assert chatter not in r.stdout + r.stderr, chatter
    runs = next(o.split("=", 1)[1] for o in smoke_overrides if o.startswith("runs_dir="))
    ckpt = next(__import__("pathlib").Path(runs).glob("demo/*/checkpoints/last.ckpt"))
    r = _cli("infer", str(ckpt), str(librispeech), "--task", "srwt")
    assert r.returncode == 0, r.stderr[-2000:]
    r = _cli("infer", str(ckpt), str(corpus / "missing.wav"))
    assert r.returncode == 2 and "missing.wav" in r.stderr


@pytest.mark.slow
def test_sft_starts_from_pretrain_weights(smoke_overrides):
    pre_dir, pre = train(load_config("base", smoke_overrides + ["stage=pretrain"]), report_examples=0)
    ckpt = pre_dir / "checkpoints" / "last.ckpt"
    from qa_lab.core.build import build_model
    from qa_lab.core.weights import init_from
    fresh_w = build_model(load_config("base", smoke_overrides + ["stage=sft"])).audio_tower.layers[0].fc1.weight
    sft = build_model(load_config("base", smoke_overrides + ["stage=sft", f"init_from={ckpt}"]))
    trained_w = pre.model.audio_tower.layers[0].fc1.weight
    assert torch.equal(sft.audio_tower.layers[0].fc1.weight, trained_w)
    assert not torch.equal(fresh_w, trained_w)  # pretraining moved it, so the copy is observable
    init_from(sft, ckpt)
    from qa_lab.core.tokenizer import tag_token_ids
    tags = torch.tensor(tag_token_ids(sft.tokenizer))
    with torch.no_grad():  # the tag tokens' rows pretraining trained, and the projector, as pretraining left them
        assert torch.equal(sft.language_model.get_input_embeddings()(tags),
                           pre.model.language_model.get_input_embeddings()(tags))
        assert not torch.equal(sft.language_model.get_input_embeddings()(tags),
                               build_model(load_config("base", smoke_overrides + ["stage=sft"])).language_model
                               .get_input_embeddings()(tags))  # pretraining moved them
    assert all(torch.equal(a, b) for a, b in zip(sft.projector.parameters(), pre.model.projector.parameters()))
    with pytest.raises(ValueError, match="none of its"):
        torch.save({"state_dict": {"model.nothing": torch.zeros(1)}}, pre_dir / "bad.ckpt")
        init_from(sft, pre_dir / "bad.ckpt")


@pytest.mark.slow
def test_lora_finetune_from_a_full_checkpoint_keeps_and_reloads_every_weight(smoke_overrides, corpus):
    # full stage: plain names; finetune: the same weights under peft's wrapping, plus LoRA
    full_dir, full = train(load_config("base", smoke_overrides + ["stage=full"]), report_examples=0)
    ckpt = full_dir / "checkpoints" / "last.ckpt"
    ft_dir, ft = train(load_config("base", smoke_overrides + ["stage=finetune", f"init_from={ckpt}"]),
                       report_examples=0)
    q_full = full.model.language_model.model.layers[0].self_attn.q_proj.weight
    q_ft = ft.model.language_model.get_base_model().model.layers[0].self_attn.q_proj.weight  # peft's public accessors
    assert torch.equal(q_full, q_ft)  # the trained LLM weight, not the preset's
    _, reloaded = load_checkpoint(ft_dir / "checkpoints" / "last.ckpt")  # frozen weights come from init_from again
    ds = AudioTextDataset(read_manifest(corpus / "val.jsonl"), reloaded.tokenizer)
    batch = Collator(reloaded.tokenizer)([ds[0], ds[1]])
    with torch.no_grad():
        assert torch.allclose(ft.model.eval()(batch)["loss"], reloaded(batch)["loss"], atol=1e-5)

@pytest.mark.slow
def test_step_fraction_trains_that_share_of_max_steps_and_ends_its_schedule_there(smoke_overrides):
    over = smoke_overrides + ["trainer.max_steps=6", "trainer.step_fraction=0.5", "trainer.lr=1e-3"]
    run_dir, _ = train(load_config("demo", over), report_examples=0)
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 3
    assert ckpt["lr_schedulers"][0]["_last_lr"][0] == pytest.approx(1e-4)  # the cosine's floor at step 3, not 6


def test_one_schedule_warms_up_then_decays_to_its_floor():
    from qa_lab.train.module import warmup_cosine
    run, part = warmup_cosine(10, 110, floor=0.1), warmup_cosine(10, 110, from_zero=True)
    assert run(0) == pytest.approx(0.1) and part(0) == 0.0  # a run's first step already learns
    assert run(9) == 1.0 and part(10) == 1.0
    assert run(110) == pytest.approx(0.1) and part(110) == pytest.approx(0.0) and run(500) == pytest.approx(0.1)
    decay = [run(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))
    assert run(60) == pytest.approx(0.55)  # halfway down the cosine: halfway between peak and floor


def test_bf16_runs_in_full_precision_on_a_cpu_without_it_or_when_the_environment_says(monkeypatch, tmp_path):
    """QA_LAB_PRECISION replaces trainer.precision in every run (`make test-fp32`); a CPU without bf16 matmuls trains
    a bf16 config in 32-true (emulated bf16 is several times slower) unless QA_LAB_PRECISION insists."""
    from qa_lab.train import trainer as trainer_module
    if torch.cuda.is_available():
        pytest.skip("CPU precision rules")
    monkeypatch.delenv(trainer_module.PRECISION_ENV, raising=False)
    monkeypatch.setattr(trainer_module, "cpu_has_bf16", lambda precision="": False)
    assert trainer_module.resolve_precision("bf16-mixed") == "32-true"
    assert trainer_module.resolve_precision("auto") == "32-true"
    monkeypatch.setenv(trainer_module.PRECISION_ENV, "bf16-mixed")
    assert trainer_module.resolve_precision("32-true") == "bf16-mixed"  # insisted on
    monkeypatch.setattr(trainer_module, "cpu_has_bf16", lambda precision="": True)
    monkeypatch.setenv(trainer_module.PRECISION_ENV, "32-true")
    cfg = load_config("demo", [f"runs_dir={tmp_path}"])
    assert cfg.trainer.precision == "bf16-mixed"
    assert trainer_module.trainer_for(cfg, tmp_path).precision == "32-true"
    monkeypatch.delenv(trainer_module.PRECISION_ENV)
    assert trainer_module.trainer_for(cfg, tmp_path).precision == "bf16-mixed"



def test_a_run_that_would_not_fit_in_memory_says_so_before_any_folder_exists(smoke_overrides, tmp_path, monkeypatch):
    from qa_lab.train import memory
    cfg = load_config("demo", smoke_overrides)
    model = __import__("qa_lab.core.build", fromlist=["build_model"]).build_model(cfg)
    need = sum(memory.training_bytes(model, int(cfg.data.batch_seconds / model.frame_seconds)).values())
    assert need > 12 * sum(p.numel() for p in model.parameters() if p.requires_grad)  # logits counted too
    monkeypatch.setattr(memory, "available_bytes", lambda: need // 2)
    with pytest.raises(ValueError, match=r"needs at least .* GB more .* but this machine has .* GB free"):
        train(cfg, report_examples=0)
    assert not (tmp_path / "runs").exists()
    monkeypatch.setattr(memory, "available_bytes", lambda: 10 * need)
    run_dir, _ = train(load_config("demo", smoke_overrides + ["trainer.max_steps=1"]), report_examples=0)
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
