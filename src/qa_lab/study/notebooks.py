"""What the ablation notebooks (02 SRWT, 03 tag formats, 04 interference) share: their table, read from a committed
results folder by default, or made by training the ablation (one flag away)."""

from __future__ import annotations

from pathlib import Path

from qa_lab.config import EXPERIMENTS_DIR
from qa_lab.study.ablation import default_runs_dir, resolve, run_ablation
from qa_lab.study.probes import probe_ablation


def results_or_train(ablation: str, results: str | None, seeds: int | None = None, scale: str | None = None,
                     overrides: list[str] | tuple = (), probes: dict | None = None) -> tuple[Path, Path | None]:
    """-> (the folder holding results.md / results.csv, the runs folder or None).

    `results`: a committed results folder, relative to the repository root, read as it is (there are no run folders
    then). None: every arm x seed of `ablation` (its first `seeds` seeds, at `scale`, with `overrides`) is trained,
    finished runs read back and interrupted ones resumed, then, with `probes` (probe_ablation's keywords), the
    interference probes run over them."""
    if results is not None:
        root = EXPERIMENTS_DIR.parent / results
        if not (root / "results.md").is_file():
            raise FileNotFoundError(f"{root}: no results.md there; name a folder under experiments/results/, or set "
                                    "results=None to train the runs")
        print(f"reading the committed results in {results}/ (set results=None to train); their reading: "
              f"{results}/README.md")
        return root, None
    root = run_ablation(ablation, seeds=seeds, overrides=overrides, scale=scale)
    runs_dir = default_runs_dir(resolve(ablation, seeds, scale), overrides)
    if probes is not None:
        probe_ablation(resolve(ablation, seeds, scale), runs_dir, **probes)
    return root, runs_dir
