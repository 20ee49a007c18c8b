"""Measure the figures tests/test_listen.py bounds, on both numerics paths and two seeds, so its bounds carry a margin
that holds on other CPUs: `python experiments/results/test-margins/listen.py [--out listen.json]` (about 4 min a run
on a 2-core CPU after the shared parts and world)."""

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

from qa_lab.study import provenance

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(HERE / "listen.json"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--precisions", nargs="+", default=["32-true", "bf16-mixed"])
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("test_listen", ROOT / "tests" / "test_listen.py")
    listen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(listen)
    out = {"command": "python experiments/results/test-margins/listen.py", **provenance.git_state(ROOT),
           **provenance.machine(), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for precision in args.precisions:
            for seed in args.seeds:
                start = time.time()
                cfg = listen.recipe(Path(tmp), seed, precision)
                m = listen.measure(cfg, listen.trained_model(cfg))
                m.update(precision=precision, seed=seed, wall_s=round(time.time() - start))
                out["runs"].append(m)
                print(json.dumps({k: v for k, v in m.items() if k != "examples"}), flush=True)
                Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
