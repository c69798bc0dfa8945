import signal
import subprocess
import sys

import pytest

from caef_lib import io


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "a" / "table.csv"
    io.write_text(path, "old\n")
    io.write_text(path, "new\n")
    assert path.read_text() == "new\n"
    assert [p.name for p in path.parent.iterdir()] == ["table.csv"]
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # as open() makes it under the process's umask, not mkstemp's 0600
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_failure_inside_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "metadata.json"
    io.write_json(path, {"complete": True})
    with pytest.raises(RuntimeError):
        with io.atomic_open(path) as f:
            f.write('{"complete": fal')
            raise RuntimeError("killed half-way")
    assert io.read_json(path) == {"complete": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metadata.json"]


def test_killed_writer_never_leaves_a_truncated_target(tmp_path):
    """SIGKILL a process in the middle of a large atomic write: the target is absent, not truncated."""
    target = tmp_path / "big.txt"
    code = (
        "import sys, time\n"
        "from caef_lib import io\n"
        "with io.atomic_open(sys.argv[1]) as f:\n"
        "    for i in range(10**9):\n"
        "        f.write('x' * 1000 + '\\n')\n"
        "        if i == 1000: print('writing', flush=True)\n"
        "        if i > 1000: time.sleep(0.001)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not target.exists()


def test_write_json_is_deterministic(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    io.write_json(a, {"b": 1, "a": [1, 2]})
    io.write_json(b, {"a": [1, 2], "b": 1})
    assert a.read_bytes() == b.read_bytes()
    assert io.sha256_file(a) == io.sha256_text(a.read_text())


def test_atomic_open_refuses_read_mode(tmp_path):
    with pytest.raises(ValueError):
        with io.atomic_open(tmp_path / "x", "r"):
            pass


def test_notebook_run_writes_tables_then_metadata(tmp_path):
    import pandas as pd

    from caef_lib.notebook_params import EnvironmentParams
    from caef_lib.paths import KitPaths
    from caef_lib.results import MissingResults, NotebookRun, load_metadata, load_table, require

    params = EnvironmentParams(profile="t", output_root=str(tmp_path), seed=3)
    paths = KitPaths.of("t", tmp_path)
    run = NotebookRun("00_environment", params)
    run.save_table("numbers", pd.DataFrame({"x": [1, 2]}))
    with pytest.raises(MissingResults, match="run it first"):
        require(paths, "00_environment")  # tables without metadata.json are not a complete result
    with pytest.raises(ValueError, match="written by the kit"):
        run.finish(extra={"seed": 4})
    meta = run.finish(extra={"rows": 2})
    assert meta["seed"] == 3 and meta["rows"] == 2 and meta["files"] == ["numbers.csv"]
    assert set(meta) >= {"parameters", "git", "versions", "device", "wall_time_s", "started", "finished"}
    assert load_metadata(paths, "00_environment")["rows"] == 2
    assert load_table(paths, "00_environment", "numbers")["x"].tolist() == [1, 2]
    # a second run that stops part-way leaves no metadata.json beside a mix of its own and the old tables
    rerun = NotebookRun("00_environment", params)
    rerun.save_text("numbers.md", "| x |\n")
    with pytest.raises(MissingResults, match="run it first"):
        require(paths, "00_environment")
    assert rerun.finish()["files"] == ["numbers.md"] and (paths.results("00_environment") / "numbers.md").is_file()


def test_atomic_dir_replaces_a_folder_only_on_success(tmp_path):
    target = tmp_path / "adapter"
    with io.atomic_dir(target) as tmp:
        (tmp / "adapter_config.json").write_text("{}")
    assert [p.name for p in target.iterdir()] == ["adapter_config.json"]
    with pytest.raises(RuntimeError):
        with io.atomic_dir(target) as tmp:
            (tmp / "half.safetensors").write_text("x")
            raise RuntimeError("killed")
    assert [p.name for p in target.iterdir()] == ["adapter_config.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]
