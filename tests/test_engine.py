"""The execution engine: golden full-process call lists (../shared/reference/caef/full_process,
skipped when absent), literal runs, nested composers, malformed and hostile models."""

from __future__ import annotations

import gzip
import json
import re
from functools import partial
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from caef_lib.engine import Process, drive, oracle_answer, run_oracle
from caef_lib.machines import BY_NAME, HALT, MACHINES, Composer, get, python_result, register
from caef_lib.machines.mul import Mul
from caef_lib.machines.tape import MalformedText, canonical_int, tape

GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "reference" / "caef" / "full_process"
OPS = ["add", "sub", "mul", "div", "equal", "greater_than", "less_than", "reflection", "left_mask"]


def _golden(op):
    path = GOLDEN / f"{op}.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with gzip.open(path, "rt") as fh:
        return [json.loads(line) for line in fh]


def _ref_calls(row):
    return [{"executor": c["adapter"], "prompt": c["prompt"], "answer": c["response"]} for c in row["calls"]]


# --------------------------------------------------------------------------- golden full process
@pytest.mark.parametrize("op", OPS)
def test_golden_full_process(op):
    rows = _golden(op)
    assert len(rows) == 50
    for row in rows:
        a, b = int(row["a"]), None if row["b"] is None else int(row["b"])
        out = run_oracle(op, a, b)
        assert "error" not in out
        ref = _ref_calls(row)
        assert len(ref) == row["num_generate_calls"]
        if op == "mul" and b == 0 and a != 0:
            # the documented difference (docs/caef-differences.md): the kit's a*0 halts with 0
            diff = [k for k, (x, y) in enumerate(zip(out["calls"], ref)) if x != y]
            assert len(out["calls"]) == len(ref) and diff == [len(ref) - 2, len(ref) - 1]
            assert out["calls"][-2]["answer"] == f"MUL, qH, [HEAD1]{tape(a)} [HEAD2]|0 [COUNT]|1 |0\n{HALT}"
            assert ref[-2]["answer"] == f"MUL, qH, [HEAD1]{tape(a)} [HEAD2]|0 [COUNT]|1 {tape(a)}\n{HALT}"
            assert out["calls"][-1]["answer"] == f"{a}*0=0" and out["result"] == "0"
            assert row["final_output"] == f"{a}*0={a}" and not row["correct"]
            buggy = partial(oracle_answer, machines={**MACHINES, "mul": Mul(reference_b0_bug=True)})
            assert run_oracle(op, a, b, model=buggy)["calls"] == ref  # reproducible on request
            continue
        assert out["calls"] == ref, (op, a, b)
        assert row["correct"]
        if row["mode"] == "alignment":
            assert out["calls"][-1]["answer"] == row["final_output"] == row["ground_truth"]
            assert out["result"] == row["ground_truth"].rpartition("=")[2] == python_result(op, a, b)
        else:
            assert out["calls"][0]["prompt"] == row["input"]
            assert out["calls"][-1]["answer"] == row["final_output"]
            assert out["result"] == python_result(op, a, b)
        assert len(out["calls"]) == get(op).total_calls(a, b) + (2 if row["mode"] == "alignment" else 0)
        # composer prompts that differ from the reference's training inputs: runtime mode gives the
        # runtime prompt, reference mode the training input
        for pair in row["composer_inputs_differing_from_training"]:
            assert pair["runtime_input"] in [i for i, _ in get(op).transitions(a, b)]
            assert pair["training_input"] in [i for i, _ in get(op).transitions(a, b, callee_halts="reference")]


def test_golden_summary_counts():
    path = GOLDEN / "summary.json"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    summary = json.loads(path.read_text())
    for op in OPS:
        total = sum(len(run_oracle(op, int(r["a"]), None if r["b"] is None else int(r["b"]))["calls"])
                    for r in _golden(op))
        assert total == summary[op]["total_generate_calls"]


# --------------------------------------------------------------------------- literal runs
ADD_5_7 = [
    {"executor": "add_aligner", "prompt": "5+7=",
     "answer": "ADD, q0, [HEAD1] |5[HEAD2] |7 [C] [OUTPUT]\nCMD: [C] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1\n"},
    {"executor": "add",
     "prompt": "ADD, q0, [HEAD1] |5[HEAD2] |7 [C] [OUTPUT]\nCMD: [C] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1\n",
     "answer": "ADD, q1,  [HEAD1]|5 [HEAD2]|7 [C]0 [OUTPUT]\n"
               "CMD: [C] 1, [OUTPUT] 2, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1\n"},
    {"executor": "add",
     "prompt": "ADD, q1,  [HEAD1]|5 [HEAD2]|7 [C]0 [OUTPUT]\n"
               "CMD: [C] 1, [OUTPUT] 2, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1\n",
     "answer": "ADD, q1,  |5[HEAD1] |7[HEAD2] [C]1 |2[OUTPUT]\nCMD: [OUTPUT] 1, [OUTPUT], [C], qH\n"},
    {"executor": "add",
     "prompt": "ADD, q1,  |5[HEAD1] |7[HEAD2] [C]1 |2[OUTPUT]\nCMD: [OUTPUT] 1, [OUTPUT], [C], qH\n",
     "answer": "ADD, qH,  |5[HEAD1] |7[HEAD2] [C]1 |2|1\nNo command to execute. Halt state.\n"},
    {"executor": "add_aligner", "prompt": "ADD, qH,  |5[HEAD1] |7[HEAD2] [C]1 |2|1\nNo command to execute. Halt state.\n",
     "answer": "5+7=12"},
]


def test_literal_add_run():
    assert run_oracle("add", 5, 7) == {"op": "add", "a": "5", "b": "7", "result": "12", "calls": ADD_5_7}
    p = drive(Process("add", 5, 7, alignment=False), oracle_answer)
    assert p.calls == ADD_5_7[1:-1] and p.result == "12" and p.correct
    assert p.output == p.final_text == ADD_5_7[-1]["prompt"]


def test_literal_mul_run_call_protocol():
    out = run_oracle("mul", 7, 1)
    assert [c["executor"] for c in out["calls"]] == ["mul_aligner", "mul", "less_than", "less_than",
                                                     "less_than", "mul", "mul_aligner"]
    first = out["calls"][1]["answer"].split("\n")
    assert out["calls"][2]["prompt"] == f"{first[2]}\n{first[3]}\n"  # callee starts from lines 3-4
    # the callee's last answer is appended to the pending composer lines 1-2
    assert out["calls"][5]["prompt"] == f"{first[0]}\n{first[1]}\n" + out["calls"][4]["answer"]
    assert out["calls"][6]["prompt"] == "MUL, qH, [HEAD1]|7 [HEAD2]|1 [COUNT]|1 |7\n" + HALT  # no newline
    assert out["calls"][6]["answer"] == "7*1=7" and out["result"] == "7"
    assert run_oracle("mul", 4513, 0)["result"] == "0"


def test_process_api():
    p = Process("sub", 47819, 12345)
    assert p.pending() == ("sub_aligner", "47819-12345=") and p.depth == 0 and not p.done
    p.feed(oracle_answer(*p.pending()))
    assert p.pending()[0] == "sub"
    p.feed(oracle_answer(*p.pending()))
    assert p.pending()[0] == "reflection" and p.depth == 1
    drive(p, oracle_answer)
    assert p.done and p.pending() is None and p.result == "35474" and p.error is None and p.correct
    assert max(p.call_depths) == 1 and len(p.call_depths) == len(p.calls)
    with pytest.raises(RuntimeError):
        p.feed("anything")
    for op in ("reflection", "left_mask"):  # no aligner: start at q0 even with alignment=True
        q = Process(op, 999, 5) if op == "reflection" else Process(op, 100042)
        assert q.pending() == (op, "\n".join(get(op).init(*((999, 5) if op == "reflection" else (100042,)))) + "\n")
        drive(q, oracle_answer)
        assert q.result == ("994" if op == "reflection" else "42") and q.correct
    with pytest.raises(ValueError, match="division by zero"):
        Process("div", 5, 0)
    with pytest.raises(ValueError, match="a >= b"):
        Process("sub", 3, 5)
    with pytest.raises(ValueError, match="unknown operator"):
        Process("pow", 3, 5)
    with pytest.raises(ValueError):
        Process("add", -1, 5)
    with pytest.raises(ValueError):
        Process("add", 1)


def test_aligner_mismatch_is_scored_wrong():
    p = Process("add", 5, 7)
    while p.pending():
        adapter, prompt = p.pending()
        p.feed("5+7=13" if adapter == "add_aligner" and "\n" in prompt else oracle_answer(adapter, prompt))
    assert p.done and p.error is None and p.result == "13" and not p.correct


# --------------------------------------------------------------------------- malformed models
def _run_until(op, a, b, executor, bad, nth=0):
    """Oracle until the nth call of ``executor``, which gets ``bad`` instead."""
    p = Process(op, a, b)
    seen = 0
    while p.pending():
        adapter, prompt = p.pending()
        if adapter == executor:
            if seen == nth:
                p.feed(bad(prompt) if callable(bad) else bad)
                break
            seen += 1
        p.feed(oracle_answer(adapter, prompt))
    return p


BAD_ANSWERS = ["", "\n", "one line only", "garbage\n\n", "a\nb\nc\n", "a\nb\nc\nd\ne", 12345]


@pytest.mark.parametrize("bad", BAD_ANSWERS, ids=repr)
@pytest.mark.parametrize("executor", ["sub_aligner", "sub", "add", "reflection"])
def test_malformed_answer_ends_process_with_error(executor, bad):
    p = _run_until("sub", 47819, 12345, executor, bad)
    assert p.done and p.error and p.result is None and not p.correct, (executor, bad, p.error)
    assert p.error.startswith(executor + ":")


def test_wrong_callee_and_call_shapes():
    p = _run_until("mul", 12, 3, "mul", lambda prompt: "MUL, q1, x\nCMD [CALL] FOO, q2\nFOO, q0, |1\nCMD go")
    assert p.done and "unknown callee" in p.error
    p = _run_until("mul", 12, 3, "mul", "MUL, q1, x\nCMD [CALL] LESS_THAN, q2")
    assert p.done and "CALL without" in p.error
    p = _run_until("mul", 12, 3, "mul", "MUL, q1, x\nCMD q2\nLESS_THAN, q0\nCMD x")
    assert p.done and "without a CALL" in p.error
    p = _run_until("mul", 12, 3, "mul", f"MUL, qH, x\n{HALT}\nextra\nlines")
    assert p.done and p.error
    # the root halts with a text the machine cannot read a result from (no aligner)
    p = Process("add", 5, 7, alignment=False)
    p.feed(f"ADD, qH,  nonsense\n{HALT}\n")
    assert p.done and p.error and p.result is None


def test_never_halting_model_hits_the_step_limit():
    p = drive(Process("add", 123, 456, max_steps=50), lambda adapter, prompt: prompt if adapter == "add" else
              oracle_answer(adapter, prompt))
    assert p.done and "step limit" in p.error and len(p.calls) == 50
    # default limit: twice a perfect run plus slack
    p = drive(Process("div", 45, 12), lambda adapter, prompt: prompt if adapter == "add" else
              oracle_answer(adapter, prompt))
    assert p.done and "step limit" in p.error and len(p.calls) == p.max_steps == 2 * (get("div").total_calls(45, 12) + 2) + 64


def test_self_calling_composer_hits_the_depth_limit():
    def model(adapter, prompt):
        if adapter == "sub":
            return "SUB, q1, x \nCMD [CALL] SUB, q2\nSUB, q0, y \nCMD q1"
        return oracle_answer(adapter, prompt)

    p = drive(Process("sub", 5, 3, max_depth=8), model)
    assert p.done and "max_depth=8" in p.error and p.depth == 8


def test_model_exception_ends_process():
    def model(adapter, prompt):
        raise MalformedText("cannot generate")

    p = drive(Process("add", 1, 2), model)
    assert p.done and "cannot generate" in p.error


@st.composite
def small_problem(draw):
    op = draw(st.sampled_from(OPS))
    if op == "reflection":
        n = draw(st.integers(1, 6))
        return op, 10**n - 1, draw(st.integers(0, 10**n - 1))
    if op == "left_mask":
        return op, draw(st.integers(0, 10**6)), None
    a, b = draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6))
    if op == "sub":
        a, b = max(a, b), min(a, b)
    if op == "mul":
        b = b % 4
    if op == "div":
        b = b + 1
        a = a % (4 * b)
    return op, a, b


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problem(), st.data())
def test_hostile_model_always_terminates(problem, data):
    op, a, b = problem
    garbage = st.one_of(
        st.text(max_size=40),
        st.sampled_from(["", "\n", HALT, f"X\n{HALT}", f"X\n{HALT}\n", "CMD [CALL] ADD, q1",
                         "S\nCMD [CALL] NOPE, q1\nA\nB", "S\nCMD [CALL] ADD, q1\nA\nB", "S\nCMD [CALL] SUB, q1\nA\nB"]),
    )

    def model(adapter, prompt):
        choice = data.draw(st.sampled_from(["oracle", "oracle", "oracle", "echo", "garbage"]))
        if choice == "echo":
            return prompt
        if choice == "garbage":
            return data.draw(garbage)
        try:
            return oracle_answer(adapter, prompt)
        except ValueError:
            return data.draw(garbage)

    p = Process(op, a, b, max_steps=300)
    while p.pending():  # no exception may escape feed()
        p.feed(model(*p.pending()))
    assert p.done and len(p.calls) <= 300
    assert (p.error is None) == (p.result is not None)


# --------------------------------------------------------------------------- composers calling composers
class _Square(Composer):
    """Test-only composer: a*a by CALLing MUL (a composer), i.e. call depth 2."""

    name, adapter, arity = "SQUARE_TEST", "square_test", 1
    _STATE = re.compile(r"SQUARE_TEST, (q0|q1), \[HEAD1\]((?:\|\d)+) ")

    def python_result(self, a, b=None):
        return str(a * a)

    def num_calls(self, a, b=None):
        return 2

    def init(self, a, b=None):
        return f"SQUARE_TEST, q0, [HEAD1]{tape(a)} ", "CMD q1"

    def parse_init(self, state, command):
        return canonical_int(self._STATE.fullmatch(state)[2]), None

    def callee_plan(self, a, b=None):
        return [("mul", a, a)]

    def _answer(self, lines):
        m = self._STATE.fullmatch(lines[0])
        if not m:
            raise MalformedText(lines[0])
        a = canonical_int(m[2])
        if m[1] == "q0":
            return self._call(f"SQUARE_TEST, q1, [HEAD1]{m[2]} ", "mul", "qH", a, a)
        return [f"SQUARE_TEST, qH, [HEAD1]{m[2]} {tape(int(self._callee_result(lines, 'MUL')))}", HALT]


@pytest.fixture
def square():
    machine = register(_Square())
    yield machine
    MACHINES.pop(machine.adapter)
    BY_NAME.pop(machine.name)


def test_composer_calling_composer(square):
    out = run_oracle("square_test", 12)
    assert out["result"] == "144" and "error" not in out
    assert len(out["calls"]) == square.total_calls(12) == 2 + get("mul").total_calls(12, 12)
    calls = out["calls"]
    assert calls[0]["executor"] == "square_test" and calls[1]["executor"] == "mul"
    mul_final = max(i for i, c in enumerate(calls) if c["executor"] == "mul")
    assert calls[mul_final]["answer"].endswith(HALT)  # composer answer: no trailing newline
    assert calls[-1]["prompt"] == ("SQUARE_TEST, q1, [HEAD1]|2|1 \nCMD [CALL] MUL, qH\n"
                                   + calls[mul_final]["answer"] + "\n")
    p = drive(Process("square_test", 12), oracle_answer)
    assert max(p.call_depths) == 2 and p.correct
    assert [square.transition(i) for i, _ in square.transitions(12)] == [o for _, o in square.transitions(12)]


# --------------------------------------------------------------------------- full runs, large operands
def _num(max_len=120):
    return st.integers(1, max_len).flatmap(lambda n: st.integers(0 if n == 1 else 10 ** (n - 1), 10**n - 1))


@st.composite
def big_problem(draw):
    op = draw(st.sampled_from(OPS))
    if op == "reflection":
        n = draw(st.integers(1, 120))
        return op, 10**n - 1, draw(st.integers(0, 10**n - 1))
    if op == "left_mask":
        return op, draw(_num()), None
    a, b = draw(_num()), draw(_num())
    if op == "sub":
        a, b = max(a, b), min(a, b)
    if op == "mul":
        b = draw(st.integers(0, 4))
    if op == "div":
        b = max(b, 1)
        a = draw(st.integers(0, 4)) * b + draw(st.integers(0, b - 1))
    return op, a, b


_BIG = int("7" * 120)


@settings(max_examples=100, deadline=None)
@given(big_problem(), st.booleans())
@example(("mul", _BIG, 4), True)
@example(("div", 4 * _BIG + 5, _BIG), True)
@example(("sub", _BIG, _BIG // 3), False)
@example(("reflection", 10**120 - 1, 10**120 - 10**60), False)
@example(("left_mask", 10**119 + 5, None), True)
def test_oracle_runs_give_python_results_and_documented_call_counts(problem, alignment):
    op, a, b = problem
    p = drive(Process(op, a, b, alignment=alignment), oracle_answer)
    assert p.error is None and p.correct and p.result == python_result(op, a, b)
    machine = get(op)
    aligned = alignment and machine.symbol is not None
    assert len(p.calls) == machine.total_calls(a, b) + (2 if aligned else 0)
    executors = [c["executor"] for c in p.calls]
    assert executors.count(op) == machine.num_calls(a, b)
    if machine.is_composer:
        for callee in {c for c, _, _ in machine.callee_plan(a, b)}:
            expected = sum(get(c).num_calls(x, y) for c, x, y in machine.callee_plan(a, b) if c == callee)
            assert executors.count(callee) == expected
