"""``python -m caef_lib trace``: JSON and --steps output, bad input (exit 2)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from caef_lib.machines import HALT, get
from caef_lib.trace_cmd import main

GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "reference" / "caef" / "full_process"


def _trace(capsys, *argv):
    assert main(list(argv)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("\n") == 1  # exactly one JSON object on one line
    return json.loads(out)


def test_trace_add_json(capsys):
    t = _trace(capsys, "add", "45", "67")
    assert set(t) == {"op", "a", "b", "result", "calls"}
    assert (t["op"], t["a"], t["b"], t["result"]) == ("add", "45", "67", "112")
    assert t["calls"][0] == {
        "executor": "add_aligner",
        "prompt": "45+67=",
        "answer": "ADD, q0, [HEAD1] |5|4[HEAD2] |7|6 [C] [OUTPUT]\nCMD: [C] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1\n",
    }
    assert t["calls"][-1] == {
        "executor": "add_aligner",
        "prompt": f"ADD, qH,  |5|4[HEAD1] |7|6[HEAD2] [C]1 |2|1|1\n{HALT}\n",
        "answer": "45+67=112",
    }
    assert [c["executor"] for c in t["calls"][1:-1]] == ["add"] * 4  # max(2, 2) + 2 steps
    for prev, call in zip(t["calls"], t["calls"][1:-1]):
        assert call["prompt"] == prev["answer"]


def test_trace_composer_and_single_operand(capsys):
    t = _trace(capsys, "sub", "1000", "999")
    assert t["result"] == "1" and len(t["calls"]) == get("sub").total_calls(1000, 999) + 2
    assert {c["executor"] for c in t["calls"]} == {"sub_aligner", "sub", "reflection", "add", "left_mask"}
    t = _trace(capsys, "left_mask", "100042")
    assert t["b"] is None and t["result"] == "42"
    assert t["calls"][0]["prompt"] == "LEFT_MASK, q0, [HEAD] |2|4|0|0|0|1 [OUTPUT]\nCMD [HEAD] RIGHT, q1\n"
    assert {c["executor"] for c in t["calls"]} == {"left_mask"}
    t = _trace(capsys, "REFLECTION", "999", "5")  # names are case-insensitive
    assert t["op"] == "reflection" and t["result"] == "994"
    assert _trace(capsys, "mul", "4513", "0")["result"] == "0"  # the kit's fix (reference: 4513)
    assert _trace(capsys, "div", "45", "12")["result"] == "3"
    assert _trace(capsys, "less_than", "45", "123")["result"] == "True"


def test_trace_matches_golden_full_process(capsys):
    path = GOLDEN / "sub.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with gzip.open(path, "rt") as fh:
        rows = [json.loads(line) for line in fh][:5]
    for row in rows:
        t = _trace(capsys, "sub", row["a"], row["b"])
        assert t["calls"] == [{"executor": c["adapter"], "prompt": c["prompt"], "answer": c["response"]}
                              for c in row["calls"]]


def test_trace_steps_is_indented(capsys):
    assert main(["mul", "12", "2", "--steps"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith("mul(12, 2): result 24")
    assert "#1 mul_aligner" in lines[1]
    assert any(line.startswith("    #") and "less_than" in line for line in lines)  # callee indented
    assert any(line.startswith("#") and line.endswith(" mul") for line in lines)
    assert lines[-1].strip() == "> 12*2=24"


@pytest.mark.parametrize(
    "argv,message",
    [
        (["add", "-3", "4"], "non-negative integer"),
        (["add", "3", "-4"], "non-negative integer"),
        (["add", "1.5", "4"], "non-negative integer"),
        (["add", "\uff14", "4"], "non-negative integer"),  # a full-width digit: ASCII digits only
        (["add", "x", "4"], "non-negative integer"),
        (["pow", "3", "4"], "unknown OP"),
        (["div", "3", "0"], "division by zero"),
        (["sub", "3", "5"], "a >= b"),
        (["add", "3"], "needs two operands"),
        (["left_mask", "3", "4"], "one operand"),
        (["reflection", "98", "1"], "99..9"),
        (["mul", "3", str(10**9)], "model calls"),
        ([], "required"),
        (["add", "1", "2", "3"], "unrecognized"),
        (["add", "1", "2", "--bogus"], "unrecognized"),
    ],
)
def test_trace_bad_input_exits_2(capsys, argv, message):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("trace: error:") and message in err


def test_trace_help(capsys):
    assert main(["--help"]) == 0
    assert "OP" in capsys.readouterr().out
