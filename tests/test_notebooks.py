"""Every notebook executes in smoke mode (papermill injects the parameters), sharing one world and parts cache.
Notebooks that read committed results are committed executed, and their outputs must match those results."""

from pathlib import Path

import nbformat
import pytest
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# Notebooks that run an ablation file get a smoke copy of it whose evaluation decodes a few short answers per task.
ABLATIONS = {"02_srwt_ablation.ipynb": "ablations/srwt", "03_tag_formats.ipynb": "ablations/tags",
             "04_interference.ipynb": "ablations/interference_matched"}
# Notebooks committed executed: by default they read committed results (no training), so their outputs are the
# results. Each maps to the results folder its `results` parameter reads. The others are committed without outputs.
EXECUTED = {"02_srwt_ablation.ipynb": "experiments/results/srwt-cpu-evidence",
            "03_tag_formats.ipynb": "experiments/results/tags-tiny-cpu",
            "04_interference.ipynb": "experiments/results/interference-matched-tiny-cpu"}
REEXECUTE = "cd notebooks && ../.venv/bin/jupyter nbconvert --to notebook --execute --inplace " \
            "--ExecutePreprocessor.record_timing=False {}"


def test_notebooks_are_numbered_parameterised_and_committed_with_outputs_only_if_executed():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{k:02d}" for k in range(1, len(NOTEBOOKS) + 1)]
    assert set(EXECUTED) <= {p.name for p in NOTEBOOKS}, f"EXECUTED names a missing notebook: {sorted(EXECUTED)}"
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1, f"{path}: expected one parameters cell, found {len(params)}"
        assert "smoke = False" in params[0].source, f"{path}: the parameters default to the real run (smoke = False)"
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), f"{path}: no title"
        code = [c for c in nb.cells if c.cell_type == "code"]
        for cell in code:
            assert not any(line.startswith("class ") for line in cell.source.splitlines()), \
                f"{path}: defines a class (logic belongs in qa_lab)"
        if path.name in EXECUTED:
            assert f'results = "{EXECUTED[path.name]}"' in params[0].source, \
                f"{path}: the parameters should read the committed results {EXECUTED[path.name]} by default"
            counts = [c.execution_count for c in code]
            assert counts == list(range(1, len(code) + 1)), \
                f"{path}: committed half-executed (execution counts {counts}); run: {REEXECUTE.format(path.name)}"
            errors = [o.get("ename") for c in code for o in c.outputs if o.output_type == "error"]
            assert not errors, f"{path}: committed with errors {errors}"
        else:
            for cell in code:
                assert not cell.outputs and cell.execution_count is None, \
                    f"{path}: outputs committed (only {sorted(EXECUTED)} are committed executed)"


def _outputs(path: Path, mime: str) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [o.data[mime] for c in nb.cells if c.cell_type == "code" for o in c.outputs if mime in o.get("data", {})]


@pytest.mark.parametrize("name", sorted(EXECUTED))
def test_executed_notebook_shows_the_committed_results(name):
    """A stale executed notebook fails here: its tables must be results.md (and probes.md, where the folder has one)
    verbatim, and it must show figures. (Its figures are not compared pixel for pixel: font rendering may differ
    between machines; the tables carry the numbers.)"""
    path, results = ROOT / "notebooks" / name, ROOT / EXECUTED[name]
    for table in ("results.md", "probes.md"):
        if table == "results.md" or (results / table).is_file():
            assert (results / table).read_text() in _outputs(path, "text/markdown"), \
                f"{path}: its table is not {results / table}; run: {REEXECUTE.format(name)}"
    assert _outputs(path, "image/png"), f"{path}: no figure in its outputs; run: {REEXECUTE.format(name)}"


@pytest.fixture(scope="session")
def shared(tmp_path_factory) -> Path:
    """One world cache and one parts cache for every notebook: each world and the smoke parts are built once."""
    return tmp_path_factory.mktemp("notebooks")


def _smoke_ablation(name: str, out: Path) -> str:
    """A copy of an ablation file (same arms and metrics) whose eval decodes 2 test lines per task, 8 tokens each."""
    src = ROOT / "experiments" / f"{name}.yaml"
    raw = OmegaConf.to_container(OmegaConf.load(src))
    first = {k: v for k, v in raw["eval"][0].items() if k in ("world", "tasks")}
    raw["eval"] = [{**first, "limit": 2, "max_new_tokens": 8}]
    path = out / f"{Path(name).name}.yaml"
    path.write_text(src.read_text().splitlines()[0] + "\n" + OmegaConf.to_yaml(raw))
    return str(path)


def _execute(path: str, out: str, **kwargs) -> None:
    """papermill.execute_notebook, started again once if the kernel died before it answered: jupyter_client picks
    free ports and binds them later, and another process of the suite can take one in between ("ZMQError: Address
    already in use", seen once in `make test`). An error inside the notebook is never retried."""
    import papermill
    try:
        papermill.execute_notebook(path, out, **kwargs)
    except RuntimeError as e:
        if "Kernel died before replying to kernel_info" not in str(e):
            raise
        papermill.execute_notebook(path, out, **kwargs)


@pytest.mark.slow  # runs whole notebooks: seconds to minutes each
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_smoke_mode(path, shared, tmp_path, monkeypatch):
    # The kernel inherits this: one thread per tiny op; on a small shared CPU more threads thrash (10x slower).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    parameters = {"smoke": True, "overrides": [f"world.out={shared / 'world'}", f"parts.out={shared / 'parts'}",
                                               f"data.features_dir={shared / 'features'}", f"runs_dir={tmp_path / 'runs'}"]}
    if path.name in ABLATIONS:
        parameters["ablation"] = _smoke_ablation(ABLATIONS[path.name], tmp_path)
    out = tmp_path / path.name
    _execute(str(path), str(out), kernel_name="python3", progress_bar=False, parameters=parameters, cwd=str(tmp_path))
    images = [o for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert images, f"{path.name}: no figure was displayed"
