"""The benchmark scripts run (their figures are read by people, not asserted here)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs whole notebooks / benchmark scripts: seconds to a minute each

ROOT = Path(__file__).resolve().parents[1]


def test_train_step_benchmark_runs_and_prints_its_last_line(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "train_step.py"), "--clips", "4",
                          "--batch-size", "2", "--threads", "1", "--repeats", "1", "--warmup", "0", "--wait-quiet", "0", "--max-seconds", "3",
                          "--json", str(tmp_path / "b.json")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("speedup_vs_30s_padding: ") and float(last.split(": ")[1]) > 0
    assert (tmp_path / "b.json").stat().st_size > 0


def test_world_build_benchmark_runs_and_prints_its_last_line(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "world_build.py"), "--workers", "2",
                          "--set", "world.n_train=2", "--set", "world.n_val=1", "--set", "world.n_test=1",
                          "--set", "world.tasks=[asr,event,note_analysis]", "--json", str(tmp_path / "w.json")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("clips_per_second: ") and float(last.split(": ")[1]) > 0
    assert json.loads((tmp_path / "w.json").read_text())["identical"] is True


def test_decode_benchmark_runs_and_prints_its_last_line(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "decode.py"), "--clips", "4", "--batch-size", "2",
                          "--new-tokens", "3", "--repeats", "1", "--json", str(tmp_path / "d.json")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("realtime_factor: ") and float(last.split(": ")[1]) > 0
    assert json.loads((tmp_path / "d.json").read_text())["clips"] == 4


def test_cached_features_benchmark_runs_and_prints_its_last_line():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cached_features.py"), "--encoder", "",
                          "--clips", "4", "--batch-size", "2", "--repeats", "1"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("speedup_cached_features: ") and float(last.split(": ")[1]) > 0


def test_gpu_step_benchmark_runs_on_cpu_at_the_tiny_shape(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_step.py"), "--shape", "tiny",
                          "--device", "cpu", "--clips", "4", "--batch-size", "2", "--max-seconds", "6", "--steps", "1",
                          "--warmup", "1", "--qlora", "--json", str(tmp_path / "g.json")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last == "mfu_kit_path: n/a"  # no bf16 peak on a CPU
    result = json.loads((tmp_path / "g.json").read_text())
    arms = {(a["path"], a["checkpointing"], a["qlora"]) for a in result["arms"]}
    assert {(p, c, False) for p in ("real", "pad30") for c in (False, True)} <= arms
    assert all(a["flops_per_step"] > a["useful_flops_per_step"] > 0 and a["audio_seconds_per_second"] > 0
               for a in result["arms"])
    if result["qlora_skipped"]:  # bitsandbytes not installed: said so, and nothing failed
        assert "QLoRA arm skipped: bitsandbytes" in out.stdout and not any(q for _, _, q in arms)
    else:
        assert {(p, c, True) for p in ("real", "pad30") for c in (False, True)} <= arms


def test_qwen2_audio_step_benchmark_runs_both_paths_and_prints_its_last_line(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "qwen2_audio_step.py"), "--clips", "4",
                          "--batch-size", "2", "--max-seconds", "4", "--repeats", "1", "--json", str(tmp_path / "q.json")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("speedup_vs_processor_path: ") and float(last.split(": ")[1]) > 0
    result = json.loads((tmp_path / "q.json").read_text())
    # the same LoRA on the same LLM in both arms; the kit also trains the rows of the tokens it adds
    assert 0 < result["processor"]["trainable_parameters"] < result["kit"]["trainable_parameters"]


def test_memory_growth_benchmark_runs_and_prints_its_last_line(smoke_overrides, tmp_path):
    sets = [x for o in smoke_overrides if not o.startswith("runs_dir=") for x in ("--set", o)]
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "memory_growth.py"), "--experiment", "demo",
                          "--scale", "", "--steps", "6", "--every", "2", *sets, "--json", str(tmp_path / "m.json")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("growth_mb_per_100_steps: ")
    readings = json.loads((tmp_path / "m.json").read_text())["readings"]
    assert [r["step"] for r in readings] == [2, 4, 6] and all(r["rss_gb"] > 0.2 for r in readings)


def test_encoding_benchmark_runs_and_prints_its_last_line(smoke_overrides, tmp_path):
    sets = [x for o in smoke_overrides if not o.startswith("runs_dir=") for x in ("--set", o)]
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "encoding.py"), "--experiment", "demo",
                          "--scale", "", "--clips", "4", "--profile", *sets, "--json", str(tmp_path / "e.json")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("clips_per_s: ") and float(last.split(": ")[1]) > 0
    assert "Self CPU" in out.stdout  # the profile's table
    assert json.loads((tmp_path / "e.json").read_text())["clips"] == 4
