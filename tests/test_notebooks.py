"""Every notebook executes in smoke mode (papermill injects the parameters)."""

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_notebooks_are_committed_without_outputs():
    import nbformat
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells), f"{path}: no parameters cell"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path}: outputs committed"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_smoke_mode(path, smoke_overrides, tmp_path):
    import papermill
    overrides = [o for o in smoke_overrides if o != "smoke=true"]
    papermill.execute_notebook(str(path), str(tmp_path / path.name), kernel_name="python3", progress_bar=False,
                               parameters={"smoke": True, "overrides": overrides}, cwd=str(tmp_path))
