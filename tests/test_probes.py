"""Interference probes over an ablation's runs: constant answers, the probes' summary, and `ablate --probes`."""

import csv

import pytest

from qa_lab.cli import main
from qa_lab.study import ablation, probes


def test_the_constant_answer_is_the_best_single_reference_answer():
    labels = [{"task": "gender", "label": g, "audio": "x.wav"} for g in ("female", "female", "male")]
    speech = [{"task": "asr", "text": t, "audio": "x.wav", "audio_lang": "en", "text_lang": "en"}
              for t in ("alpha beta", "gamma delta", "gamma beta")]
    rows = {r["task"]: r for r in probes.constant_answers(labels + speech)}
    assert rows["gender"]["answer"] == "female" and rows["gender"]["value"] == pytest.approx(2 / 3)
    # a transcript is scored on the other clips only (on its own it is the reference): "gamma beta" shares one word
    # with each other clip (WER 1/2), where scoring it on its own clip too would have read 1/3
    assert rows["asr"]["metric"] == "wer[en]" and rows["asr"]["answer"] == "gamma beta"
    assert rows["asr"]["value"] == pytest.approx(0.5)
    # SRWT's headline (AAS over matched words) would let one reference's few matched words pass for skill: its bar is
    # the transcript's WER
    words = [[{"word": w, "start": 0.5 * k, "end": 0.5 * k + 0.4} for k, w in enumerate(t.split())]
             for t in ("the cat sat", "a dog ran")]
    srwt = [{"task": "srwt", "words": ws, "audio": "x.wav", "audio_lang": "en", "text_lang": "en"} for ws in words]
    bar = probes.constant_answers(srwt)[0]
    assert bar["metric"] == "srwt_wer" and bar["value"] > 0.3


def _results(values: dict[str, list[float]]) -> list[dict]:
    return [{"arm": arm, "seed": s, "eval": "world-test", "task": "gender", "metric": "accuracy", "value": v}
            for arm, vals in values.items() for s, v in enumerate(vals)]


def test_the_summary_says_learnt_only_when_every_seed_beats_its_constant():
    ab = ablation.Ablation(name="t", path=None, arms={"a": "x", "b": "y", "c": "z"}, seeds=[0, 1, 2],
                           eval=[{"world": "test"}], metrics=[], baseline="b")
    constants = [{"seed": s, "task": "gender", "metric": "accuracy", "value": 0.6, "answer": "female"}
                 for s in range(3)]
    results = _results({"a": [0.7, 0.8, 0.9], "b": [0.5, 0.55, 0.6], "c": [0.7, 0.5, 0.65]})
    conflict = [{"arm": "a", "seed": s, "task_a": "asr", "task_b": "gender", "cosine": c}
                for s, c in enumerate((-0.2, -0.1, -0.3))]
    confusion = [{"arm": "a", "seed": 0, "prompted": "asr", "form": f, "rate": r}
                 for f, r in (("asr", 0.75), ("gender", 0.25))]
    md = probes.summary(ab, results, confusion, conflict, constants)
    row = next(line for line in md.splitlines() if line.startswith("| gender |"))
    assert "| 60.0 |" in row and "80.0 (learnt)" in row and "55.0 (no)" in row and "61.7 (2/3)" in row
    assert "| a | 75.0 |" in md  # answered in the asked form
    assert "asr / gender (-0.200)" in md and "1 of 1" in md


@pytest.mark.slow
def test_ablate_with_probes_writes_confusion_conflict_and_constants(tmp_path):
    for arm, tasks in (("two", "[asr, gender]"), ("one", "[asr]")):
        (tmp_path / f"{arm}.yaml").write_text(
            f"# Hypothesis: test arm. Run: qa-lab ablate x\nparent: base\nworld:\n  languages: [en]\n"
            f"  tasks: [asr, gender]\ndata:\n  tasks: {tasks}\n")
    path = tmp_path / "toy.yaml"
    path.write_text(f"""# Hypothesis: toy. Run: qa-lab ablate {path}
name: toy
arms: {{two: {tmp_path / 'two.yaml'}, one: {tmp_path / 'one.yaml'}}}
baseline: one
seeds: [0]
eval: [{{world: test, limit: 2, max_new_tokens: 4, tasks: trained}}]
metrics: ["asr/wer[en]", gender/accuracy]
overrides: [smoke=true, world.out={tmp_path / 'world'}, runs_dir={tmp_path / 'runs'}, parts.out={tmp_path / 'parts'},
            world.n_test=2, trainer.grad_conflict_every_n_steps=1]
""")
    main(["ablate", str(path), "--probes", "--probe-clips", "1"])
    root = next(p for p in (tmp_path / "runs" / "toy").iterdir() if (p / "results.md").is_file())
    one = ablation.run_dir(ablation.load_ablation(path), tmp_path / "runs", "one", 0)
    assert not (one / "eval" / "world-test" / "metrics.json").read_text().count('"gender"')  # tasks: trained
    found = probes.read_probes(root)
    rates: dict[str, float] = {}
    for r in found["confusion"]:
        assert r["arm"] == "two"  # a one-task arm has nothing to confuse
        rates[r["prompted"]] = rates.get(r["prompted"], 0.0) + float(r["rate"])
    assert set(rates) == {"asr", "gender"} and all(v == pytest.approx(1.0) for v in rates.values())
    assert [(r["arm"], r["task_a"], r["task_b"]) for r in found["conflict"]] == [("two", "asr", "gender")]
    assert {r["task"] for r in found["constants"]} == {"asr", "gender"}
    text = (root / "probes.md").read_text()
    assert "## Tag confusion" in text and "## Gradient conflict" in text and "## Against the constant answer" in text
    assert (root / "tag_confusion.png").stat().st_size > 0 and (root / "grad_conflict.png").stat().st_size > 0
    with (root / "results.csv").open() as f:
        assert {r["arm"] for r in csv.DictReader(f)} == {"two", "one"}
    before = (root / probes.CONFUSION).read_text()
    (root / "probes.md").unlink()
    probes.probe_ablation(ablation.resolve(str(path)), tmp_path / "runs", decode=False)  # re-summarised, no model
    assert (root / probes.CONFUSION).read_text() == before and "## Tag confusion" in (root / "probes.md").read_text()
