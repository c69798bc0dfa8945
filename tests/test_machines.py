"""The symbolic CAEF machines: literal traces from format.md, every golden trace in
../shared/reference/caef/traces (skipped when absent), and property tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caef_lib.machines import (
    HALT,
    MACHINES,
    OP_SYMBOLS,
    MalformedText,
    get,
    input_to_tm,
    python_result,
    tm_to_output,
)
from caef_lib.machines.mul import Mul
from caef_lib.machines.tape import sum_len, tape, tape_to_int

GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "reference" / "caef"
BASIC = ["add", "reflection", "left_mask", "equal", "greater_than", "less_than"]
COMPOSERS = ["sub", "mul", "div"]


def text(step):
    return f"{step[0]}\n{step[1]}\n"


# --------------------------------------------------------------------------- literal traces (format.md)
ADD_345_678 = [
    ("ADD, q0, [HEAD1] |5|4|3[HEAD2] |8|7|6 [C] [OUTPUT]", "CMD: [C] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("ADD, q1,  [HEAD1]|5|4|3 [HEAD2]|8|7|6 [C]0 [OUTPUT]",
     "CMD: [C] 1, [OUTPUT] 3, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("ADD, q1,  |5[HEAD1]|4|3 |8[HEAD2]|7|6 [C]1 |3[OUTPUT]",
     "CMD: [C] 1, [OUTPUT] 2, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("ADD, q1,  |5|4[HEAD1]|3 |8|7[HEAD2]|6 [C]1 |3|2[OUTPUT]",
     "CMD: [C] 1, [OUTPUT] 0, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("ADD, q1,  |5|4|3[HEAD1] |8|7|6[HEAD2] [C]1 |3|2|0[OUTPUT]", "CMD: [OUTPUT] 1, [OUTPUT], [C], qH"),
    ("ADD, qH,  |5|4|3[HEAD1] |8|7|6[HEAD2] [C]1 |3|2|0|1", HALT),
]
ADD_9999_1 = [
    ("ADD, q0, [HEAD1] |9|9|9|9[HEAD2] |1 [C] [OUTPUT]", "CMD: [C] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("ADD, q1,  [HEAD1]|9|9|9|9 [HEAD2]|1 [C]0 [OUTPUT]",
     "CMD: [C] 1, [OUTPUT] 0, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("ADD, q1,  |9[HEAD1]|9|9|9 |1[HEAD2] [C]1 |0[OUTPUT]", "CMD: [C] 1, [OUTPUT] 0, [OUTPUT] RIGHT, [HEAD1] RIGHT, q1"),
    ("ADD, q1,  |9|9[HEAD1]|9|9 |1[HEAD2] [C]1 |0|0[OUTPUT]", "CMD: [C] 1, [OUTPUT] 0, [OUTPUT] RIGHT, [HEAD1] RIGHT, q1"),
    ("ADD, q1,  |9|9|9[HEAD1]|9 |1[HEAD2] [C]1 |0|0|0[OUTPUT]",
     "CMD: [C] 1, [OUTPUT] 0, [OUTPUT] RIGHT, [HEAD1] RIGHT, q1"),
    ("ADD, q1,  |9|9|9|9[HEAD1] |1[HEAD2] [C]1 |0|0|0|0[OUTPUT]", "CMD: [OUTPUT] 1, [OUTPUT], [C], qH"),
    ("ADD, qH,  |9|9|9|9[HEAD1] |1[HEAD2] [C]1 |0|0|0|0|1", HALT),
]
REFLECTION_99_99 = [
    ("REFLECTION, q0, [HEAD1] |9|9[HEAD2] |9|9 [OUTPUT]", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("REFLECTION, q1,  [HEAD1]|9|9 [HEAD2]|9|9 [OUTPUT]",
     "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] 0, [OUTPUT] RIGHT, q1"),
    ("REFLECTION, q1,  |9[HEAD1]|9 |9[HEAD2]|9 |0[OUTPUT]",
     "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] 0, [OUTPUT] RIGHT, q1"),
    ("REFLECTION, q1,  |9|9[HEAD1] |9|9[HEAD2] |0|0[OUTPUT]", "CMD q2"),
    ("REFLECTION, q2,  |9|9[HEAD1] |9|9[HEAD2] |0|0[OUTPUT]", "CMD [OUTPUT] LEFT, q2"),
    ("REFLECTION, q2,  |9|9[HEAD1] |9|9[HEAD2] |0[OUTPUT]", "CMD [OUTPUT] LEFT, q2"),
    ("REFLECTION, q2,  |9|9[HEAD1] |9|9[HEAD2] |[OUTPUT]", "CMD [OUTPUT], qH"),
    ("REFLECTION, qH,  |9|9[HEAD1] |9|9[HEAD2] |0", HALT),
]
REFLECTION_999_5 = [
    ("REFLECTION, q0, [HEAD1] |9|9|9[HEAD2] |5 [OUTPUT]", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("REFLECTION, q1,  [HEAD1]|9|9|9 [HEAD2]|5 [OUTPUT]", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] 4, [OUTPUT] RIGHT, q1"),
    ("REFLECTION, q1,  |9[HEAD1]|9|9 |5[HEAD2] |4[OUTPUT]", "CMD [HEAD1] RIGHT, [OUTPUT] 9, [OUTPUT] RIGHT, q1"),
    ("REFLECTION, q1,  |9|9[HEAD1]|9 |5[HEAD2] |4|9[OUTPUT]", "CMD [HEAD1] RIGHT, [OUTPUT] 9, [OUTPUT] RIGHT, q1"),
    ("REFLECTION, q1,  |9|9|9[HEAD1] |5[HEAD2] |4|9|9[OUTPUT]", "CMD q2"),
    ("REFLECTION, q2,  |9|9|9[HEAD1] |5[HEAD2] |4|9|9[OUTPUT]", "CMD [OUTPUT], qH"),
    ("REFLECTION, qH,  |9|9|9[HEAD1] |5[HEAD2] |4|9|9", HALT),
]
LEFT_MASK_1000 = [
    ("LEFT_MASK, q0, [HEAD] |0|0|0|1 [OUTPUT]", "CMD [HEAD] RIGHT, q1"),
    ("LEFT_MASK, q1,  [HEAD]|0|0|0|1 [OUTPUT]", "CMD [HEAD] RIGHT, [OUTPUT] 0, [OUTPUT] RIGHT, q1"),
    ("LEFT_MASK, q1,  |0[HEAD]|0|0|1 |0[OUTPUT]", "CMD [HEAD] RIGHT, [OUTPUT] 0, [OUTPUT] RIGHT, q1"),
    ("LEFT_MASK, q1,  |0|0[HEAD]|0|1 |0|0[OUTPUT]", "CMD [HEAD] RIGHT, [OUTPUT] 0, [OUTPUT] RIGHT, q1"),
    ("LEFT_MASK, q1,  |0|0|0[HEAD]|1 |0|0|0[OUTPUT]", "CMD [HEAD] RIGHT, [OUTPUT] 1, [OUTPUT] RIGHT, q1"),
    ("LEFT_MASK, q1,  |0|0|0|1[HEAD] |0|0|0|1[OUTPUT]", "CMD [OUTPUT] LEFT, [OUTPUT] 0, q2"),
    ("LEFT_MASK, q2,  |0|0|0|1[HEAD] |0|0|0[OUTPUT]", "CMD [OUTPUT] LEFT, q2"),
    ("LEFT_MASK, q2,  |0|0|0|1[HEAD] |0|0[OUTPUT]", "CMD [OUTPUT] LEFT, q2"),
    ("LEFT_MASK, q2,  |0|0|0|1[HEAD] |0[OUTPUT]", "CMD [OUTPUT] LEFT, q2"),
    ("LEFT_MASK, q2,  |0|0|0|1[HEAD] [OUTPUT]", "CMD qH"),
    ("LEFT_MASK, qH,  |0|0|0|1[HEAD] 0", HALT),
]
EQUAL_777_777 = [
    ("EQUAL, q0, [HEAD1] |7|7|7[HEAD2] |7|7|7 [OUTPUT]", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] True, q1"),
    ("EQUAL, q1,  [HEAD1]|7|7|7 [HEAD2]|7|7|7 [OUTPUT]True", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("EQUAL, q1,  |7[HEAD1]|7|7 |7[HEAD2]|7|7 [OUTPUT]True", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("EQUAL, q1,  |7|7[HEAD1]|7 |7|7[HEAD2]|7 [OUTPUT]True", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("EQUAL, q1,  |7|7|7[HEAD1] |7|7|7[HEAD2] [OUTPUT]True", "CMD [OUTPUT], qH"),
    ("EQUAL, qH,  |7|7|7[HEAD1] |7|7|7[HEAD2] True", HALT),
]
EQUAL_1235_1243 = [
    ("EQUAL, q0, [HEAD1] |5|3|2|1[HEAD2] |3|4|2|1 [OUTPUT]", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] True, q1"),
    ("EQUAL, q1,  [HEAD1]|5|3|2|1 [HEAD2]|3|4|2|1 [OUTPUT]True", "CMD [OUTPUT] False, [OUTPUT], qH"),
    ("EQUAL, qH,  [HEAD1]|5|3|2|1 [HEAD2]|3|4|2|1 False", HALT),
]
GREATER_THAN_123_45 = [
    ("GREATER_THAN, q0, [HEAD1] |3|2|1[HEAD2] |5|4 [OUTPUT]", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] False, q1"),
    ("GREATER_THAN, q1,  [HEAD1]|3|2|1 [HEAD2]|5|4 [OUTPUT]False", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] False, q1"),
    ("GREATER_THAN, q1,  |3[HEAD1]|2|1 |5[HEAD2]|4 [OUTPUT]False", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] False, q1"),
    ("GREATER_THAN, q1,  |3|2[HEAD1]|1 |5|4[HEAD2] [OUTPUT]False", "CMD [OUTPUT] True, [OUTPUT], qH"),
    ("GREATER_THAN, qH,  |3|2[HEAD1]|1 |5|4[HEAD2] True", HALT),
]
LESS_THAN_1235_1243 = [
    ("LESS_THAN, q0, [HEAD1] |5|3|2|1[HEAD2] |3|4|2|1 [OUTPUT]", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] False, q1"),
    ("LESS_THAN, q1,  [HEAD1]|5|3|2|1 [HEAD2]|3|4|2|1 [OUTPUT]False", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] False, q1"),
    ("LESS_THAN, q1,  |5[HEAD1]|3|2|1 |3[HEAD2]|4|2|1 [OUTPUT]False", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] True, q1"),
    ("LESS_THAN, q1,  |5|3[HEAD1]|2|1 |3|4[HEAD2]|2|1 [OUTPUT]True", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("LESS_THAN, q1,  |5|3|2[HEAD1]|1 |3|4|2[HEAD2]|1 [OUTPUT]True", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("LESS_THAN, q1,  |5|3|2|1[HEAD1] |3|4|2|1[HEAD2] [OUTPUT]True", "CMD [OUTPUT], qH"),
    ("LESS_THAN, qH,  |5|3|2|1[HEAD1] |3|4|2|1[HEAD2] True", HALT),
]
LESS_THAN_45_123 = [
    ("LESS_THAN, q0, [HEAD1] |5|4[HEAD2] |3|2|1 [OUTPUT]", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] False, q1"),
    ("LESS_THAN, q1,  [HEAD1]|5|4 [HEAD2]|3|2|1 [OUTPUT]False", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] False, q1"),
    ("LESS_THAN, q1,  |5[HEAD1]|4 |3[HEAD2]|2|1 [OUTPUT]False", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] False, q1"),
    ("LESS_THAN, q1,  |5|4[HEAD1] |3|2[HEAD2]|1 [OUTPUT]False", "CMD [OUTPUT] True, [OUTPUT], qH"),
    ("LESS_THAN, qH,  |5|4[HEAD1] |3|2[HEAD2]|1 True", HALT),
]

LITERAL_TRAJECTORIES = [
    ("add", 345, 678, "1023", ADD_345_678),
    ("add", 9999, 1, "10000", ADD_9999_1),
    ("reflection", 99, 99, "0", REFLECTION_99_99),
    ("reflection", 999, 5, "994", REFLECTION_999_5),
    ("left_mask", 1000, None, "0", LEFT_MASK_1000),
    ("equal", 777, 777, "True", EQUAL_777_777),
    ("equal", 1235, 1243, "False", EQUAL_1235_1243),
    ("greater_than", 123, 45, "True", GREATER_THAN_123_45),
    ("less_than", 1235, 1243, "True", LESS_THAN_1235_1243),
    ("less_than", 45, 123, "True", LESS_THAN_45_123),
]


@pytest.mark.parametrize("op,a,b,result,expected", LITERAL_TRAJECTORIES, ids=lambda v: str(v)[:12])
def test_literal_trajectories(op, a, b, result, expected):
    m = get(op)
    assert m.trajectory(a, b) == expected
    assert m.num_calls(a, b) == len(expected) - 1 == m.num_steps(a, b) - 1
    assert m.init(a, b) == expected[0]
    assert m.halt_lines(a, b) == expected[-1]
    for j in range(len(expected) - 1):
        assert m.step(a, b, j) == expected[j]
        assert m.transition(text(expected[j])) == text(expected[j + 1])
    assert m.result_from_halt(expected[-1][0]) == result == python_result(op, a, b)


SUB_1000_999_RUNTIME = [
    ("SUB, q0, [HEAD1]|0|0|0|1 [HEAD2]|9|9|9 \nCMD q1\n",
     "SUB, q1, [HEAD1]|0|0|0|1 [HEAD2]|9|9|9 \nCMD [CALL] REFLECTION, q2\n"
     "REFLECTION, q0, [HEAD1] |9|9|9|9[HEAD2] |9|9|9 [OUTPUT]\nCMD [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("SUB, q1, [HEAD1]|0|0|0|1 [HEAD2]|9|9|9 \nCMD [CALL] REFLECTION, q2\n"
     "REFLECTION, qH,  |9|9|9|9[HEAD1] |9|9|9[HEAD2] |0|0|0|9\nNo command to execute. Halt state.\n",
     "SUB, q2, [HEAD1]|0|0|0|1 [HEAD2]|9|9|9 \nCMD [CALL] ADD, q3\n"
     "ADD, q0, [HEAD1] |0|0|0|1[HEAD2] |0|0|0|9 [C] [OUTPUT]\nCMD: [C] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("SUB, q2, [HEAD1]|0|0|0|1 [HEAD2]|9|9|9 \nCMD [CALL] ADD, q3\n"
     "ADD, qH,  |0|0|0|1[HEAD1] |0|0|0|9[HEAD2] [C]1 |0|0|0|0|1\nNo command to execute. Halt state.\n",
     "SUB, q3, [HEAD1]|0|0|0|1 [HEAD2]|9|9|9 \nCMD [CALL] ADD, q4\n"
     "ADD, q0, [HEAD1] |0|0|0|0|1[HEAD2] |1 [C] [OUTPUT]\nCMD: [C] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("SUB, q3, [HEAD1]|0|0|0|1 [HEAD2]|9|9|9 \nCMD [CALL] ADD, q4\n"
     "ADD, qH,  |0|0|0|0|1[HEAD1] |1[HEAD2] [C]0 |1|0|0|0|1\nNo command to execute. Halt state.\n",
     "SUB, q4, [HEAD1]|0|0|0|1 [HEAD2]|9|9|9 \nCMD [CALL] LEFT_MASK, qH\n"
     "LEFT_MASK, q0, [HEAD] |1|0|0|0|1 [OUTPUT]\nCMD [HEAD] RIGHT, q1"),
    ("SUB, q4, [HEAD1]|0|0|0|1 [HEAD2]|9|9|9 \nCMD [CALL] LEFT_MASK, qH\n"
     "LEFT_MASK, qH,  |1|0|0|0|1[HEAD] |1\nNo command to execute. Halt state.\n",
     "SUB, qH, [HEAD1]|0|0|0|1 [HEAD2]|9|9|9 |1\nNo command to execute. Halt state."),
]


def test_sub_literal_runtime_and_reference_halts():
    sub = get("sub")
    assert sub.transitions(1000, 999) == SUB_1000_999_RUNTIME
    ref = sub.transitions(1000, 999, callee_halts="reference")
    assert [o for _, o in ref] == [o for _, o in SUB_1000_999_RUNTIME]
    # format.md §3.6: fabricated ADD halt shows [C]0, fabricated LEFT_MASK keeps the zeros
    assert "ADD, qH,  |0|0|0|1[HEAD1] |0|0|0|9[HEAD2] [C]0 |0|0|0|0|1\n" in ref[2][0]
    assert "LEFT_MASK, qH,  |1|0|0|0|1[HEAD] |1|0|0|0\n" in ref[4][0]
    assert sub.num_calls(1000, 999) == 5
    assert sub.result_from_halt("SUB, qH, [HEAD1]|0|0|0|1 [HEAD2]|9|9|9 |1") == "1"


MUL_7_1 = [
    ("MUL, q0, [HEAD1]|7 [HEAD2]|1 [COUNT] [OUTPUT]\nCMD [COUNT] 1, [OUTPUT]|7, q1\n",
     "MUL, q1, [HEAD1]|7 [HEAD2]|1 [COUNT]|1 [OUTPUT]|7\nCMD [CALL] LESS_THAN, q2\n"
     "LESS_THAN, q0, [HEAD1] |1[HEAD2] |1 [OUTPUT]\nCMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] False, q1"),
    ("MUL, q1, [HEAD1]|7 [HEAD2]|1 [COUNT]|1 [OUTPUT]|7\nCMD [CALL] LESS_THAN, q2\n"
     "LESS_THAN, qH,  |1[HEAD1] |1[HEAD2] False\nNo command to execute. Halt state.\n",
     "MUL, qH, [HEAD1]|7 [HEAD2]|1 [COUNT]|1 |7\nNo command to execute. Halt state."),
]
DIV_3_7 = [
    ("DIV, q0, [HEAD1]|3 [HEAD2]|7 [COUNT] [OUTPUT]\nCMD [COUNT]|7, [OUTPUT] 0, q1\n",
     "DIV, q1, [HEAD1]|3 [HEAD2]|7 [COUNT]|7 [OUTPUT]|0\nCMD [CALL] GREATER_THAN, q2\n"
     "GREATER_THAN, q0, [HEAD1] |7[HEAD2] |3 [OUTPUT]\nCMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] False, q1"),
    ("DIV, q1, [HEAD1]|3 [HEAD2]|7 [COUNT]|7 [OUTPUT]|0\nCMD [CALL] GREATER_THAN, q2\n"
     "GREATER_THAN, qH,  |7[HEAD1] |3[HEAD2] True\nNo command to execute. Halt state.\n",
     "DIV, qH, [HEAD1]|3 [HEAD2]|7 [COUNT]|7 |0\nNo command to execute. Halt state."),
]


def test_mul_and_div_literals():
    assert get("mul").transitions(7, 1) == MUL_7_1
    assert get("div").transitions(3, 7) == DIV_3_7
    mul = get("mul")
    # MUL 4513*3 from format.md: 3b - 1 = 8 composer transitions, the last one halts with 13539
    pairs = mul.transitions(4513, 3)
    assert len(pairs) == 8 == mul.num_calls(4513, 3)
    assert pairs[-1][1] == "MUL, qH, [HEAD1]|3|1|5|4 [HEAD2]|3 [COUNT]|3 |9|3|5|3|1\n" + HALT
    assert pairs[3][1].startswith("MUL, q1, [HEAD1]|3|1|5|4 [HEAD2]|3 [COUNT]|2 [OUTPUT]|6|2|0|9\n")
    div = get("div")
    pairs = div.transitions(45, 12)
    assert len(pairs) == 11 == div.num_calls(45, 12)
    assert pairs[-1][1] == "DIV, qH, [HEAD1]|5|4 [HEAD2]|2|1 [COUNT]|8|4 |3\n" + HALT


def test_mul_by_zero_is_fixed_and_reference_bug_reproducible():
    state, _ = get("mul").halt_lines(4513, 0)
    assert state == "MUL, qH, [HEAD1]|3|1|5|4 [HEAD2]|0 [COUNT]|1 |0"
    assert get("mul").result_from_halt(state) == "0"
    buggy = Mul(reference_b0_bug=True)
    state, _ = buggy.halt_lines(4513, 0)
    assert state == "MUL, qH, [HEAD1]|3|1|5|4 [HEAD2]|0 [COUNT]|1 |3|1|5|4"
    # only that line differs
    kit, ref = get("mul").transitions(4513, 0), buggy.transitions(4513, 0)
    assert kit[0] == ref[0] and kit[1][0] == ref[1][0] and kit[1][1] != ref[1][1]
    assert get("mul").num_calls(4513, 0) == 2 and get("mul").total_calls(4513, 0) == 5


def test_mul_reference_fabricated_less_than_halt():
    # count 12 written un-reversed in the reference's training inputs (format.md §3.6)
    pairs = get("mul").transitions(9, 12, callee_halts="reference")
    assert any("LESS_THAN, qH,  |1|2[HEAD1] |2|1[HEAD2] False\n" in i for i, _ in pairs)
    runtime = get("mul").transitions(9, 12)
    assert any("LESS_THAN, qH,  |2|1[HEAD1] |2|1[HEAD2] False\n" in i for i, _ in runtime)
    assert [o for _, o in pairs] == [o for _, o in runtime]


def test_invalid_operands_raise_value_error():
    with pytest.raises(ValueError, match="division by zero"):
        get("div").init(5, 0)
    with pytest.raises(ValueError, match="division by zero"):
        python_result("div", 5, 0)
    with pytest.raises(ValueError, match="a >= b"):
        get("sub").transitions(3, 5)
    with pytest.raises(ValueError, match="99..9"):
        get("reflection").trajectory(98, 1)
    with pytest.raises(ValueError, match="b <= a"):
        get("reflection").trajectory(9, 10)
    with pytest.raises(ValueError):
        get("add").step(-1, 2, 0)
    with pytest.raises(ValueError):
        get("add").step(1, 2, 99)
    with pytest.raises(ValueError):
        get("left_mask").step(10, 3, 0)
    with pytest.raises(ValueError):
        get("add").check(True, 1)
    with pytest.raises(ValueError, match="unknown operator"):
        get("pow")


def test_aligner_literals():
    assert input_to_tm("1000-999=") == "SUB, q0, [HEAD1]|0|0|0|1 [HEAD2]|9|9|9 \nCMD q1\n"
    assert input_to_tm("345 + 678 =") == text(ADD_345_678[0])
    assert input_to_tm("45//12=") == "DIV, q0, [HEAD1]|5|4 [HEAD2]|2|1 [COUNT] [OUTPUT]\nCMD [COUNT]|2|1, [OUTPUT] 0, q1\n"
    assert input_to_tm("12<21=").startswith("LESS_THAN, q0, [HEAD1] |2|1[HEAD2] |1|2 [OUTPUT]\n")
    assert tm_to_output("SUB, qH, [HEAD1]|0|0|0|1 [HEAD2]|9|9|9 |1\nNo command to execute. Halt state.") == "1000-999=1"
    assert tm_to_output(text(ADD_345_678[-1])) == "345+678=1023"
    assert tm_to_output(text(EQUAL_1235_1243[-1])) == "1235==1243=False"
    assert tm_to_output(text(GREATER_THAN_123_45[-1])) == "123>45=True"
    # the reference's MUL aligner-output shortcut for b = 0
    assert tm_to_output("MUL, qH, [HEAD1]|3|1|5|4 [HEAD2]|0 [COUNT] |0\n" + HALT) == "4513*0=0"
    expected_symbols = {"add": "+", "sub": "-", "mul": "*", "div": "//", "equal": "==",
                        "greater_than": ">", "less_than": "<"}
    assert {op: OP_SYMBOLS.get(op) for op in expected_symbols} == expected_symbols  # others may be registered too
    assert "reflection" not in OP_SYMBOLS and "left_mask" not in OP_SYMBOLS
    for bad in ["", "45+67", "45 plus 67=", "-4+5=", "4.5+1=", "5-7=", "1//0="]:
        with pytest.raises(MalformedText):
            input_to_tm(bad)
    for bad in ["", "ADD, qH,  |5[HEAD1] |5[HEAD2] [C]1 |0|1", "REFLECTION, qH,  |9[HEAD1] |0[HEAD2] |9\n" + HALT,
                "ADD, q1,  [HEAD1]|5 [HEAD2]|5 [C]0 [OUTPUT]\nCMD q1\n", "garbage\n" + HALT]:
        with pytest.raises(MalformedText):
            tm_to_output(bad)


def test_registry():
    assert set(BASIC + COMPOSERS) <= set(MACHINES)  # later machines (long arithmetic) register too
    for adapter in BASIC + COMPOSERS:
        m = MACHINES[adapter]
        assert m.adapter == adapter and m.name == adapter.upper()
        assert m.is_composer == (adapter in COMPOSERS)
    assert python_result("left_mask", 100042) == "42"
    assert python_result("less_than", 3, 3) == "False"
    assert python_result("div", 45, 12) == "3"


MALFORMED_PROMPTS = ["", "\n", "ADD", "garbage\nmore garbage\n", "a\nb\nc\n", "\n\n\n\n"]


@pytest.mark.parametrize("op", BASIC + COMPOSERS)
def test_transition_rejects_malformed(op):
    m = get(op)
    for prompt in MALFORMED_PROMPTS:
        with pytest.raises(MalformedText):
            m.transition(prompt)
    other = "sub" if op != "sub" else "add"
    a, b = (9, 3) if op != "left_mask" else (93, None)
    init = text(m.init(a, b))
    with pytest.raises(MalformedText):  # another machine's text
        m.transition(text(get(other).init(9, 3)))
    if not m.is_composer:
        halt = text(m.halt_lines(a, b))
        with pytest.raises(MalformedText, match="halted"):
            m.transition(halt)
        with pytest.raises(MalformedText):  # right shape, unreachable configuration
            m.transition(init.replace("|9", "|8", 1) if op == "reflection" else init.replace("CMD", "CMD  "))
    else:
        with pytest.raises(MalformedText):  # a 4-line prompt where the q0 step expects 2
            m.transition(init + init)
        first = m.transition(init).split("\n")
        with pytest.raises(MalformedText):  # CALL pending but no callee halt lines
            m.transition(f"{first[0]}\n{first[1]}\n")
        with pytest.raises(MalformedText):  # the wrong callee's halt
            m.transition(f"{first[0]}\n{first[1]}\nFOO, qH,  |1\n{HALT}\n")


def test_transition_accepts_missing_final_newline_and_rejects_noncanonical():
    add = get("add")
    assert add.transition(text(ADD_345_678[0])[:-1]) == text(ADD_345_678[1])
    with pytest.raises(MalformedText):  # leading zero: 0345 is not a configuration of the machine
        add.transition("ADD, q0, [HEAD1] |5|4|3|0[HEAD2] |8|7|6 [C] [OUTPUT]\n" + ADD_345_678[0][1] + "\n")
    with pytest.raises(MalformedText):  # wrong carry
        add.transition(text(ADD_345_678[2]).replace("[C]1", "[C]0"))


# --------------------------------------------------------------------------- golden traces
def _golden(op: str) -> list[dict]:
    path = GOLDEN / "traces" / f"{op}.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with path.open() as fh:
        return [json.loads(line) for line in fh]


def _ints(row):
    return int(row["a"]), (None if row["b"] is None else int(row["b"]))


@pytest.mark.parametrize("op", BASIC)
def test_golden_basic_traces(op):
    m = get(op)
    rows = _golden(op)
    assert len(rows) == 50
    for row in rows:
        a, b = _ints(row)
        steps = [(s["state"], s["command"]) for s in row["steps"]]
        traj = m.trajectory(a, b)
        assert traj == steps, (op, a, b)
        assert m.num_calls(a, b) == len(steps) - 1
        for j in range(len(steps) - 1):
            assert m.transition(text(steps[j])) == text(steps[j + 1])
        assert m.result_from_halt(steps[-1][0]) == row["expected"] == row["tm_result"] == python_result(op, a, b)
        if row["aligner_input"] is not None:
            assert input_to_tm(row["aligner_input"]["prompt"]) == row["aligner_input"]["response"]
            assert tm_to_output(row["aligner_output"]["prompt"]) == row["aligner_output"]["response"]
            assert row["aligner_output"]["prompt"] == text(steps[-1])


@pytest.mark.parametrize("op", COMPOSERS)
def test_golden_composer_traces(op):
    rows = _golden(op)
    assert len(rows) == 50
    for row in rows:
        a, b = _ints(row)
        bug = op == "mul" and b == 0 and a != 0  # the reference's a*0 = a (docs/caef-differences.md)
        m = Mul(reference_b0_bug=True) if bug else get(op)
        ref = [(t["input"], t["output"]) for t in row["transitions"]]
        assert m.transitions(a, b, callee_halts="reference") == ref, (op, a, b)
        runtime = m.transitions(a, b)
        assert [o for _, o in runtime] == [o for _, o in ref]
        for inp, out in ref:  # the oracle answers the reference's (fabricated) inputs too
            assert m.transition(inp) == out
        for inp, out in runtime:
            assert m.transition(inp) == out
        # element k of steps = answer of transition k-1
        for k, s in enumerate(row["steps"]):
            lines = [s["state"], s["command"]] + ([s["call_state"], s["call_command"]] if s["call_state"] else [])
            assert "\n".join(lines) == (m.init(a, b)[0] + "\n" + m.init(a, b)[1] if k == 0 else runtime[k - 1][1])
        assert len(ref) == get(op).num_calls(a, b)
        plan = list(get(op).callee_plan(a, b))
        assert len(plan) == len(row["calls"])
        total = len(ref) + sum(c["callee_transitions"] for c in row["calls"])
        assert get(op).total_calls(a, b) == total
        for (callee, ca, cb), call in zip(plan, row["calls"]):
            machine = get(callee)
            assert machine.name == call["callee"]
            assert machine.init(ca, cb) == (call["init_state"], call["init_command"])
            assert machine.parse_init(call["init_state"], call["init_command"]) == (ca, cb)
            assert machine.halt_lines(ca, cb) == (call["halt_state_runtime"], call["halt_command_runtime"])
            assert machine.num_calls(ca, cb) == call["callee_transitions"]
            fab = m.fabricated_halt(callee, ca, cb)
            assert fab == (call["halt_state_in_training_input"], call["halt_command_in_training_input"])
            assert (fab == machine.halt_lines(ca, cb)) == call["training_matches_runtime"]
        kit_final = get(op).transitions(a, b)[-1][1]
        halt_state = kit_final.split("\n")[0]
        if bug:
            assert row["tm_result"] == str(a) and not row["tm_result_matches_expected"]
            assert get(op).result_from_halt(halt_state) == row["expected"] == "0"
        else:
            assert get(op).result_from_halt(halt_state) == row["expected"] == row["tm_result"]
        assert input_to_tm(row["aligner_input"]["prompt"]) == row["aligner_input"]["response"]
        assert tm_to_output(row["aligner_output"]["prompt"]) == row["aligner_output"]["response"]
        if op == "mul" and b == 0:  # the reference's aligner(O) shortcut differs from every real halt
            assert row["aligner_output"]["prompt"] != kit_final
            assert tm_to_output(kit_final) == row["aligner_output"]["response"]
        else:
            assert row["aligner_output"]["prompt"] == kit_final


# --------------------------------------------------------------------------- properties
def _digits(max_len=120):
    return st.integers(1, max_len).flatmap(
        lambda n: st.integers(0 if n == 1 else 10 ** (n - 1), 10**n - 1)
    )


NUM = _digits()


def _expected_calls(op, a, b):
    """format.md §3.7, written independently of the machines."""
    sa, sb = str(a), None if b is None else str(b)
    if op == "add":
        return max(len(sa), len(sb)) + 2
    if op in ("greater_than", "less_than"):
        return min(len(sa), len(sb)) + 2
    if op == "equal":
        ra, rb = sa[::-1], sb[::-1]
        k = 0
        while k < min(len(ra), len(rb)) and ra[k] == rb[k]:
            k += 1
        return k + 2
    if op == "reflection":
        n = len(sa)
        comp = str(a - b).zfill(n)
        return n + 3 + (len(comp) - len(comp.lstrip("0")))
    if op == "left_mask":
        rest = sa[1:]
        return len(sa) + 3 + (len(rest) - len(rest.lstrip("0")))
    if op == "sub":
        return 5
    if op == "mul":
        return 3 * max(b, 1) - 1
    if op == "div":
        return 3 * (a // b) + 2
    raise AssertionError(op)


@st.composite
def basic_problem(draw):
    op = draw(st.sampled_from(BASIC))
    if op == "reflection":
        n = draw(st.integers(1, 120))
        a = 10**n - 1
        b = draw(st.one_of(st.integers(0, a), st.integers(0, n).map(lambda k: a - 10 ** (n - k) + 1 if k else a)))
        return op, a, b
    if op == "left_mask":
        n = draw(st.integers(1, 120))
        zeros = draw(st.integers(0, n - 1))
        head = draw(st.integers(1, 9))
        rest = draw(st.integers(0, 10 ** (n - 1 - zeros) - 1)) if n - 1 - zeros > 0 else 0
        x = int(str(head) + "0" * zeros + (str(rest).zfill(n - 1 - zeros) if n - 1 - zeros else ""))
        return op, x, None
    a = draw(NUM)
    b = draw(st.one_of(NUM, st.just(a), NUM.map(lambda d: int(str(a)[:-1] + str(d % 10)) if a >= 10 else d)))
    return op, a, b


@settings(max_examples=300, deadline=None)
@given(basic_problem(), st.data())
def test_basic_machines_properties(problem, data):
    op, a, b = problem
    m = get(op)
    traj = m.trajectory(a, b)
    assert len(traj) - 1 == m.num_calls(a, b) == _expected_calls(op, a, b)
    assert m.result_from_halt(traj[-1][0]) == python_result(op, a, b)
    assert traj[-1][1] == HALT and all(c != HALT for _, c in traj[:-1])
    j = data.draw(st.integers(0, len(traj) - 1))
    assert m.step(a, b, j) == traj[j]
    if j < len(traj) - 1:
        assert m.transition(text(traj[j])) == text(traj[j + 1])
    assert m.parse_init(*traj[0]) == (a, b)


@st.composite
def composer_problem(draw):
    op = draw(st.sampled_from(COMPOSERS))
    if op == "sub":
        a, b = sorted((draw(NUM), draw(NUM)), reverse=True)
        return op, a, b
    if op == "mul":
        return op, draw(NUM), draw(st.integers(0, 6))
    b = draw(NUM.filter(lambda x: x > 0))
    q = draw(st.integers(0, 6))
    return op, q * b + draw(st.integers(0, b - 1)), b


@settings(max_examples=150, deadline=None)
@given(composer_problem())
def test_composer_properties(problem):
    op, a, b = problem
    m = get(op)
    runtime = m.transitions(a, b)
    reference = m.transitions(a, b, callee_halts="reference")
    assert len(runtime) == len(reference) == m.num_calls(a, b) == _expected_calls(op, a, b)
    assert [o for _, o in runtime] == [o for _, o in reference]
    assert all(i.endswith("\n") and not o.endswith("\n") for i, o in runtime)
    last = runtime[-1][1].split("\n")
    assert last[1] == HALT
    assert m.result_from_halt(last[0]) == python_result(op, a, b)
    assert m.parse_init(*m.init(a, b)) == (a, b)
    plan = list(m.callee_plan(a, b))
    assert len(plan) == len(runtime) - 1
    assert m.total_calls(a, b) == m.num_calls(a, b) + sum(get(c).total_calls(x, y) for c, x, y in plan)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 400), st.integers(0, 10**6), st.one_of(st.none(), st.integers(0, 8)))
def test_sum_len_matches_brute_force(n, mult, cap):
    brute = sum(min(len(str(k * mult)), cap) if cap is not None else len(str(k * mult)) for k in range(1, n + 1))
    assert sum_len(n, mult, cap) == brute


@settings(max_examples=200, deadline=None)
@given(NUM)
def test_tape_round_trip(x):
    assert tape_to_int(tape(x)) == x
    assert tape(x) == "".join("|" + d for d in reversed(str(x)))
