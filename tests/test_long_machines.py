"""Long multiplication / long division (docs/long-arithmetic.md): MUL_DIGIT, SUB_BORROW, LONG_MUL,
LONG_DIV. Literal hand-checked traces, property tests against Python arithmetic and against the
documented call-count formulas, an independent interpreter of the basic machines' commands, and
the 100 x 100 / 200 / 100 targets run end to end through the engine."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from caef_lib.engine import Process, run_oracle
from caef_lib.machines import HALT, MalformedText, get, input_to_tm, parse_expression, tm_to_output
from caef_lib.machines.long_div import formula_total_calls as div_formula
from caef_lib.machines.long_div import trials, worst_case_bound
from caef_lib.machines.long_mul import formula_total_calls as mul_formula
from caef_lib.machines.tape import tape

MUL_DIGIT, SUB_BORROW, LONG_MUL, LONG_DIV = (get(x) for x in ("mul_digit", "sub_borrow", "long_mul", "long_div"))
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def number(max_digits: int, min_digits: int = 1):
    """Canonical non-negative ints with a uniformly drawn number of digits (0..9 for one digit)."""
    return st.integers(min_digits, max_digits).flatmap(
        lambda n: st.integers(0 if n == 1 else 10 ** (n - 1), 10**n - 1)
    )


def positive(max_digits: int):
    return number(max_digits).map(lambda x: x or 1)


# ---------------------------------------------------------------------------------- literal traces
MUL_DIGIT_75_8 = [
    ("MUL_DIGIT, q0, [HEAD1] |5|7[HEAD2] |8 [C] [OUTPUT]", "CMD [C] 0, [HEAD1] RIGHT, q1"),
    ("MUL_DIGIT, q1,  [HEAD1]|5|7 [HEAD2]|8 [C]0 [OUTPUT]", "CMD [C] 4, [OUTPUT] 0, [OUTPUT] RIGHT, [HEAD1] RIGHT, q1"),
    ("MUL_DIGIT, q1,  |5[HEAD1]|7 [HEAD2]|8 [C]4 |0[OUTPUT]", "CMD [C] 6, [OUTPUT] 0, [OUTPUT] RIGHT, [HEAD1] RIGHT, q1"),
    ("MUL_DIGIT, q1,  |5|7[HEAD1] [HEAD2]|8 [C]6 |0|0[OUTPUT]", "CMD [OUTPUT] 6, qH"),
    ("MUL_DIGIT, qH,  |5|7[HEAD1] [HEAD2]|8 [C]6 |0|0|6", HALT),
]
MUL_DIGIT_45_2 = [
    ("MUL_DIGIT, q0, [HEAD1] |5|4[HEAD2] |2 [C] [OUTPUT]", "CMD [C] 0, [HEAD1] RIGHT, q1"),
    ("MUL_DIGIT, q1,  [HEAD1]|5|4 [HEAD2]|2 [C]0 [OUTPUT]", "CMD [C] 1, [OUTPUT] 0, [OUTPUT] RIGHT, [HEAD1] RIGHT, q1"),
    ("MUL_DIGIT, q1,  |5[HEAD1]|4 [HEAD2]|2 [C]1 |0[OUTPUT]", "CMD [C] 0, [OUTPUT] 9, [OUTPUT] RIGHT, [HEAD1] RIGHT, q1"),
    ("MUL_DIGIT, q1,  |5|4[HEAD1] [HEAD2]|2 [C]0 |0|9[OUTPUT]", "CMD [OUTPUT], qH"),
    ("MUL_DIGIT, qH,  |5|4[HEAD1] [HEAD2]|2 [C]0 |0|9", HALT),
]
SUB_BORROW_1000_999 = [
    ("SUB_BORROW, q0, [HEAD1] |0|0|0|1[HEAD2] |9|9|9 [B] [OUTPUT]", "CMD [B] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("SUB_BORROW, q1,  [HEAD1]|0|0|0|1 [HEAD2]|9|9|9 [B]0 [OUTPUT]",
     "CMD [B] 1, [OUTPUT] 1, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("SUB_BORROW, q1,  |0[HEAD1]|0|0|1 |9[HEAD2]|9|9 [B]1 |1[OUTPUT]",
     "CMD [B] 1, [OUTPUT] 0, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("SUB_BORROW, q1,  |0|0[HEAD1]|0|1 |9|9[HEAD2]|9 [B]1 |1|0[OUTPUT]",
     "CMD [B] 1, [OUTPUT] 0, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("SUB_BORROW, q1,  |0|0|0[HEAD1]|1 |9|9|9[HEAD2] [B]1 |1|0|0[OUTPUT]",
     "CMD [B] 0, [OUTPUT] 0, [OUTPUT] RIGHT, [HEAD1] RIGHT, q1"),
    ("SUB_BORROW, q1,  |0|0|0|1[HEAD1] |9|9|9[HEAD2] [B]0 |1|0|0|0[OUTPUT]", "CMD [OUTPUT] LEFT, q2"),
    ("SUB_BORROW, q2,  |0|0|0|1[HEAD1] |9|9|9[HEAD2] [B]0 |1|0|0[OUTPUT]", "CMD [OUTPUT] LEFT, q2"),
    ("SUB_BORROW, q2,  |0|0|0|1[HEAD1] |9|9|9[HEAD2] [B]0 |1|0[OUTPUT]", "CMD [OUTPUT] LEFT, q2"),
    ("SUB_BORROW, q2,  |0|0|0|1[HEAD1] |9|9|9[HEAD2] [B]0 |1[OUTPUT]", "CMD [OUTPUT], qH"),
    ("SUB_BORROW, qH,  |0|0|0|1[HEAD1] |9|9|9[HEAD2] [B]0 |1", HALT),
]
SUB_BORROW_12_345 = [  # x has fewer digits: early stop after len x columns
    ("SUB_BORROW, q0, [HEAD1] |2|1[HEAD2] |5|4|3 [B] [OUTPUT]", "CMD [B] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("SUB_BORROW, q1,  [HEAD1]|2|1 [HEAD2]|5|4|3 [B]0 [OUTPUT]",
     "CMD [B] 1, [OUTPUT] 7, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("SUB_BORROW, q1,  |2[HEAD1]|1 |5[HEAD2]|4|3 [B]1 |7[OUTPUT]",
     "CMD [B] 1, [OUTPUT] 6, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("SUB_BORROW, q1,  |2|1[HEAD1] |5|4[HEAD2]|3 [B]1 |7|6[OUTPUT]", "CMD [B] 1, [OUTPUT] NEG, qH"),
    ("SUB_BORROW, qH,  |2|1[HEAD1] |5|4[HEAD2]|3 [B]1 NEG", HALT),
]
SUB_BORROW_5_7 = [  # same length, borrow out of the top column
    ("SUB_BORROW, q0, [HEAD1] |5[HEAD2] |7 [B] [OUTPUT]", "CMD [B] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("SUB_BORROW, q1,  [HEAD1]|5 [HEAD2]|7 [B]0 [OUTPUT]",
     "CMD [B] 1, [OUTPUT] 8, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("SUB_BORROW, q1,  |5[HEAD1] |7[HEAD2] [B]1 |8[OUTPUT]", "CMD [OUTPUT] NEG, qH"),
    ("SUB_BORROW, qH,  |5[HEAD1] |7[HEAD2] [B]1 NEG", HALT),
]
SUB_BORROW_45_45 = [  # x = y: the two zeros are stripped down to |0
    ("SUB_BORROW, q0, [HEAD1] |5|4[HEAD2] |5|4 [B] [OUTPUT]", "CMD [B] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("SUB_BORROW, q1,  [HEAD1]|5|4 [HEAD2]|5|4 [B]0 [OUTPUT]",
     "CMD [B] 0, [OUTPUT] 0, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("SUB_BORROW, q1,  |5[HEAD1]|4 |5[HEAD2]|4 [B]0 |0[OUTPUT]",
     "CMD [B] 0, [OUTPUT] 0, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("SUB_BORROW, q1,  |5|4[HEAD1] |5|4[HEAD2] [B]0 |0|0[OUTPUT]", "CMD [OUTPUT] LEFT, q2"),
    ("SUB_BORROW, q2,  |5|4[HEAD1] |5|4[HEAD2] [B]0 |0[OUTPUT]", "CMD [OUTPUT], qH"),
    ("SUB_BORROW, qH,  |5|4[HEAD1] |5|4[HEAD2] [B]0 |0", HALT),
]


@pytest.mark.parametrize(
    "machine, a, b, expected",
    [
        (MUL_DIGIT, 75, 8, MUL_DIGIT_75_8),
        (MUL_DIGIT, 45, 2, MUL_DIGIT_45_2),
        (SUB_BORROW, 1000, 999, SUB_BORROW_1000_999),
        (SUB_BORROW, 12, 345, SUB_BORROW_12_345),
        (SUB_BORROW, 5, 7, SUB_BORROW_5_7),
        (SUB_BORROW, 45, 45, SUB_BORROW_45_45),
    ],
)
def test_basic_literal_traces(machine, a, b, expected):
    assert machine.trajectory(a, b) == expected
    assert machine.num_calls(a, b) == len(expected) - 1
    for (s, c), (s2, c2) in zip(expected, expected[1:]):
        assert machine.transition(f"{s}\n{c}\n") == f"{s2}\n{c2}\n"
    assert machine.init(a, b) == expected[0]
    assert machine.parse_init(*expected[0]) == (a, b)


# LONG_MUL 45 x 102 = 4590: composer transitions (input => output), callee halts as the engine sends them.
LONG_MUL_45_102 = [
    ("LONG_MUL, q0, [HEAD1]|5|4 [HEAD2]|2|0|1 [ACC] [OUTPUT]\nCMD [ACC]|0, q1\n",
     "LONG_MUL, q1, [HEAD1]|5|4 [HEAD2]|2|0|1 [ACC]|0 [OUTPUT]\nCMD [CALL] MUL_DIGIT, q2\n"
     "MUL_DIGIT, q0, [HEAD1] |5|4[HEAD2] |2 [C] [OUTPUT]\nCMD [C] 0, [HEAD1] RIGHT, q1"),
    ("LONG_MUL, q1, [HEAD1]|5|4 [HEAD2]|2|0|1 [ACC]|0 [OUTPUT]\nCMD [CALL] MUL_DIGIT, q2\n"
     "MUL_DIGIT, qH,  |5|4[HEAD1] [HEAD2]|2 [C]0 |0|9\nNo command to execute. Halt state.\n",
     "LONG_MUL, q2, [HEAD1]|5|4 [HEAD2]|2|0|1 [ACC]|0 [OUTPUT]\nCMD [CALL] ADD, q1\n"
     "ADD, q0, [HEAD1] |0[HEAD2] |0|9 [C] [OUTPUT]\nCMD: [C] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("LONG_MUL, q2, [HEAD1]|5|4 [HEAD2]|2|0|1 [ACC]|0 [OUTPUT]\nCMD [CALL] ADD, q1\n"
     "ADD, qH,  |0[HEAD1] |0|9[HEAD2] [C]0 |0|9\nNo command to execute. Halt state.\n",
     "LONG_MUL, q1, [HEAD1]|5|4 |2[HEAD2]|0|1 [ACC]|9 [OUTPUT]|0\n"
     "CMD [HEAD2] RIGHT, [OUTPUT] 9, [OUTPUT] RIGHT, [ACC] SHIFT, q1"),
    ("LONG_MUL, q1, [HEAD1]|5|4 |2[HEAD2]|0|1 [ACC]|9 [OUTPUT]|0\n"
     "CMD [HEAD2] RIGHT, [OUTPUT] 9, [OUTPUT] RIGHT, [ACC] SHIFT, q1\n",
     "LONG_MUL, q1, [HEAD1]|5|4 |2|0[HEAD2]|1 [ACC]|0 [OUTPUT]|0|9\nCMD [CALL] MUL_DIGIT, q2\n"
     "MUL_DIGIT, q0, [HEAD1] |5|4[HEAD2] |1 [C] [OUTPUT]\nCMD [C] 0, [HEAD1] RIGHT, q1"),
    ("LONG_MUL, q1, [HEAD1]|5|4 |2|0[HEAD2]|1 [ACC]|0 [OUTPUT]|0|9\nCMD [CALL] MUL_DIGIT, q2\n"
     "MUL_DIGIT, qH,  |5|4[HEAD1] [HEAD2]|1 [C]0 |5|4\nNo command to execute. Halt state.\n",
     "LONG_MUL, q2, [HEAD1]|5|4 |2|0[HEAD2]|1 [ACC]|0 [OUTPUT]|0|9\nCMD [CALL] ADD, q1\n"
     "ADD, q0, [HEAD1] |0[HEAD2] |5|4 [C] [OUTPUT]\nCMD: [C] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"),
    ("LONG_MUL, q2, [HEAD1]|5|4 |2|0[HEAD2]|1 [ACC]|0 [OUTPUT]|0|9\nCMD [CALL] ADD, q1\n"
     "ADD, qH,  |0[HEAD1] |5|4[HEAD2] [C]0 |5|4\nNo command to execute. Halt state.\n",
     "LONG_MUL, q1, [HEAD1]|5|4 |2|0|1[HEAD2] [ACC]|4 [OUTPUT]|0|9|5\nCMD [OUTPUT]|4, qH"),
    ("LONG_MUL, q1, [HEAD1]|5|4 |2|0|1[HEAD2] [ACC]|4 [OUTPUT]|0|9|5\nCMD [OUTPUT]|4, qH\n",
     "LONG_MUL, qH, [HEAD1]|5|4 |2|0|1[HEAD2] [ACC]|4 |0|9|5|4\nNo command to execute. Halt state."),
]

# LONG_DIV 157 // 12 = 13 (remainder 1).
_SB0 = "\nCMD [B] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"
_H = "\nNo command to execute. Halt state.\n"
LONG_DIV_157_12 = [
    ("LONG_DIV, q0, [HEAD1]|7|5|1 [HEAD2]|2|1 [REM] [DIGIT] [OUTPUT]\nCMD [HEAD1] END, [REM]|0, [OUTPUT]|0, q1\n",
     "LONG_DIV, q1, |7|5|1[HEAD1] [HEAD2]|2|1 [REM]|0 [DIGIT] [OUTPUT]|0\nCMD [HEAD1] LEFT, [REM] PUSH 1, [DIGIT] 0, q2"),
    ("LONG_DIV, q1, |7|5|1[HEAD1] [HEAD2]|2|1 [REM]|0 [DIGIT] [OUTPUT]|0\nCMD [HEAD1] LEFT, [REM] PUSH 1, [DIGIT] 0, q2\n",
     "LONG_DIV, q2, |7|5[HEAD1]|1 [HEAD2]|2|1 [REM]|1 [DIGIT]0 [OUTPUT]|0\nCMD [CALL] SUB_BORROW, q2\n"
     "SUB_BORROW, q0, [HEAD1] |1[HEAD2] |2|1 [B] [OUTPUT]" + _SB0),
    ("LONG_DIV, q2, |7|5[HEAD1]|1 [HEAD2]|2|1 [REM]|1 [DIGIT]0 [OUTPUT]|0\nCMD [CALL] SUB_BORROW, q2\n"
     "SUB_BORROW, qH,  |1[HEAD1] |2[HEAD2]|1 [B]1 NEG" + _H,
     "LONG_DIV, q3, |7|5[HEAD1]|1 [HEAD2]|2|1 [REM]|1 [DIGIT]0 [OUTPUT]|0\nCMD [OUTPUT] PUSH 0, [DIGIT], q1"),
    ("LONG_DIV, q3, |7|5[HEAD1]|1 [HEAD2]|2|1 [REM]|1 [DIGIT]0 [OUTPUT]|0\nCMD [OUTPUT] PUSH 0, [DIGIT], q1\n",
     "LONG_DIV, q1, |7|5[HEAD1]|1 [HEAD2]|2|1 [REM]|1 [DIGIT] [OUTPUT]|0\nCMD [HEAD1] LEFT, [REM] PUSH 5, [DIGIT] 0, q2"),
    ("LONG_DIV, q1, |7|5[HEAD1]|1 [HEAD2]|2|1 [REM]|1 [DIGIT] [OUTPUT]|0\nCMD [HEAD1] LEFT, [REM] PUSH 5, [DIGIT] 0, q2\n",
     "LONG_DIV, q2, |7[HEAD1]|5|1 [HEAD2]|2|1 [REM]|5|1 [DIGIT]0 [OUTPUT]|0\nCMD [CALL] SUB_BORROW, q2\n"
     "SUB_BORROW, q0, [HEAD1] |5|1[HEAD2] |2|1 [B] [OUTPUT]" + _SB0),
    ("LONG_DIV, q2, |7[HEAD1]|5|1 [HEAD2]|2|1 [REM]|5|1 [DIGIT]0 [OUTPUT]|0\nCMD [CALL] SUB_BORROW, q2\n"
     "SUB_BORROW, qH,  |5|1[HEAD1] |2|1[HEAD2] [B]0 |3" + _H,
     "LONG_DIV, q2, |7[HEAD1]|5|1 [HEAD2]|2|1 [REM]|3 [DIGIT]1 [OUTPUT]|0\nCMD [CALL] SUB_BORROW, q2\n"
     "SUB_BORROW, q0, [HEAD1] |3[HEAD2] |2|1 [B] [OUTPUT]" + _SB0),
    ("LONG_DIV, q2, |7[HEAD1]|5|1 [HEAD2]|2|1 [REM]|3 [DIGIT]1 [OUTPUT]|0\nCMD [CALL] SUB_BORROW, q2\n"
     "SUB_BORROW, qH,  |3[HEAD1] |2[HEAD2]|1 [B]1 NEG" + _H,
     "LONG_DIV, q3, |7[HEAD1]|5|1 [HEAD2]|2|1 [REM]|3 [DIGIT]1 [OUTPUT]|0\nCMD [OUTPUT] PUSH 1, [DIGIT], q1"),
    ("LONG_DIV, q3, |7[HEAD1]|5|1 [HEAD2]|2|1 [REM]|3 [DIGIT]1 [OUTPUT]|0\nCMD [OUTPUT] PUSH 1, [DIGIT], q1\n",
     "LONG_DIV, q1, |7[HEAD1]|5|1 [HEAD2]|2|1 [REM]|3 [DIGIT] [OUTPUT]|1\nCMD [HEAD1] LEFT, [REM] PUSH 7, [DIGIT] 0, q2"),
    ("LONG_DIV, q1, |7[HEAD1]|5|1 [HEAD2]|2|1 [REM]|3 [DIGIT] [OUTPUT]|1\nCMD [HEAD1] LEFT, [REM] PUSH 7, [DIGIT] 0, q2\n",
     "LONG_DIV, q2, [HEAD1]|7|5|1 [HEAD2]|2|1 [REM]|7|3 [DIGIT]0 [OUTPUT]|1\nCMD [CALL] SUB_BORROW, q2\n"
     "SUB_BORROW, q0, [HEAD1] |7|3[HEAD2] |2|1 [B] [OUTPUT]" + _SB0),
    ("LONG_DIV, q2, [HEAD1]|7|5|1 [HEAD2]|2|1 [REM]|7|3 [DIGIT]0 [OUTPUT]|1\nCMD [CALL] SUB_BORROW, q2\n"
     "SUB_BORROW, qH,  |7|3[HEAD1] |2|1[HEAD2] [B]0 |5|2" + _H,
     "LONG_DIV, q2, [HEAD1]|7|5|1 [HEAD2]|2|1 [REM]|5|2 [DIGIT]1 [OUTPUT]|1\nCMD [CALL] SUB_BORROW, q2\n"
     "SUB_BORROW, q0, [HEAD1] |5|2[HEAD2] |2|1 [B] [OUTPUT]" + _SB0),
    ("LONG_DIV, q2, [HEAD1]|7|5|1 [HEAD2]|2|1 [REM]|5|2 [DIGIT]1 [OUTPUT]|1\nCMD [CALL] SUB_BORROW, q2\n"
     "SUB_BORROW, qH,  |5|2[HEAD1] |2|1[HEAD2] [B]0 |3|1" + _H,
     "LONG_DIV, q2, [HEAD1]|7|5|1 [HEAD2]|2|1 [REM]|3|1 [DIGIT]2 [OUTPUT]|1\nCMD [CALL] SUB_BORROW, q2\n"
     "SUB_BORROW, q0, [HEAD1] |3|1[HEAD2] |2|1 [B] [OUTPUT]" + _SB0),
    ("LONG_DIV, q2, [HEAD1]|7|5|1 [HEAD2]|2|1 [REM]|3|1 [DIGIT]2 [OUTPUT]|1\nCMD [CALL] SUB_BORROW, q2\n"
     "SUB_BORROW, qH,  |3|1[HEAD1] |2|1[HEAD2] [B]0 |1" + _H,
     "LONG_DIV, q2, [HEAD1]|7|5|1 [HEAD2]|2|1 [REM]|1 [DIGIT]3 [OUTPUT]|1\nCMD [CALL] SUB_BORROW, q2\n"
     "SUB_BORROW, q0, [HEAD1] |1[HEAD2] |2|1 [B] [OUTPUT]" + _SB0),
    ("LONG_DIV, q2, [HEAD1]|7|5|1 [HEAD2]|2|1 [REM]|1 [DIGIT]3 [OUTPUT]|1\nCMD [CALL] SUB_BORROW, q2\n"
     "SUB_BORROW, qH,  |1[HEAD1] |2[HEAD2]|1 [B]1 NEG" + _H,
     "LONG_DIV, q3, [HEAD1]|7|5|1 [HEAD2]|2|1 [REM]|1 [DIGIT]3 [OUTPUT]|1\nCMD [OUTPUT] PUSH 3, [DIGIT], qH"),
    ("LONG_DIV, q3, [HEAD1]|7|5|1 [HEAD2]|2|1 [REM]|1 [DIGIT]3 [OUTPUT]|1\nCMD [OUTPUT] PUSH 3, [DIGIT], qH\n",
     "LONG_DIV, qH, [HEAD1]|7|5|1 [HEAD2]|2|1 [REM]|1 |3|1\nNo command to execute. Halt state."),
]


def test_long_mul_literal_trace():
    assert LONG_MUL.transitions(45, 102) == LONG_MUL_45_102
    assert LONG_MUL.transitions(45, 102, callee_halts="reference") == LONG_MUL_45_102  # nothing fabricated
    assert LONG_MUL.halt_lines(45, 102) == tuple(LONG_MUL_45_102[-1][1].split("\n"))
    for prompt, answer in LONG_MUL_45_102:
        assert LONG_MUL.transition(prompt) == answer
    # composer 2 + m + (nonzero digits) = 7; MUL_DIGIT(45, 2) = MUL_DIGIT(45, 1) = 4; ADD(0, 90) = ADD(0, 45) = 4
    assert LONG_MUL.num_calls(45, 102) == 7
    assert LONG_MUL.total_calls(45, 102) == mul_formula(45, 102) == 7 + 4 + 4 + 4 + 4


def test_long_div_literal_trace():
    assert LONG_DIV.transitions(157, 12) == LONG_DIV_157_12
    assert LONG_DIV.transitions(157, 12, callee_halts="reference") == LONG_DIV_157_12
    assert LONG_DIV.parse_init(*LONG_DIV_157_12[0][0].rstrip("\n").split("\n")) == (157, 12)
    for prompt, answer in LONG_DIV_157_12:
        assert LONG_DIV.transition(prompt) == answer
    # composer 1 + 2 * 3 + 7 trials = 14; trials (1,12) 3, (15,12) 5, (3,12) 3, (37,12) 4, (25,12) 4,
    # (13,12) 5, (1,12) 3 = 27
    assert list(trials(157, 12)) == [(1, 12), (15, 12), (3, 12), (37, 12), (25, 12), (13, 12), (1, 12)]
    assert LONG_DIV.num_calls(157, 12) == 14
    assert LONG_DIV.total_calls(157, 12) == div_formula(157, 12) == 41


def test_zero_operands_and_quotient_digit_nine():
    assert LONG_MUL.transitions(0, 987) == [
        ("LONG_MUL, q0, [HEAD1]|0 [HEAD2]|7|8|9 [ACC] [OUTPUT]\nCMD [OUTPUT]|0, qH\n",
         "LONG_MUL, qH, [HEAD1]|0 [HEAD2]|7|8|9 [ACC] |0\nNo command to execute. Halt state.")
    ]
    assert LONG_MUL.total_calls(123, 0) == LONG_MUL.num_calls(123, 0) == 1
    # 9 // 1: nine successful trials and no tenth (the digit cannot exceed 9), then the digit is final
    pairs = LONG_DIV.transitions(9, 1)
    assert [p[1].split("\n")[0] for p in pairs][-3:] == [
        "LONG_DIV, q2, [HEAD1]|9 [HEAD2]|1 [REM]|1 [DIGIT]8 [OUTPUT]|0",
        "LONG_DIV, q3, [HEAD1]|9 [HEAD2]|1 [REM]|0 [DIGIT]9 [OUTPUT]|0",
        "LONG_DIV, qH, [HEAD1]|9 [HEAD2]|1 [REM]|0 |9",
    ]
    assert LONG_DIV.num_calls(9, 1) == 1 + 2 + 9


def test_division_by_zero_and_bad_digits():
    with pytest.raises(ValueError, match="division by zero"):
        LONG_DIV.init(5, 0)
    with pytest.raises(ValueError, match="division by zero"):
        run_oracle("long_div", 5, 0)
    with pytest.raises(ValueError, match="division by zero"):
        LONG_DIV.total_calls(5, 0)
    for d in (0, 10, -1):
        with pytest.raises(ValueError):
            MUL_DIGIT.init(5, d)
    with pytest.raises(ValueError):
        LONG_MUL.init(-1, 3)


def test_aligner_mapping():
    # the raw symbols still mean MUL / DIV; the long_* aligners pick the long machines
    assert parse_expression("45*12=") == ("mul", 45, 12)
    assert parse_expression("45//12=") == ("div", 45, 12)
    assert input_to_tm("45*12=", "long_mul") == "LONG_MUL, q0, [HEAD1]|5|4 [HEAD2]|2|1 [ACC] [OUTPUT]\nCMD [ACC]|0, q1\n"
    assert input_to_tm("157//12=", "long_div") == LONG_DIV_157_12[0][0]
    assert tm_to_output(LONG_MUL_45_102[-1][1]) == "45*102=4590"
    assert tm_to_output(LONG_DIV_157_12[-1][1]) == "157//12=13"
    assert tm_to_output(LONG_MUL.transitions(0, 7)[-1][1]) == "0*7=0"
    run = run_oracle("long_div", 157, 12)
    assert run["result"] == "13" and "error" not in run
    assert run["calls"][0] == {"executor": "long_div_aligner", "prompt": "157//12=", "answer": LONG_DIV_157_12[0][0]}
    assert run["calls"][-1]["executor"] == "long_div_aligner" and run["calls"][-1]["answer"] == "157//12=13"
    assert len(run["calls"]) == 41 + 2


def test_composer_copies_callee_results_from_the_prompt():
    """No hidden state: the answer depends only on the prompt text, so a (wrong) callee result in
    line 3 is what the composer copies."""
    prompt = LONG_MUL_45_102[1][0].replace("[C]0 |0|9", "[C]0 |7|7")  # MUL_DIGIT "returns" 77
    assert "ADD, q0, [HEAD1] |0[HEAD2] |7|7 [C] [OUTPUT]" in LONG_MUL.transition(prompt)
    prompt = LONG_DIV_157_12[5][0].replace("[B]0 |3", "[B]0 |4")  # SUB_BORROW "returns" 4
    assert LONG_DIV.transition(prompt).startswith(
        "LONG_DIV, q2, |7[HEAD1]|5|1 [HEAD2]|2|1 [REM]|4 [DIGIT]1 [OUTPUT]|0"
    )


@pytest.mark.parametrize(
    "machine, prompt",
    [
        (LONG_MUL, "LONG_MUL, q0, [HEAD1]|5|4 [HEAD2]|2|1 [ACC] [OUTPUT]\nCMD [OUTPUT]|0, qH\n"),  # wrong q0 command
        (LONG_MUL, LONG_MUL_45_102[-1][1] + "\n"),  # halted
        (LONG_MUL, LONG_MUL_45_102[1][0].split("MUL_DIGIT, qH")[0]),  # call result missing
        (LONG_MUL, LONG_MUL_45_102[0][0].replace("|5|4", "|5|4|0", 1)),  # leading zero
        (LONG_DIV, "LONG_DIV, q2, [HEAD1]|9 [HEAD2]|1 [REM]|0 [DIGIT]9 [OUTPUT]|0\nCMD [CALL] SUB_BORROW, q2\n"
                   "SUB_BORROW, qH,  |0[HEAD1] |1[HEAD2] [B]1 NEG\nNo command to execute. Halt state.\n"),  # digit 9 in q2
        (LONG_DIV, LONG_DIV_157_12[1][0].replace("PUSH 1", "PUSH 7")),  # wrong digit brought down
        (LONG_DIV, LONG_DIV_157_12[0][0].replace("|2|1", "|0")),  # divisor 0
        (MUL_DIGIT, "MUL_DIGIT, q1,  [HEAD1]|5|4 [HEAD2]|2 [C]3 [OUTPUT]\nCMD [C] 1, [OUTPUT] 0, [OUTPUT] RIGHT, [HEAD1] RIGHT, q1\n"),
        (SUB_BORROW, "SUB_BORROW, qH,  |5[HEAD1] |7[HEAD2] [B]1 NEG\nNo command to execute. Halt state.\n"),
    ],
)
def test_malformed_prompts_are_rejected(machine, prompt):
    with pytest.raises(MalformedText):
        machine.transition(prompt)


# ---------------------------------------------------------------------------------- properties
def _interpret(machine_name: str, A: str, B: str, trajectory):
    """An independent executor of the basic machines' command language: apply each command to a
    configuration (heads, carry/borrow, output) and re-render the state line; the rendering must
    equal the next state of the trajectory and the final output must be the arithmetic result."""
    i = i2 = -1  # in q0 the heads stand before the tapes; q0's "[HEAD1] RIGHT" puts them on digit 0
    reg, out, neg = 0, [], False
    reg_name = "[C]" if machine_name == "MUL_DIGIT" else "[B]"
    for (state, command), (next_state, next_command) in zip(trajectory, trajectory[1:]):
        assert command.startswith("CMD ")
        *actions, nxt = command[4:].split(", ")
        for act in actions:
            if act in ("[OUTPUT] RIGHT", "[OUTPUT]"):
                continue
            if act == "[HEAD1] RIGHT":
                i += 1
            elif act == "[HEAD2] RIGHT":
                i2 += 1
            elif act == "[OUTPUT] LEFT":
                out.pop()
            elif act == "[OUTPUT] NEG":
                neg = True
            elif act.startswith(reg_name + " "):
                reg = int(act.split(" ")[1])
            elif act.startswith("[OUTPUT] "):
                out.append(act.split(" ")[1])
            else:  # pragma: no cover - would be a machine bug
                raise AssertionError(f"unknown action {act!r}")
        O = "".join(f"|{d}" for d in out)
        k1, k2 = 2 * i, 2 * i2
        if machine_name == "MUL_DIGIT":
            heads = f"{A[:k1]}[HEAD1]{A[k1:]} [HEAD2]{B}"
        else:
            heads = f"{A[:k1]}[HEAD1]{A[k1:]} {B[:k2]}[HEAD2]{B[k2:]}"
        tail = (NEG_TOKEN if neg else O) if nxt == "qH" else f"{O}[OUTPUT]"
        assert next_state == f"{machine_name}, {nxt},  {heads} {reg_name}{reg} {tail}"
    assert trajectory[-1][1] == HALT
    return "NEG" if neg else "".join(reversed(out))


NEG_TOKEN = "NEG"


@SETTINGS
@given(a=number(120), d=st.integers(1, 9))
@example(a=0, d=7)
@example(a=10**119 - 1, d=9)
def test_mul_digit_properties(a, d):
    traj = MUL_DIGIT.trajectory(a, d)
    n = len(str(a))
    assert MUL_DIGIT.num_calls(a, d) == n + 2 == len(traj) - 1
    for j in (0, 1, len(traj) // 2, len(traj) - 1):
        assert MUL_DIGIT.step(a, d, j) == traj[j]
    for j in range(len(traj) - 1):
        assert MUL_DIGIT.transition(f"{traj[j][0]}\n{traj[j][1]}\n") == f"{traj[j + 1][0]}\n{traj[j + 1][1]}\n"
    assert MUL_DIGIT.result_from_halt(traj[-1][0]) == str(a * d)
    assert _interpret("MUL_DIGIT", tape(a), f"|{d}", traj) == str(a * d)


def _sub_pairs():
    random_pair = st.tuples(number(120), number(120))
    near = st.tuples(number(120), st.integers(-30, 30)).map(lambda t: (t[0], max(0, t[0] + t[1])))
    shared = st.tuples(number(60, 2), number(60), number(3)).map(  # long common prefix -> many stripped zeros
        lambda t: (int(f"{t[0]}{t[1]:0>60}"), int(f"{t[0]}{t[2]:0>60}"))
    )
    return st.one_of(random_pair, near, shared)


@SETTINGS
@given(pair=_sub_pairs())
@example(pair=(10**80, 10**80 - 1))
@example(pair=(0, 0))
@example(pair=(7, 12345))
def test_sub_borrow_properties(pair):
    x, y = pair
    traj = SUB_BORROW.trajectory(x, y)
    lx = len(str(x))
    expected_calls = lx + 2 + (lx - len(str(x - y)) if x >= y else 0)
    assert SUB_BORROW.num_calls(x, y) == expected_calls == len(traj) - 1
    for j in range(len(traj)):
        assert SUB_BORROW.step(x, y, j) == traj[j]
    for j in range(len(traj) - 1):
        assert SUB_BORROW.transition(f"{traj[j][0]}\n{traj[j][1]}\n") == f"{traj[j + 1][0]}\n{traj[j + 1][1]}\n"
    want = str(x - y) if x >= y else "NEG"
    assert SUB_BORROW.result_from_halt(traj[-1][0]) == want
    assert _interpret("SUB_BORROW", tape(x), tape(y), traj) == want


def _check_composer(machine, a, b, want, formula):
    pairs = machine.transitions(a, b)
    assert len(pairs) == machine.num_calls(a, b)
    final_state, final_command = pairs[-1][1].split("\n")
    assert final_command == HALT
    assert machine.result_from_halt(final_state) == want
    # the calls the composer makes are exactly callee_plan (which total_calls sums)
    made = []
    for _, answer in pairs:
        lines = answer.split("\n")
        if len(lines) == 4:
            callee = get(lines[1].split("] ", 1)[1].split(",")[0].lower())
            made.append((callee.adapter, *callee.parse_init(lines[2], lines[3])))
    assert made == list(machine.callee_plan(a, b))
    assert machine.total_calls(a, b) == formula(a, b)


@SETTINGS
@given(a=number(120), b=number(120))
@example(a=10**119, b=10**119)
@example(a=9, b=0)
def test_long_mul_properties(a, b):
    _check_composer(LONG_MUL, a, b, str(a * b), mul_formula)


def _div_pairs():
    independent = st.tuples(number(120), positive(120))
    by_quotient = st.tuples(positive(60), number(60), st.integers(0, 10**6)).map(
        lambda t: (t[0] * t[1] + t[2] % t[0], t[0])  # a = q b + r with a quotient of up to 60 digits
    )
    return st.one_of(independent, by_quotient)


@SETTINGS
@given(pair=_div_pairs())
@example(pair=(10**120 - 1, 1))
@example(pair=(0, 5))
@example(pair=(10**119, 10**119 - 1))
def test_long_div_properties(pair):
    a, b = pair
    _check_composer(LONG_DIV, a, b, str(a // b), div_formula)


@settings(max_examples=40, deadline=None)
@given(a=number(35), b=number(35), bd=positive(35))
def test_engine_runs_match_the_formulas(a, b, bd):
    """Full processes (aligners + composer + every callee step) with the perfect model."""
    for op, x, y, want, formula in (("long_mul", a, b, a * b, mul_formula), ("long_div", a, bd, a // bd, div_formula)):
        run = run_oracle(op, x, y)
        assert "error" not in run, run.get("error")
        assert run["result"] == str(want)
        assert len(run["calls"]) == formula(x, y) + 2


# ---------------------------------------------------------------------------------- the targets
def test_targets_100x100_and_200_by_100_end_to_end():
    """100-digit x 100-digit and 200-digit // 100-digit problems, every model call executed by the
    engine with the perfect model: far below 10^6 calls (about 2 s in all)."""
    import random

    rng = random.Random(20241010)
    a, b = rng.randint(10**99, 10**100 - 1), rng.randint(10**99, 10**100 - 1)
    t0 = time.perf_counter()
    p = Process("long_mul", a, b)
    run = run_oracle("long_mul", a, b)
    assert run["result"] == str(a * b)
    assert len(run["calls"]) == mul_formula(a, b) + 2 < 25_000
    assert p.max_steps > len(run["calls"])  # the engine's default step limit leaves room

    a, b = rng.randint(10**199, 10**200 - 1), rng.randint(10**99, 10**100 - 1)
    run = run_oracle("long_div", a, b)
    assert run["result"] == str(a // b)
    assert len(run["calls"]) == div_formula(a, b) + 2 < 100_000
    assert time.perf_counter() - t0 < 20

    # the largest possible costs at these sizes
    assert mul_formula(10**100 - 1, 10**100 - 1) + 2 == 2 + 2 * 100 + 100 * (2 * 100 + 5) + 2 == 20_704
    assert worst_case_bound(200, 100) + 2 < 400_000
    assert div_formula(10**200 - 1, 10**99 + 1) <= worst_case_bound(200, 100)
