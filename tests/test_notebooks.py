"""Every notebook: committed clean, parameters cell == its dataclass defaults, runs in the smoke profile."""
import ast
import dataclasses
import json
import subprocess
import sys

import nbformat as nbf
import papermill as pm
import pytest

from caef_lib import figures, runner
from caef_lib.notebook_params import NOTEBOOK_PARAMS
from caef_lib.paths import NOTEBOOKS_DIR, KitPaths
from conftest import REPO

NOTEBOOKS = runner.discover_notebooks()


def test_the_numbered_notebooks_exist():
    assert [n for n, _ in NOTEBOOKS][:1] == ["00_environment"]


@pytest.mark.parametrize("name, path", NOTEBOOKS, ids=[n for n, _ in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(name, path):
    nb = nbf.read(path, as_version=4)
    nbf.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{name}: strip outputs"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("name, path", NOTEBOOKS, ids=[n for n, _ in NOTEBOOKS])
def test_parameters_cell_matches_the_parameter_class(name, path):
    nb = nbf.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: exactly one cell tagged 'parameters'"
    cell_defaults = {}
    for node in ast.parse(tagged[0].source).body:
        assert isinstance(node, (ast.Assign, ast.AnnAssign)), f"{name}: parameters cell holds assignments only"
        target = node.targets[0] if isinstance(node, ast.Assign) else node.target
        cell_defaults[target.id] = ast.literal_eval(node.value)
    cls = NOTEBOOK_PARAMS[name]
    class_defaults = {f.name: getattr(cls(), f.name) for f in dataclasses.fields(cls)}
    assert cell_defaults == class_defaults
    # The cell right after validates them.
    nxt = nb.cells[nb.cells.index(tagged[0]) + 1]
    assert "from_namespace(" in nxt.source


def test_smoke_profile_runs_every_notebook_then_resumes_and_redraws(tmp_path):
    """The whole sequence, as `make test` runs it: every notebook with the smoke profile."""
    proc = subprocess.run([sys.executable, "-m", "caef_lib", "run", "--profile", "smoke", "--root", str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO, timeout=1500)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name, _ in NOTEBOOKS:
        assert (tmp_path / "results" / "smoke" / name / "metadata.json").is_file()
        assert f"{name}" in proc.stdout
    # The defaults: packed generic pre-training of the tiny base (`pretrain_pack`), unpacked adapters (`pack`).
    models = tmp_path / "data" / "models" / "smoke" / "tiny-llama"
    assert json.loads((models / "base" / "train_summary.json").read_text())["config"]["pack"] is True
    assert json.loads((models / "add" / "train_summary.json").read_text())["config"]["pack"] is False
    again = runner.execute(runner.plan("smoke", output_root=tmp_path), echo=lambda s: None)
    assert {row["status"] for row in again} == {"skipped"}
    # `make figures`: every registered figure redraws from the saved results alone.
    drawn = figures.redraw_all(KitPaths.of("smoke", tmp_path), log=lambda s: None)
    assert sorted(drawn) == sorted(figures.FIGURES)
    for name in drawn:
        assert (tmp_path / "figures" / "smoke" / f"{name}.pdf").stat().st_size > 0
        assert (tmp_path / "figures" / "smoke" / f"{name}.png").stat().st_size > 0


def test_plain_papermill_runs_a_notebook_standalone(tmp_path):
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(NOTEBOOKS_DIR / "00_environment.ipynb"), str(out),
                        parameters={"output_root": str(tmp_path), "profile": "standalone"},
                        kernel_name="python3", progress_bar=False)
    assert (tmp_path / "results" / "standalone" / "00_environment" / "versions.csv").is_file()


def test_bad_parameter_fails_in_the_validation_cell(tmp_path):
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(NOTEBOOKS_DIR / "00_environment.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters={"output_root": str(tmp_path), "device": "tpu"},
                            kernel_name="python3", progress_bar=False)
    assert err.value.ename == "ParameterError" and "'device'" in err.value.evalue
    assert not (tmp_path / "results").exists()
