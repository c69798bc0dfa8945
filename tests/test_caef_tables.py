"""Notebook 05's tables: measured by the batched engine, Table 1 / Table 2 shapes, `not known` rows, Markdown and
LaTeX, and the notebook's parameters."""
import pytest

from caef_lib import batched_engine as be
from caef_lib import caef_tables as ct


def test_the_oracle_fills_both_tables_with_100_percent():
    rows = ct.measure(be.oracle_model, ["add", "sub", "reflection"], [2, 6], 5, seed=1)
    t1, t2 = ct.table1(rows), ct.table2(rows)
    assert list(t1.columns) == ct.TABLE_COLUMNS
    assert list(t2.columns) == ["op", "digits", "method", "component", "n", "correct", "accuracy", "ci_low",
                                "ci_high"]
    measured = t1[t1["method"].isin(["caef", "direct"])]
    assert len(measured) == 2 * 2 * 2 and (measured["accuracy"] == 1.0).all()  # reflection has no Table 1 row
    unknown = t1[~t1["method"].isin(["caef", "direct"])]
    assert set(unknown["method"]) == {f"{m}: not known" for m in ct.NOT_MEASURED} and unknown["n"].isna().all()
    assert set(t2["component"]) == {"executor", "aligner_input", "aligner_output"}
    assert (t2["accuracy"] == 1.0).all() and len(t2[t2["op"] == "reflection"]) == 2
    assert ct.first_errors(rows).empty
    assert ct.modes_for("reflection", components=False) == []  # its only mode is a Table 2 component
    # one engine run per mode holds every cell: rows return to (op, length, mode) order, each cell its own problems
    keys = [(r["op"], r["digits"], r["mode"]) for r in rows]
    assert keys == sorted(keys, key=lambda k: (["add", "sub", "reflection"].index(k[0]), k[1],
                                               ct.modes_for(k[0]).index(k[2])))
    assert all(len(str(r["a"])) == r["digits"] for r in rows if r["op"] == "add")
    for (op, d) in {(r["op"], r["digits"]) for r in rows}:
        assert {m: [(r["a"], r["b"]) for r in rows if (r["op"], r["digits"], r["mode"]) == (op, d, m)]
                for m in ct.modes_for(op)} == {m: [(str(a), str(b)) for _, a, b in be.draw_problems(op, d, 5, 1)]
                                               for m in ct.modes_for(op)}


def test_faults_are_counted_and_rendered():
    rows = ct.measure(be.NoisyOracle(0.2, seed=4), ["add", "mul"], [3], 40)
    t1 = ct.table1(rows)
    caef = t1[t1["method"] == "caef"]
    assert (caef["accuracy"] < 1).all() and (caef["n"] == 40).all()
    errors = ct.first_errors(rows)
    wrong = sum(not r["correct"] for r in rows if r["mode"] == "full")
    assert len(errors) == wrong and errors["first_wrong_kind"].notna().all()
    md = ct.to_markdown(t1)
    assert md.startswith("| op | method | 3 digits |") and "not known" in md and "(n=40)" in md
    tex = ct.to_latex(ct.table2(rows), "component")
    assert "\\toprule" in tex and "aligner\\_input" in tex and tex.count("\\\\") == 1 + 2 * 3


def test_reference_scoring_ends_a_problem_at_its_first_wrong_call_and_result_scoring_runs_it_on():
    ref = ct.measure(be.NoisyOracle(0.1, seed=3), ["add", "greater_than"], [4], 40, direct=False, components=False)
    res = ct.measure(be.NoisyOracle(0.1, seed=3), ["add", "greater_than"], [4], 40, direct=False, components=False,
                     scoring="result")
    assert all(r["first_wrong_call"] is None for r in ref if r["correct"])  # right only with every call right
    assert all(r["calls"] == r["first_wrong_call"] + 1 for r in ref if not r["correct"] and r["first_wrong_call"]
               is not None and r["first_wrong_kind"] != "aligner_output")
    assert sum(r["calls"] for r in ref) < sum(r["calls"] for r in res)
    assert sum(r["correct"] for r in ref) <= sum(r["correct"] for r in res)
    assert set(ct.table1(ref)["method"]) >= {"caef"} and "caef_by_result" in set(ct.table1(res)["method"])
    with pytest.raises(ValueError, match="scoring"):
        ct.measure(be.oracle_model, ["add"], [1], 1, scoring="lenient")


@pytest.mark.parametrize("values,message", [
    ({"ops": ["nope"]}, "unknown"),
    ({"adapters_dir": "/x", "adapter_map": "/y"}, "not both"),
    ({"model": "oracle", "adapters_dir": "/x"}, "uses no adapters"),
    ({"lengths": []}, "lengths"),
])
def test_bad_parameters_are_refused(values, message):
    from caef_lib.notebook_params import CaefTablesParams
    from caef_lib.params import ParameterError, validate

    with pytest.raises(ParameterError, match=message):
        validate(CaefTablesParams, values, notebook="05_caef_tables")
    P = validate(CaefTablesParams, {"ops": ["all", "add"]}, notebook="05_caef_tables")
    assert P.op_list() == list(be.ALL)
