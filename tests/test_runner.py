"""The Papermill runner: resume after a crash, failure messages, invalidation, standalone notebooks; what it
shows while a notebook runs and the report card it writes at the end."""
import io
import json
import logging
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
                             f"with open(log, 'a') as f: f.write('{name}\\n')\n"
                             "import sys; sys.stderr.write('\\rstep 1/2\\rstep 2/2')  # like tqdm"),
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

    def run(force=False, echo=lambda s: None, progress_interval=30.0, **kw):
        plan = runner.plan("smoke", output_root=out, notebooks_dir=nbdir, profiles_dir=profdir, **kw)
        return runner.execute(plan, force=force, echo=echo, notebooks_dir=nbdir, tty=False,
                              progress_interval=progress_interval)

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


# ------------------------------------------------------------------------------------------------ progress
def test_plain_progress_names_each_cell_and_the_kernel_tcp_warning_stays_off_stderr(kit, capfd):
    run, executions, flag, out = kit
    lines = []
    run(only=["00"], echo=lines.append, progress_interval=0)
    cells = [s for s in lines if " cell " in s and " | " not in s]
    # 3 code cells + the parameters cell papermill injects
    assert cells == ['[00_first] cell 1/4: profile = "default"',
                     "[00_first] cell 2/4: # Parameters",
                     "[00_first] cell 3/4: import os, pathlib",
                     "[00_first] cell 4/4: if crash_if_exists and os.path.exists(crash_if_exists):"]
    assert "[00_first] cell 4/4 | step 2/2" in lines  # the last '\r' segment of the cell's stderr
    assert "without encryption" not in capfd.readouterr().err  # the kernel inherits our stderr


def test_progress_lines_are_rate_limited_and_show_the_last_carriage_return_segment():
    from caef_lib.progress import Progress

    now, lines = [100.0], []
    p = Progress("02_training", echo=lines.append, interval=30, clock=lambda: now[0])
    p.notebook_started(14)
    p.cell_started("\n\n  results = []  \nfor x in y:\n    pass")
    p.output("\r  0%|          | 0/10\r 10%|#         | 1/10\r")
    now[0] += 10
    p.output("\r 50%|#####     | 5/10")      # 10 s after the last progress line: held back
    now[0] += 25
    p.output("\r 90%|######### | 9/10\n\n")  # 35 s: printed
    p.output("\r100%|##########| 10/10")      # right after: held back
    assert lines == ["[02_training] cell 1/14: results = []",
                     "[02_training] cell 1/14 | 10%|#         | 1/10",
                     "[02_training] cell 1/14 | 90%|######### | 9/10"]
    p.cell_started("x = 'a very long first line that goes on and on and on and on and on and on'")
    assert lines[-1] == "[02_training] cell 2/14: x = 'a very long first line that goes on and on and on an..."  # 60 chars


def test_terminal_progress_rewrites_one_status_line_cut_to_the_width():
    from caef_lib.progress import CLEAR_LINE, Progress

    term = io.StringIO()
    p = Progress("01_traces", echo=lambda s: pytest.fail(f"printed {s!r}"), stream=term, columns=lambda: 41)
    p.notebook_started(3)
    p.cell_started("cards = build(cfg, paths)")
    p.output("writing add\rwriting sub\r")
    # 40 characters: the last column is left free (a full line wraps on some terminals)
    assert term.getvalue().split(CLEAR_LINE)[1:] == ["[01_traces] cell 1/3: cards = build(cfg,"] * 2
    assert p.status_line() == "[01_traces] cell 1/3: cards = build(cfg, paths) | writing sub"
    p.close()
    assert term.getvalue().endswith(CLEAR_LINE) and "\n" not in term.getvalue()


@pytest.mark.filterwarnings("ignore:--logging_config=:DeprecationWarning")  # traitlets 5: still read
def test_kernel_log_filter_drops_only_the_unencrypted_tcp_warning(capsys, monkeypatch):
    from traitlets.config import Application

    from caef_lib import kernel_log
    from caef_lib.kernel_log import KERNEL_ARGS

    class IPKernelApp(Application):  # the kernel's application class, by name: its options apply to it
        pass

    app = IPKernelApp()
    app.parse_command_line(KERNEL_ARGS)
    app.log.warning("Kernel is running over TCP without encryption. All communication (...) is sent in plain text")
    app.log.warning("Kernel is running over TCP, which is fine")
    app.log.error("Kernel is running over TCP without encryption (an error, not the warning)")
    err = capsys.readouterr().err
    assert "which is fine" in err and "an error, not the warning" in err
    assert "plain text" not in err
    logging.getLogger("IPKernelApp").handlers.clear()

    # Only for kernels of this environment: elsewhere the filter's module may not be importable.
    assert kernel_log.kernel_args("python3") == KERNEL_ARGS
    monkeypatch.setattr(kernel_log.sys, "executable", "/elsewhere/bin/python")
    assert kernel_log.kernel_args("python3") == []


# ------------------------------------------------------------------------------------------------ report card
def test_report_card_has_times_and_the_headline_tables(kit):
    import pandas as pd

    from caef_lib.report import write_report
    from caef_lib.results import NotebookRun
    from caef_lib.paths import KitPaths

    run, executions, flag, out = kit
    # What notebook 00_first would save with NotebookRun: a headline table (40 rows: cut to 30) and another.
    nb = NotebookRun("00_first", StepParams(profile="smoke", output_root=str(out)))
    nb.save_table("detail", pd.DataFrame({"secret_column": [1]}))
    accuracy = pd.DataFrame({"op": [f"op{i}" for i in range(40)], "acc": [0.5 + i / 300 for i in range(40)],
                             "n": [10.0] * 40, "ok": [True] * 40})
    nb.save_table("accuracy", accuracy, headline=True)
    nb.save_table("accuracy", accuracy, headline=True)  # saved again (a re-run cell): listed once
    nb.save_table("summary", pd.DataFrame({"steps": [1200], "loss|final": [0.0000321]}), headline=True)
    meta = nb.finish(extra={"samples": 123, "big": {"not": "shown"}})
    assert meta["headline_tables"] == ["accuracy", "summary"]

    run(only=["00", "01"])
    paths = KitPaths.of("smoke", out)
    text = paths.report.read_text()
    assert "| 00_first | ran |" in text and "| 01_second | ran |" in text and "| 02_third | not run |" in text
    assert "### accuracy" in text and "### summary" in text and "secret_column" not in text
    assert "| op | acc | n | ok |\n|---|---:|---:|---|\n| op0 | 0.5 | 10 | True |\n| op1 | 0.5033 | 10 | True |" in text
    assert "| op29 |" in text and "| op30 |" not in text
    assert "*first 30 of 40 rows; all in `results/smoke/00_first/accuracy.csv`*" in text
    assert "| 1200 | 3.21e-05 |" in text and "loss\\|final" in text
    assert "samples: **123**" in text and "big" not in text.split("## 00_first")[1].split("###")[0]
    assert "## Environment" in text and "| torch |" in text

    # Rewritten from saved files alone (what `make figures` does): completed notebooks read as done.
    write_report(paths, log=lambda s: None, notebooks=["00_first", "01_second", "02_third"])
    assert "| 01_second | done |" in paths.report.read_text()


def test_panel_grids_wrap_their_panels_and_label_the_edges_only():
    import matplotlib

    matplotlib.use("Agg")
    from caef_lib.figures import label_edges, panel_grid

    fig, axes, columns = panel_grid(7, size=(2, 2), extra_height=0.5)
    assert (len(axes), columns, len(fig.axes)) == (7, 4, 7)  # two rows; the eighth place removed
    assert tuple(fig.get_size_inches()) == (8.0, 4.5)
    label_edges(axes, columns, "digits", "calls")
    assert [ax.get_ylabel() for ax in axes] == ["calls", "", "", "", "calls", "", ""]
    assert [ax.get_xlabel() for ax in axes] == ["", "", "", "digits", "digits", "digits", "digits"]
    assert len(panel_grid(0)[1]) == 1 and panel_grid(2, columns=5)[2] == 2
