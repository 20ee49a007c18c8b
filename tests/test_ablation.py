"""The ablation runner: resume and skip, and its table on synthetic numbers with known answers."""

import csv
import json

import pytest
import torch

from qa_lab.config import ConfigError
from qa_lab.study import ablation
from qa_lab.study.ablation import DONE, TRAINED, arm_config, load_ablation, run_ablation, run_dir, summarize


def _write_ablation(tmp_path, runs, world, parts, seeds="[0]") -> str:
    for arm, tasks in (("with", "[asr, srwt]"), ("without", "[asr]")):
        (tmp_path / f"{arm}.yaml").write_text(
            f"# Hypothesis: test arm. Run: qa-lab ablate x\nparent: base\nworld:\n  languages: [en]\n"
            f"  tasks: [asr, srwt]\ndata:\n  tasks: {tasks}\n")
    path = tmp_path / "toy.yaml"
    path.write_text(f"""# Hypothesis: toy ablation. Run: qa-lab ablate {path}
name: toy
arms: {{with: {tmp_path / 'with.yaml'}, without: {tmp_path / 'without.yaml'}}}
baseline: without
seeds: {seeds}
eval: [{{world: test, limit: 1, max_new_tokens: 4}}]
metrics: ["asr/wer[en]", srwt/aas]
overrides: [smoke=true, world.out={world}, runs_dir={runs}, parts.out={parts}, world.n_test=1]
""")
    return str(path)


@pytest.mark.slow
def test_killed_run_is_resumed_and_finished_runs_are_skipped(tmp_path, monkeypatch, capsys):
    path = _write_ablation(tmp_path, tmp_path / "runs", tmp_path / "world", tmp_path / "parts")
    ab = load_ablation(path)
    # a run killed after 2 of its 3 steps: a checkpoint, no TRAINED marker
    from qa_lab.config import to_yaml
    from qa_lab.train.run import train
    d = run_dir(ab, tmp_path / "runs", "with", 0)
    train(arm_config(ab, "with", 0, ["trainer.max_steps=2"]), report_examples=0, run_dir=d)
    (d / ablation.RECIPE).write_text(to_yaml(arm_config(ab, "with", 0)))  # what run_one writes before training
    assert (d / "checkpoints" / "last.ckpt").is_file() and not (d / TRAINED).exists()
    root = run_ablation(path)
    for arm in ("with", "without"):
        r = run_dir(ab, tmp_path / "runs", arm, 0)
        assert (r / DONE).is_file() and (r / "eval" / "world-test" / "metrics.json").is_file()
    step = torch.load(d / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"]
    assert step == 3  # resumed at 2 and finished the remaining step, not restarted
    rows = list(csv.DictReader((root / "results.csv").open()))
    assert {r["arm"] for r in rows} == {"with", "without"}
    assert "| world-test | asr/wer[en] |" in (root / "results.md").read_text()
    assert (root / "results.png").stat().st_size > 0

    def refuse(*a, **k):
        raise AssertionError("a finished run was trained again")
    monkeypatch.setattr("qa_lab.study.ablation.train", refuse)
    run_ablation(path)  # every run DONE: nothing retrains
    # an eval set added to the file since (with its own decoding): evaluated on the finished runs, the first kept
    first = (d / "eval" / "world-test" / "metrics.json").stat().st_mtime_ns
    entry = "{world: test, limit: 1, max_new_tokens: 4}"
    beams, frames = f"{entry[:-1]}, decode: {{num_beams: 2}}}}", f"{entry[:-1]}, decode: {{times: ctc}}}}"
    text = open(path).read().replace(f"eval: [{entry}]", f"eval: [{entry}, {beams}, {frames}]")
    open(path, "w").write(text)
    root = run_ablation(path)
    assert (d / "eval" / "world-test.num_beams-2" / "metrics.json").is_file() and (d / DONE).is_file()
    # times from the frames need a model trained with the CTC loss: left out for this one, not an error
    assert "world-test.times-ctc left out" in capsys.readouterr().out and not (d / "eval" / "world-test.times-ctc").exists()
    assert (d / "eval" / "world-test" / "metrics.json").stat().st_mtime_ns == first
    assert "| world-test.num_beams-2 | asr/wer[en] |" in (root / "results.md").read_text()
    run_ablation(path, overrides=["decode.num_beams=2"])  # decoding changed: evaluated again, not retrained
    assert (d / DONE).is_file() and len(list(d.glob("eval.before-*/world-test/metrics.json"))) == 1
    assert "decode:\n  num_beams: 2" in (d / ablation.RECIPE).read_text() and not list(d.parent.glob("*.stale-*"))
    monkeypatch.undo()
    # another recipe: the old runs are kept aside, not mixed into the new table
    run_ablation(path, overrides=["trainer.max_steps=2", "decode.num_beams=2"])
    stale = sorted(d.parent.glob("seed0.stale-*"))
    assert len(stale) == 1 and (stale[0] / DONE).is_file()
    step = torch.load(d / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"]
    assert step == 2 and (d / DONE).is_file()


def _fake_runs(tmp_path, values: dict[str, list[float]]) -> ablation.Ablation:
    for arm in ("x", "y"):
        (tmp_path / f"{arm}.yaml").write_text("# Hypothesis: test arm. Run: qa-lab ablate x\nparent: base\n")
    ab = ablation.Ablation(name="fake", path=tmp_path / "fake.yaml",
                           arms={"a": str(tmp_path / "x.yaml"), "b": str(tmp_path / "y.yaml")},
                           seeds=[0, 1, 2], eval=[{"world": "test"}], metrics=["asr/wer[en]", "asc/accuracy"],
                           baseline="b")
    for arm, vals in values.items():
        for seed, (wer, acc) in enumerate(vals):
            d = run_dir(ab, tmp_path, arm, seed)
            (d / "eval" / "world-test").mkdir(parents=True)
            metrics = {"asr": {"n": 10, "format_errors": 0, "wer[en]": {"value": wer}},
                       "asc": {"n": 10, "format_errors": 0, "accuracy": {"value": acc}}}
            (d / "eval" / "world-test" / "metrics.json").write_text(json.dumps({"meta": {}, "metrics": metrics}))
            (d / DONE).write_text("")
    return ab


def test_table_reports_means_cis_and_paired_differences(tmp_path):
    # arm a: WER lower by exactly 0.1 on every seed (significant); accuracy differences straddle 0 (not significant)
    ab = _fake_runs(tmp_path, {"a": [(0.2, 0.5), (0.3, 0.7), (0.4, 0.6)], "b": [(0.3, 0.6), (0.4, 0.6), (0.5, 0.6)]})
    root = summarize(ab, tmp_path)
    table = (root / "results.md").read_text()
    wer_row = next(line for line in table.splitlines() if "asr/wer[en]" in line)
    acc_row = next(line for line in table.splitlines() if "asc/accuracy" in line)
    assert "0.300 [0.052, 0.548] (n=3)" in wer_row  # mean 0.3, t(0.975, 2) * 0.1 / sqrt(3) = 0.248
    assert "-0.100" in wer_row and "a is better than b" in wer_row
    assert "no significant difference" in acc_row
    rows = list(csv.DictReader((root / "results.csv").open()))
    assert len(rows) == 2 * 3 * 2


@pytest.mark.parametrize("treated, took", [([0.25, 0.26, 0.27], "yes"), ([0.95, 0.96, 0.97], "barely"),
                                           ([0.99, 1.0, 1.01], "**no**")])
def test_the_table_says_whether_the_treatment_took_and_marks_figures_timed_by_the_frames(tmp_path, treated, took):
    # srwt_on trains SRWT, srwt_off does not; the LLM's own SRWT WER decides, never the frames' (which would say yes)
    for arm, tasks in (("on", "[asr, srwt]"), ("off", "[asr]")):
        (tmp_path / f"{arm}.yaml").write_text(f"# Hypothesis: arm. Run: x\nparent: base\ndata:\n  tasks: {tasks}\n")
    frames = {"world": "test", "decode": {"times": "ctc"}}
    ab = ablation.Ablation(name="srwt", path=tmp_path / "srwt.yaml", seeds=[0, 1, 2], baseline="srwt_off",
                           arms={"srwt_on": str(tmp_path / "on.yaml"), "srwt_off": str(tmp_path / "off.yaml")},
                           eval=[{"world": "test"}, frames], metrics=["srwt/srwt_wer", "asr/wer[en]"])
    for arm, own, by_frames in (("srwt_on", treated, 0.3), ("srwt_off", [1.0, 1.0, 1.0], 0.35)):
        for seed in range(3):
            d = run_dir(ab, tmp_path, arm, seed)
            for ev, wer in (("world-test", own[seed]), ("world-test.times-ctc", by_frames + 0.01 * seed)):
                (d / "eval" / ev).mkdir(parents=True)
                metrics = {"srwt": {"n": 10, "format_errors": 0, "srwt_wer": {"value": wer}},
                           "asr": {"n": 10, "format_errors": 0, "wer[en]": {"value": 0.3}}}
                (d / "eval" / ev / "metrics.json").write_text(json.dumps({"meta": {}, "metrics": metrics}))
            (d / DONE).write_text("")
    text = (summarize(ab, tmp_path) / "results.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| world-test")]
    assert any(r.startswith("| world-test | srwt/srwt_wer |") for r in rows)
    assert any(r.startswith("| world-test.times-ctc | srwt/srwt_wer[frames] |") for r in rows)
    assert not any("asr/wer[en][frames]" in r for r in rows)  # only the timed tasks' figures come from the frames
    verdict = next(line for line in text.splitlines() if "Treatment took?" in line and "trains" in line)
    assert verdict.startswith("srwt_on trains srwt, srwt_off does not") and f"Treatment took? {took}" in verdict
    assert "times-ctc" not in text.split("## Treatment took?")[1]


def test_arms_that_train_the_same_tasks_get_no_treatment_check(tmp_path):
    ab = _fake_runs(tmp_path, {"a": [(0.2, 0.5)] * 3, "b": [(0.3, 0.6)] * 3})
    assert "Treatment took?" not in (summarize(ab, tmp_path) / "results.md").read_text()


def test_arm_and_scale_must_not_set_the_same_key(tmp_path):
    (tmp_path / "arm.yaml").write_text("# Hypothesis: x. Run: qa-lab x\nparent: base\ntrainer:\n  max_steps: 5\n")
    (tmp_path / "scale.yaml").write_text("# Scale. Run: qa-lab x\ntrainer:\n  max_steps: 7\n")
    (tmp_path / "ab.yaml").write_text(f"# Hypothesis: x. Run: qa-lab x\narms: {{a: {tmp_path / 'arm.yaml'}, "
                                      f"b: {tmp_path / 'arm.yaml'}}}\nscale: {tmp_path / 'scale.yaml'}\n")
    ab = load_ablation(tmp_path / "ab.yaml")
    with pytest.raises(ConfigError, match=r"both set \['trainer.max_steps'\]"):
        arm_config(ab, "a", 0)


@pytest.mark.parametrize("text,match", [
    ("name: x\n", "needs an `arms:`"),
    ("arms: {a: demo}\n", "at least two arms"),
    ("arms: {a: demo, b: demoo}\n", "did you mean 'demo'"),
    ("arms: {a: demo, b: demo}\nbaseline: c\n", "baseline 'c'"),
    ("arms: {a: demo, b: demo}\nmetric: [x]\n", "unknown key"),
    ("arms: {a: demo, b: demo}\neval: [{world: test, decode: {beams: 2}}]\n", "decode keys are"),
    ("arms: {a: demo, b: demo}\neval: [{world: test, decode: {times: frames}}]\n", "decode.times"),
    ("arms: {a: demo, b: demo}\neval: [{world: test}, {world: test}]\n", "share a name"),
    ("arms: {a: demo, b: demo}\neval: [{world: test, decoding: {}}]\n", "optional: decode"),
    ("arms: {a: demo, b: demo}\neval: [{world: test, tasks: trainde}]\n", "or 'trained'"),
])
def test_bad_ablation_files_name_the_problem(tmp_path, text, match):
    (tmp_path / "ab.yaml").write_text("# Hypothesis: x. Run: qa-lab x\n" + text)
    with pytest.raises(ConfigError, match=match):
        load_ablation(tmp_path / "ab.yaml")


@pytest.mark.parametrize("flag, value", [("--seeds", "0"), ("--seeds", "-1"), ("--jobs", "0")])
def test_a_count_below_one_is_refused_naming_the_flag(flag, value, capsys):
    from qa_lab.cli import parse_args
    with pytest.raises(SystemExit) as e:
        parse_args(["ablate", "ablations/srwt", flag, value])
    assert e.value.code == 2 and flag in capsys.readouterr().err


def test_a_recipe_written_before_a_new_config_key_is_still_the_same_recipe(tmp_path):
    from qa_lab.config import load_config, to_yaml
    cfg = load_config("demo")
    old = tmp_path / "recipe.yaml"
    old.write_text("\n".join(l for l in to_yaml(cfg).splitlines() if "max_target_tokens" not in l) + "\n")
    assert "max_target_tokens" not in old.read_text()
    assert ablation._same_recipe(old, cfg)  # the key read as its default: finished runs stay valid
    assert not ablation._same_recipe(old, load_config("demo", ["data.max_target_tokens=9"]))
    assert not ablation._same_recipe(tmp_path / "missing.yaml", cfg)


def test_a_fixed_world_seed_gives_every_seed_one_world_and_null_means_the_run_seed(tmp_path):
    from qa_lab.config import load_config, to_yaml
    from qa_lab.world.builder import world_dir
    own = [load_config("demo", [f"seed={s}"]) for s in (0, 1)]
    fixed = [load_config("demo", [f"seed={s}", "world.seed=0"]) for s in (0, 1)]
    assert [c.world_seed for c in own] == [0, 1] and [c.world_seed for c in fixed] == [0, 0]
    assert world_dir(own[0].world, own[0].world_seed) != world_dir(own[1].world, own[1].world_seed)
    assert world_dir(fixed[1].world, fixed[1].world_seed) == world_dir(own[0].world, own[0].world_seed)
    old = tmp_path / "recipe.yaml"  # written with world.seed null: seed 0's world, so the same recipe as world.seed=0
    old.write_text(to_yaml(own[0]))
    assert ablation._same_recipe(old, fixed[0])
    assert not ablation._same_recipe(old, load_config("demo", ["world.seed=1"]))


@pytest.mark.slow
def test_parallel_runs_give_the_serial_table_and_a_failed_run_spares_the_others(tmp_path, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)  # one thread per run process, as the serial run below
    (tmp_path / "s").mkdir()
    (tmp_path / "p").mkdir()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        serial = run_ablation(_write_ablation(tmp_path / "s", tmp_path / "s" / "runs", tmp_path / "world",
                                              tmp_path / "parts"))
    finally:
        torch.set_num_threads(threads)
    path = _write_ablation(tmp_path / "p", tmp_path / "p" / "runs", tmp_path / "world", tmp_path / "parts")
    parallel = run_ablation(path, jobs=2)
    prov = json.loads((parallel / "provenance.json").read_text())  # beside the table: where it came from
    assert {"commit", "dirty", "command", "config_hash", "cpu", "cores", "versions", "start", "end"} <= set(prov)
    assert prov["wall_s"] > 0 and prov["peak_memory_gb"] > 0.2  # the run processes' memory counted, not just this one
    assert set(prov["runs"]) == {"with seed 0", "without seed 0"}
    assert all(r["steps_per_s"] > 0 for r in prov["runs"].values())
    table = lambda root: sorted((r["arm"], r["task"], r["metric"], r["value"])  # noqa: E731
                                for r in csv.DictReader((root / "results.csv").open()))
    assert table(parallel) == table(serial) and len(table(serial)) >= 4
    ab = load_ablation(path)
    for arm in ("with", "without"):  # the same losses at every step, to the last digit
        logs = [(run_dir(ab, tmp_path / k / "runs", arm, 0) / "logs" / "metrics.csv").read_text() for k in "sp"]
        assert logs[0] == logs[1] and "train/loss" in logs[0]

    # a run that cannot resume (every checkpoint unreadable) fails in its own process; the other run finishes
    for arm in ("with", "without"):
        d = run_dir(ab, tmp_path / "p" / "runs", arm, 0)
        for marker in (DONE, TRAINED):
            (d / marker).unlink()
    for ckpt in (run_dir(ab, tmp_path / "p" / "runs", "with", 0) / "checkpoints").glob("*.ckpt"):
        ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match=r"1 of 2 runs failed: with seed 0 \(exit code 1\)"):
        run_ablation(path, jobs=2)
    assert (run_dir(ab, tmp_path / "p" / "runs", "without", 0) / DONE).is_file()
    assert not (run_dir(ab, tmp_path / "p" / "runs", "with", 0) / DONE).is_file()


@pytest.mark.slow
def test_sigterm_to_a_parallel_ablation_saves_every_run_and_the_same_command_finishes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    path = _write_ablation(tmp_path, tmp_path / "runs", tmp_path / "world", tmp_path / "parts")
    text = open(path).read().replace("world.n_test=1]", "world.n_test=1, trainer.max_steps=200, "
                                     "trainer.checkpoint_every_n_steps=2, trainer.val_every_n_steps=200]")
    open(path, "w").write(text)
    ab = load_ablation(path)
    dirs = [run_dir(ab, tmp_path / "runs", arm, 0) for arm in ("with", "without")]
    cmd = [sys.executable, "-c", "from qa_lab.cli import main; main()", "ablate", path, "--jobs", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 300
    # both runs are training: each has saved a step checkpoint (any: keep_checkpoints prunes the oldest, so step2.ckpt
    # may be gone before the other run saves its first)
    while not all(any((d / "checkpoints").glob("step*.ckpt")) for d in dirs):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline, "the runs did not both reach step 2 within 300 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # to the parent alone, as a scheduler does
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert "stopped by SIGTERM" in err and "run the same command again to resume" in err
    for d in dirs:  # each run saved the step it reached and is not marked trained
        step = torch.load(d / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"]
        assert 2 <= step < 200 and not (d / TRAINED).exists()
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert all((d / DONE).is_file() for d in dirs) and "resuming from" in out.stdout


def test_a_parallel_ablation_that_cannot_prepare_raises_the_error_a_serial_one_does(tmp_path):
    """run_parallel prepares parts, world and features in a process of its own (so the parent stays small while the
    runs train): a bad input still stops it with the kit's error naming the file, not a child's traceback."""
    path = _write_ablation(tmp_path, tmp_path / "runs", tmp_path / "world", tmp_path / "parts")
    missing = [f"data.{split}_manifest={tmp_path / 'missing.jsonl'}" for split in ("train", "val")]
    errors = []
    for jobs in (1, 2):
        with pytest.raises(ValueError, match="missing.jsonl: manifest not found") as e:
            run_ablation(path, jobs=jobs, overrides=missing)
        errors.append((type(e.value), str(e.value)))
    assert errors[0] == errors[1]
    assert not list((tmp_path / "runs").rglob("DONE"))


def test_provenance_keeps_the_command_that_trained_when_a_rerun_rewrites_it(tmp_path):
    from qa_lab.study import provenance
    path = tmp_path / "provenance.json"
    provenance.write(path, 0.0, 4680.0, ["a: 1"], {"x seed 0": {"train_s": 800}}, argv=["qa-lab", "ablate", "x"])
    provenance.write(path, 5000.0, 5002.0, ["a: 1"], {}, argv=["qa-lab", "ablate", "x", "--probes"])
    record = json.loads(path.read_text())
    assert record["wall_s"] == 2.0 and record["command"].endswith("--probes")
    assert [r["wall_s"] for r in record["earlier"]] == [4680.0]
    assert record["earlier"][0]["runs"] == {"x seed 0": {"train_s": 800}}
    provenance.write(path, 6000.0, 6001.0, ["a: 1"], {}, argv=["qa-lab", "ablate", "x"])
    assert [r["wall_s"] for r in json.loads(path.read_text())["earlier"]] == [4680.0, 2.0]


def test_provenance_names_the_code_a_run_started_with_not_a_commit_made_while_it_trained(tmp_path, monkeypatch):
    from qa_lab.study import provenance
    path = _write_ablation(tmp_path, tmp_path / "runs", tmp_path / "world", tmp_path / "parts")
    head = {"commit": "a" * 40, "dirty": False}
    monkeypatch.setattr(provenance, "git_state", lambda where=None: dict(head))

    def train_while_someone_commits(ab, arm, seed, runs_dir, overrides):
        head.update(commit="b" * 40, dirty=True)
    monkeypatch.setattr(ablation, "run_one", train_while_someone_commits)
    monkeypatch.setattr(ablation, "summarize", lambda ab, runs_dir: ablation.root_dir(ab, runs_dir))
    ablation.root_dir(load_ablation(path), tmp_path / "runs").mkdir(parents=True)
    root = run_ablation(path)
    record = json.loads((root / "provenance.json").read_text())
    assert (record["commit"], record["dirty"]) == ("a" * 40, False)
