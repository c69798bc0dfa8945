"""The Papermill runner: resume after a crash, failure messages, invalidation, standalone notebooks."""
import json
from dataclasses import dataclass
from pathlib import Path

import nbformat as nbf
import pytest

from caef_lib import runner
from caef_lib.notebook_params import Common
from caef_lib.params import param


@dataclass
class StepParams(Common):
    crash_if_exists: str = param("", help="fail in cell 2 while this file exists (simulated crash)")
    width: int = param(1, min=1)


def _notebook(path: Path, name: str) -> None:
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbf.v4.new_code_cell('profile = "default"\noutput_root = ""\nseed = 0\ndevice = "auto"\n'
                             'crash_if_exists = ""\nwidth = 1', metadata={"tags": ["parameters"]}),
        nbf.v4.new_code_cell("import os, pathlib\nlog = pathlib.Path(output_root) / 'executions.log'"),
        nbf.v4.new_code_cell("if crash_if_exists and os.path.exists(crash_if_exists):\n"
                             "    raise RuntimeError('simulated crash')\n"
                             f"with open(log, 'a') as f: f.write('{name}\\n')"),
    ]
    for i, c in enumerate(nb.cells):
        c["id"] = f"c{i}"
    nbf.write(nb, path / f"{name}.ipynb")


@pytest.fixture
def kit(tmp_path, monkeypatch):
    nbdir, profdir, out = tmp_path / "notebooks", tmp_path / "profiles", tmp_path / "out"
    nbdir.mkdir(), profdir.mkdir(), out.mkdir()
    names = ["00_first", "01_second", "02_third"]
    for name in names:
        _notebook(nbdir, name)
        monkeypatch.setitem(runner.NOTEBOOK_PARAMS, name, StepParams)
    # The completion fingerprint includes the library's source; pin it so edits elsewhere don't interfere.
    monkeypatch.setattr(runner, "_library_hash", lambda: "library-v1")
    flag = tmp_path / "crash.flag"
    (profdir / "smoke.yaml").write_text(
        "common: {seed: 1}\nnotebooks:\n  01_second:\n    crash_if_exists: " + json.dumps(str(flag)) + "\n")

    def run(**kw):
        plan = runner.plan("smoke", output_root=out, notebooks_dir=nbdir, profiles_dir=profdir,
                           **{k: v for k, v in kw.items() if k not in ("force",)})
        return runner.execute(plan, force=kw.get("force", False), echo=lambda s: None, notebooks_dir=nbdir)

    def executions():
        log = out / "executions.log"
        return log.read_text().split() if log.exists() else []

    return run, executions, flag, out


def test_crash_stops_with_cell_and_cause_then_resume_skips_completed(kit):
    run, executions, flag, out = kit
    flag.write_text("x")
    with pytest.raises(runner.RunFailed) as err:
        run()
    msg = str(err.value)
    assert "notebook 01_second failed in cell 3 of the executed copy, In [4]" in msg and "RuntimeError: simulated crash" in msg
    assert str(out / "runs" / "smoke" / "01_second.ipynb") in msg
    assert executions() == ["00_first"]

    flag.unlink()
    summary = run()
    assert [r["status"] for r in summary] == ["skipped", "ran", "ran"]
    assert executions() == ["00_first", "01_second", "02_third"]

    assert [r["status"] for r in run()] == ["skipped"] * 3
    assert [r["status"] for r in run(force=True, only=["02"])] == ["ran"]


def test_changed_parameters_rerun_the_notebook_and_everything_after_it(kit):
    run, executions, flag, out = kit
    run()
    summary = run(overrides=["01.width=2"])
    assert [r["status"] for r in summary] == ["skipped", "ran", "ran"]
    # Running only a later notebook still sees that its upstream changed.
    run(overrides=["01.width=3"], only=["01"])
    assert [r["status"] for r in run(only=["02"])] == ["ran"]


def test_interrupted_notebook_has_no_completion_record(kit):
    run, executions, flag, out = kit
    run()
    flag.write_text("x")
    with pytest.raises(runner.RunFailed):
        run(force=True, start="01")
    assert not (out / "runs" / "smoke" / "01_second.done.json").exists()
    assert (out / "runs" / "smoke" / "00_first.done.json").exists()


def test_library_change_reruns(kit, monkeypatch):
    run, executions, flag, out = kit
    run(only=["00"])
    monkeypatch.setattr(runner, "_library_hash", lambda: "library-v2")
    assert [r["status"] for r in run(only=["00"])] == ["ran"]
