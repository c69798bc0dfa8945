"""Leave-Square-Out data: the five tasks, their scratchpads and splits, exact to the released files."""
import array
import json
import subprocess
import sys

import pytest

from caef_lib.cli import main as cli
from caef_lib.lso.splits import SplitError, build_split, parse_split, write_split
from caef_lib.lso.tasks import TASKS, base9
from caef_lib.stats import wilson
from conftest import REPO


def trace(task, a, b):
    return TASKS[task].scratchpad(a, b).split("\n")


def test_scratchpads_match_hand_checked_examples():
    # spec.md a.6, checked by hand
    assert trace("addition", 40, 40) == ["40+40,,C:0", "4+4,0,C:0", "+,80,C:0", "80"]
    assert trace("addition", 99, 1) == ["99+1,,C:0", "9+,0,C:1", "+,00,C:1", "+,100,C:0", "100"]
    assert trace("addition", 5, 10) == ["5+10,,C:0", "+1,5,C:0", "+,15,C:0", "15"]
    assert trace("addition", 0, 0) == ["0+0,,C:0", "+,0,C:0", "0"]
    assert trace("base_addition", 40, 41) == ["44+45,,C:0", "4+4,0,C:1", "+,00,C:1", "+,100,C:0", "100"]
    # the released base-9 quirk: one line too many, repeating the last one
    assert trace("base_addition", 40, 40) == ["44+44,,C:0", "4+4,8,C:0", "+,88,C:0", "+,88,C:0", "88"]
    assert trace("mod_addition", 70, 70) == ["70+70,,C:0", "7+7,0,C:0", "+,40,C:1", "+,140,C:0", "140",
                                             "140>=113", "140-113=", "140-113,,C:0", "14-11,7,C:-1",
                                             "1-1,27,C:0", "-,027,C:0", "27"]
    assert trace("mod_addition", 50, 55)[-3:] == ["105", "105<113", "105"]
    assert base9(80) == "88" and base9(0) == "0"


def test_records_and_grids():
    r = TASKS["rabbits_and_chickens"]
    assert len(r.cells()) == 5050 and len(TASKS["mod_addition"].cells()) == 113 ** 2
    legs, heads = r.cells()[442]
    assert r.record(442, legs, heads)["answers"] == ["There are 7 rabbits and 22 chickens."]
    assert list(r.record(442, legs, heads)) == ["id", "question", "answers", "a", "b"]
    assert TASKS["mod_addition"].record(5244, 46, 46) == {"id": 5244, "question": "46+46=", "a": 46, "b": 46,
                                                         "answers": [92]}
    assert TASKS["linear_regression"].record(1, 0, 1)["answers"] == ["5"]
    with pytest.raises(ValueError, match="no scratchpad"):
        TASKS["linear_regression"].record(1, 0, 1, scratchpad=True)


def test_new_squares_are_built_by_name():
    train, test = build_split("addition", "1hole_(30, 70)_7_225_0-100")
    assert len(test) == 225 and len(train) == 10_000 - 225
    assert {(r["a"], r["b"]) for r in test} == {(a, b) for a in range(23, 38) for b in range(63, 78)}
    assert sorted(r["id"] for r in train + test) == list(range(10_000))
    cot_train, cot_test = build_split("addition", "1hole_(30, 70)_7_225_0-100_cot")
    assert [r["id"] for r in cot_test] == [r["id"] for r in test] and cot_test[0]["gt"] == test[0]["answers"][0]
    split = parse_split("rabbits_and_chickens", "1hole_(75, 50)_10_441_0-100")
    _, test = build_split("rabbits_and_chickens", split.name)
    assert len(test) == 432  # 9 cells of the square are no (legs, heads) pair, as released
    # the paper's square-size ablation, never released: sides 10 to 40
    for half in (5, 10, 15, 20):
        _, test = build_split("addition", f"1hole_(50, 50)_{half}_{(2 * half + 1) ** 2}_0-100")
        assert len(test) == (2 * half + 1) ** 2


@pytest.mark.parametrize("task, name, message", [
    ("addition", "1hole_(95, 70)_7_225_0-100", "outside"),
    ("addition", "1hole_(50, 50)_10_400_0-100", "441 cells"),
    ("addition", "1hole_(50, 50)_30_3721_0-100", "30%"),
    ("addition", "1hole_50_50", "is not of the form"),
    ("addition", "1hole_(56, 56)_10_441_0-113", "grid is 0-100"),
    ("addition", "3hole_1234_0-100", "without a seed"),
    ("addition", "random_split_0.7_7000_2000_0-100", "7000/3000"),
    ("adition", "3hole_1411_0-100", "unknown task"),
    ("linear_regression", "1hole_(50, 50)_10_441_0-100_cot", "no scratchpad"),
])
def test_bad_split_names_are_rejected(task, name, message):
    with pytest.raises(SplitError, match=message):
        parse_split(task, name)


def test_cli_builds_and_rejects_with_exit_code_2(tmp_path, capsys):
    assert cli(["lso", "build", "addition", "1hole_(30, 70)_7_225_0-100", str(tmp_path / "ok")]) == 0
    test = json.loads((tmp_path / "ok" / "test.json").read_text())
    assert len(test) == 225 and test[0] == {"id": 2363, "question": "23+63=", "a": 23, "b": 63, "answers": ["86"]}
    assert cli(["lso", "build", "addition", "1hole_(99, 70)_7_225_0-100", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and not (tmp_path / "bad").exists()
    done = subprocess.run([sys.executable, "-m", "caef_lib", "lso", "build", "nope", "x", str(tmp_path / "x")],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 2 and "unknown task" in done.stderr
    (tmp_path / "file").write_text("")  # an output folder that cannot be made
    assert cli(["lso", "build", "addition", "1hole_(30, 70)_7_225_0-100", str(tmp_path / "file" / "x")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_every_released_folder_is_rebuilt_byte_for_byte(reference_dir, tmp_path):
    folders = sorted(p for p in (reference_dir / "case_or_rule" / "datasets").glob("*/*") if p.is_dir())
    assert len(folders) == 31
    for folder in folders:
        out = write_split(folder.parent.name, folder.name, tmp_path / folder.parent.name / folder.name)
        for name in ("train.json", "test.json", "test_squares.txt"):
            if (folder / name).exists():
                assert (out / name).read_bytes() == (folder / name).read_bytes(), f"{folder.name}/{name}"


def test_wilson_interval():
    assert wilson(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert wilson(10, 10) == (pytest.approx(0.7225, abs=1e-4), 1.0)
    low, high = wilson(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert all(x != x for x in wilson(0, 0))
    with pytest.raises(ValueError):
        wilson(3, 2)


# ---------------------------------------------------------------------------------------------- the probe
def test_answers_are_read_as_the_released_evaluation_reads_them():
    from caef_lib.lso.probe import answer_extractor

    last = answer_extractor("addition")
    assert last("40+41,,C:0\n4+4,1,C:0\n+,81,C:0\n81") == "81" and last("garbage") is None and last("7.5") == "7.5"
    two = answer_extractor("rabbits_and_chickens")
    assert two("There are 7 rabbits and 22 chickens.") == "7,22" and two("There are 7 rabbits") is None


def _cells(task, name):
    """The cells frame of a split with every training cell right and every held-out cell wrong."""
    import pandas as pd

    from caef_lib.lso.tasks import get_task

    train, test = build_split(task, name)
    t = get_task(task)
    rows = [{"a": r["a"], "b": r["b"], "x": t.square_xy(r["a"], r["b"])[0], "y": t.square_xy(r["a"], r["b"])[1],
             "in_train": i < len(train), "greedy": float(i < len(train)), "sampled": float("nan")}
            for i, r in enumerate(train + test)]
    return pd.DataFrame(rows)


def test_regions_distances_and_the_summary():
    from caef_lib.lso import probe

    cells = _cells("addition", "1hole_(50, 50)_10_441_0-100")
    split = parse_split("addition", "1hole_(50, 50)_10_441_0-100")
    region = probe.regions(cells, split)
    assert region.value_counts().to_dict() == {"outside": 9559, "inner": 441 - 25 - 80, "ring": 80, "centre": 25}
    small = _cells("addition", "1hole_(50, 50)_1_9_0-100")  # no training cell is ever `centre`
    small_regions = probe.regions(small, parse_split("addition", "1hole_(50, 50)_1_9_0-100"))
    assert small_regions.value_counts().to_dict() == {"outside": 9991, "ring": 8, "centre": 1}
    d = probe.distance_to_train(cells)
    centre = cells.index[(cells["a"] == 50) & (cells["b"] == 50)][0]
    assert d[centre] == 11 and d[cells["in_train"].to_numpy()].max() == 0 and d.max() == 11
    cells.loc[(cells["a"] == 50) & (cells["b"] == 50), "sampled"] = 0.3
    rows = {(r["region"], r["measure"]): r for r in probe.region_summary(cells, split, 10, {"task": "addition"})}
    assert rows[("square", "greedy")]["n"] == 441 and rows[("square", "greedy")]["accuracy"] == 0.0
    assert rows[("outside", "greedy")]["accuracy"] == 1.0 and rows[("centre", "sampled")]["n"] == 10
    assert rows[("centre", "sampled")]["correct"] == 3 and rows[("square", "greedy")]["task"] == "addition"
    by_distance = probe.accuracy_by_distance(cells)
    assert [r["distance"] for r in by_distance] == list(range(1, 12)) and sum(r["cells"] for r in by_distance) == 441
    rabbits = _cells("rabbits_and_chickens", "1hole_(70, 50)_10_441_0-100")
    assert (probe.regions(rabbits, parse_split("rabbits_and_chickens", "1hole_(70, 50)_10_441_0-100"))
            != "outside").sum() == 441
    random = _cells("addition", "random_split_0.7_7000_3000_0-100")
    assert probe.regions(random, parse_split("addition", "random_split_0.7_7000_3000_0-100")) \
        .value_counts().to_dict() == {"outside": 7000, "random_test": 3000}


def test_caef_probe_data_and_driver():
    from caef_lib.engine import oracle_answer
    from caef_lib.lso import caef_probe

    train, _ = build_split("addition", "1hole_(50, 50)_3_49_0-100")
    executor, aligner = caef_probe.caef_samples(train[:40])
    assert len(aligner) == 80 and all(oracle_answer("add", s["prompt"]) == s["response"] for s in executor)
    assert all(oracle_answer("add_aligner", s["prompt"]) == s["response"] for s in aligner)

    def oracle(requests):  # a perfect model, or one that breaks one call
        return ["garbage" if (r.adapter == "add" and r.prompt.startswith("ADD, q1") and "|7" in r.prompt) else
                oracle_answer(r.adapter, r.prompt) for r in requests]

    rows = caef_probe.run_caef(None, None, [(45, 67), (12, 34), (99, 1), (0, 0)], answer=oracle)
    assert [r["correct"] for r in rows] == [False, True, True, True]  # 45+67: the step reading 7 breaks
    assert rows[0]["first_wrong_kind"] == "executor" and rows[0]["error"] and rows[1]["first_wrong_call"] is None


def test_caef_square_probe_never_scores_a_trained_cell_as_held_out():
    from caef_lib.engine import oracle_answer
    from caef_lib.lso import caef_probe

    split = parse_split("addition", "1hole_(50, 50)_3_49_0-100")
    cells = caef_probe.probe_cells(split, 2)
    assert len(cells) == 11 * 11 and (47, 47) in cells and (45, 45) in cells and (44, 50) not in cells

    def model(requests):  # the aligner breaks on every a = 50 (in the square and in the margin)
        return ["50+" if r.adapter == "add_aligner" and r.prompt.startswith("50+") else
                oracle_answer(r.adapter, r.prompt) for r in requests]

    seen = {(50, 50), (45, 45), (48, 51)}  # the square's centre, a margin cell, a square cell trained on
    out = caef_probe.caef_square_probe(split.name, "unused", adapters={}, trained_on=seen, margin=2, answer=model)
    assert out["train"] == [] and out["by_distance"] == []
    assert set(out["cells"]["format"]) == {"caef", "caef_executor"}
    rows = {(r["format"], r["region"]): r for r in out["summary"]}
    assert rows[("caef", "outside")]["cells"] == 3 and rows[("caef", "outside")]["correct"] == 2  # (50, 50) fails
    assert rows[("caef", "square")]["cells"] == 49 - 2 and rows[("caef", "square")]["correct"] == 47 - 6
    assert rows[("caef", "centre")]["cells"] == 25 - 2 and rows[("caef", "margin")]["cells"] == 121 - 49 - 1
    assert rows[("caef", "margin")]["correct"] == rows[("caef", "margin")]["cells"] - 4  # a = 50 at b 45-46, 54-55
    assert all(r["accuracy"] == 1.0 for (fmt, _), r in rows.items() if fmt == "caef_executor")  # no aligner there
    wrong = out["cells"][(out["cells"]["format"] == "caef") & (out["cells"]["greedy"] == 0)]
    assert set(wrong["a"]) == {50} and set(wrong["first_wrong_kind"]) == {"aligner"}
    with pytest.raises(ValueError, match="formats"):
        caef_probe.caef_square_probe(split.name, "unused", adapters={}, trained_on=set(), formats=("rfft",),
                                     answer=model)
    with pytest.raises(ValueError, match="trained_on"):  # adapters from elsewhere: say what they were trained on
        caef_probe.caef_square_probe(split.name, "unused", adapters={}, answer=model)


def test_trained_problems_reads_notebook_01s_training_digests(tmp_path):
    from caef_lib.adapters import trained_problems
    from caef_lib.datasets.builder import digest, digests_path
    from caef_lib.paths import KitPaths

    paths = KitPaths.of("smoke", tmp_path)
    with pytest.raises(FileNotFoundError, match="run notebook 01"):
        trained_problems(paths, "add", [(1, 2)])
    path = digests_path(paths, "add", "train")
    path.parent.mkdir(parents=True)
    path.write_bytes(array.array("Q", sorted([digest("add", (45, 67)), digest("add", (1, 2))])).tobytes())
    assert trained_problems(paths, "add", [(45, 67), (67, 45), (1, 2), (3, 4)]) == {(45, 67), (1, 2)}


def test_the_paper_profile_plans_every_task_and_the_ablation_where_it_fits(tmp_path):
    from caef_lib import runner

    gpt2, llama, llama2 = tmp_path / "gpt2", tmp_path / "llama", tmp_path / "llama2"
    for folder in (gpt2, llama, llama2):
        folder.mkdir()
        (folder / "config.json").write_text("{}")
    runs = {r.name: r for r in runner.plan("paper", overrides=[f"base_model={llama}", f"lso_model={gpt2}",
                                                                f"rfft_model={llama2}"])}
    from caef_lib.notebook_params import LeaveSquareOutParams
    from caef_lib.params import validate

    P = validate(LeaveSquareOutParams, runs["03_leave_square_out"].params)
    assert len(P.tasks) == 5 and P.lso_model == str(gpt2)
    assert "1hole_(50, 50)_20_1681_0-100" in P.split_names("addition")
    rabbits = P.split_names("rabbits_and_chickens")  # L = 20 is over 30 % of its 5,050 cells: left out
    assert "1hole_(70, 50)_15_961_0-100" in rabbits and not any("_20_" in s for s in rabbits)


def test_the_notebook_plan_and_the_control_verdict():
    import pandas as pd

    from caef_lib.lso.probe import control_verdicts
    from caef_lib.notebook_params import LeaveSquareOutParams
    from caef_lib.params import validate

    P = validate(LeaveSquareOutParams, {"tasks": ["addition", "linear_regression"], "vocabularies": ["digit", "number"]})
    plan = [(r["task"], r["split"][:5], r["scratchpad"], r["vocabulary"]) for r in P.plan()]
    assert ("addition", "1hole", True, "number") in plan and ("addition", "rando", True, "digit") not in plan
    assert not any(t == "linear_regression" and s for t, _, s, _ in plan) and len(plan) == 10
    rows = pd.DataFrame([{"task": "addition", "vocabulary": "digit", "region": "random_test", "measure": "greedy",
                          "accuracy": a, "ci_low": a - 0.01, "ci_high": a + 0.01} for a in (0.97, 0.9)])
    verdicts = control_verdicts(rows)
    assert "passes" in verdicts[0] and "FAILS" in verdicts[1] and len(verdicts) == 2


def test_columns_elsewhere_tells_a_digit_fact_from_the_square():
    from caef_lib.engine import oracle_answer
    from caef_lib.lso import caef_probe

    assert caef_probe.top_column(50, 52) == (5, 5, 0) and caef_probe.top_column(51, 49) == (5, 4, 1)
    assert caef_probe.top_column(7, 45) is None and caef_probe.top_column(5, 5) == (5, 5, 0)
    problems = caef_probe.column_problems((5, 4, 1), 4, 20, seed=3)
    assert len(problems) == 20 and all(caef_probe.top_column(a, b) == (5, 4, 1) for a, b in problems)
    assert problems == caef_probe.column_problems((5, 4, 1), 4, 20, seed=3)

    def model(requests):  # an executor that writes 9 and no carry for 5 + 5 without a carry in, at any length
        out = []
        for r in requests:
            try:
                answer = oracle_answer(r.adapter, r.prompt)
            except ValueError:  # a state after a wrong step
                answer = "garbage"
            state = answer.split("\n")[0].replace(" ", "")  # the new state, whose command the answer computes
            if r.adapter == "add" and "[C]0" in state and "[HEAD1]|5" in state and "[HEAD2]|5" in state \
                    and "[C] 1, [OUTPUT] 0" in answer:
                answer = answer.replace("[C] 1, [OUTPUT] 0", "[C] 0, [OUTPUT] 9")
            out.append(answer)
        return out

    split = parse_split("addition", "1hole_(50, 50)_3_49_0-100")
    probe = caef_probe.caef_square_probe(split.name, "unused", adapters={}, trained_on={(51, 54)}, margin=5,
                                         formats=("caef_executor",), answer=model)
    rows = caef_probe.columns_elsewhere(None, None, probe["cells"], split, lengths=(3,), n=10, answer=model)
    table = {(r["column"], r["where"]): (r["correct"], r["n"]) for r in rows}
    assert "5+5+0" in {c for c, _ in table} and "1+1+0" not in {c for c, _ in table}
    assert table[("5+5+0", "square")] == (0, 16)  # a, b in 50-53: the square's cells with that leading column
    assert table[("5+5+0", "margin")][0] == 0 and table[("5+5+0", "3 digits")] == (0, 10)  # the fact, anywhere


def test_rfft_square_probe_trains_on_the_split_and_answers_the_square(tmp_path, one_thread):
    """RFFT on the square: a model trained (2 steps) on the split's training cells only, answering the square and
    the cells around it; the square is held out, the cells around it are training cells of the split."""
    from caef_lib.lso.rfft_probe import rfft_square_probe
    from caef_lib.notebook_params import LeaveSquareOutParams
    from caef_lib.params import validate

    P = validate(LeaveSquareOutParams, {"splits": ["1hole_(50, 50)_2_25_0-100"], "rfft": True, "rfft_steps": 2,
                                        "n_layer": 1, "n_embd": 32})
    out = rfft_square_probe(P.split_names("addition")[0], tmp_path, P.rfft_config(), arch=P.rfft_arch(), margin=1,
                            progress=False)
    cells = out["cells"]
    assert len(cells) == 7 * 7 and set(cells["format"]) == set(cells["vocabulary"]) == {"rfft"}
    square = (cells["a"] - 50).abs().le(2) & (cells["b"] - 50).abs().le(2)
    assert (~cells["in_train"] == square).all()  # held out: the square, and nothing else
    rows = {r["region"]: r for r in out["summary"]}
    assert rows["square"]["cells"] == 25 and rows["outside"]["cells"] == 24 and rows["centre"]["cells"] == 9
    assert set(cells["greedy"].unique()) <= {0.0, 1.0} and cells["sampled"].isna().all()
    assert out["train"].summary["steps"] == 2 and (tmp_path / "1hole_(50, 50)_2_25_0-100" / "rfft").is_dir()
    with pytest.raises(Exception, match="rfft=true runs RFFT on the addition square"):
        validate(LeaveSquareOutParams, {"splits": ["random"], "rfft": True})
