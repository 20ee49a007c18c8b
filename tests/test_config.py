from pathlib import Path

import pytest

from qa_lab.config import EXPERIMENTS_DIR, ConfigError, experiment_names, from_yaml, load_config, to_yaml


def test_base_defaults_and_stable_keys():
    cfg = load_config("base")
    assert cfg.model.preset == "tiny"
    assert cfg.tags.format == "hierarchical"
    for key in ("model.preset", "tags.format", "trainer.max_steps", "trainer.precision", "trainer.strategy",
                "data.batch_seconds", "seed"):
        node = cfg
        for part in key.split("."):
            node = getattr(node, part)


def test_overrides_merge_deeply_and_keep_nested_defaults():
    cfg = load_config("base", ["trainer.max_steps=7", "world.n_train=3", "lora.target_modules=[q_proj]"])
    assert cfg.trainer.max_steps == 7
    assert cfg.world.n_train == 3
    assert cfg.world.size == "tiny" and cfg.world.languages == ["en", "de", "fr", "es", "zh"]  # siblings survive
    assert cfg.lora.target_modules == ["q_proj"]
    assert cfg.trainer.lr == 1e-3


def test_experiment_inherits_from_parent(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text("parent: demo\ntrainer:\n  lr: 0.01\n")
    cfg = load_config(child)
    assert cfg.stage == "full"  # from demo.yaml
    assert cfg.trainer.lr == 0.01
    assert cfg.parent == "demo" and cfg.name == "child"


def test_parent_is_recorded_by_the_name_that_loads_it(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text("parent: ablations/srwt_on\n")
    cfg = load_config(child)
    assert cfg.parent == "ablations/srwt_on"  # not the bare stem, which names no experiment
    assert load_config(cfg.parent).data.tasks == cfg.data.tasks


def test_unknown_key_names_key_and_suggestion():
    with pytest.raises(ConfigError, match=r"unknown config key 'trainer.max_step'.*did you mean 'trainer.max_steps'"):
        load_config("base", ["trainer.max_step=5"])


def test_unknown_key_in_yaml_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("parent: base\nmodel:\n  presett: tiny\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key 'model.presett'.*'model.preset'"):
        load_config(bad)


def test_wrong_type_and_bad_choice_are_errors():
    with pytest.raises(ConfigError, match="trainer.max_steps"):
        load_config("base", ["trainer.max_steps=many"])
    with pytest.raises(ConfigError, match="tags.format='tree'"):
        load_config("base", ["tags.format=tree"])
    with pytest.raises(ConfigError, match="stage"):
        load_config("base", ["stage=warmup"])


def test_smoke_shrinks_any_experiment_but_explicit_overrides_win(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("parent: base\nmodel:\n  preset: whisper-large-v2+qwen2.5-7b\ntrainer:\n  max_steps: 100000\n")
    cfg = load_config(big, ["smoke=true"])
    assert cfg.model.preset == "tiny" and cfg.trainer.max_steps <= 5
    assert load_config(big, ["smoke=true", "trainer.max_steps=7"]).trainer.max_steps == 7


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config("demo", ["seed=3"])
    p = tmp_path / "c.yaml"
    p.write_text(to_yaml(cfg))
    assert from_yaml(p) == cfg


def test_every_experiment_has_hypothesis_comment_and_merges():
    from qa_lab.study.ablation import load_ablation
    names = experiment_names()
    assert {"demo", "ablations/srwt", "ablations/srwt_on", "scale/tiny-cpu", "finetune/new_task"} <= set(names)
    for name in names:
        f = EXPERIMENTS_DIR / f"{name}.yaml"
        first = f.read_text().splitlines()[0]
        assert first.startswith("#") and "qa-lab" in first, f"{f}: first line must state hypothesis and command"
        if "arms:" in f.read_text():
            ab = load_ablation(name)
            for arm in ab.arms:  # every arm merges with the scale, and the two never set the same key
                from qa_lab.study.ablation import arm_config
                arm_config(ab, arm, ab.seeds[0])
        elif name.startswith("scale/"):
            load_config("base", layers=[name])
        else:
            load_config(name)


def test_unknown_experiment_suggests():
    with pytest.raises(ConfigError, match="did you mean 'demo'"):
        load_config("demoo")


def test_own_data_needs_both_manifests():
    with pytest.raises(ConfigError, match="data.train_manifest and data.val_manifest"):
        load_config("base", ["data.train_manifest=train.jsonl"])


@pytest.mark.parametrize("argv", [[], ["eval"], ["ablate"], ["world", "build"], ["data", "prepare"],
                                  ["pretrain-parts"], ["tasks"]])
def test_every_command_prints_its_help(argv, capsys):
    from qa_lab.cli import main
    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0 and "usage: qa-lab" in capsys.readouterr().out


def test_overrides_may_follow_an_option_and_other_stray_words_are_refused(capsys):
    from qa_lab.cli import parse_args
    a = parse_args(["ablate", "ablations/srwt", "seed=2", "--seeds", "1", "trainer.max_steps=50"])
    assert a.seeds == 1 and a.overrides == ["seed=2", "trainer.max_steps=50"]
    a = parse_args(["train", "demo", "--resume", "last.ckpt", "trainer.max_steps=9"])
    assert a.resume == "last.ckpt" and a.overrides == ["trainer.max_steps=9"]
    for argv in (["ablate", "ablations/srwt", "--seeds", "1", "--bogus"], ["ablate", "ablations/srwt", "--seeds", "1", "word"],
                 ["tasks", "stray=1"]):
        with pytest.raises(SystemExit) as e:
            parse_args(argv)
        assert e.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_eval_devices_below_one_is_refused_naming_the_flag(value, capsys):
    from qa_lab.cli import parse_args
    with pytest.raises(SystemExit) as e:
        parse_args(["eval", "last.ckpt", "--devices", value])
    assert e.value.code == 2 and "--devices" in capsys.readouterr().err
