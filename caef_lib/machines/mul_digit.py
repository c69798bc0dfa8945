"""MUL_DIGIT: a * d for a one-digit multiplier d in 1..9, one column of a per step (a helper of
LONG_MUL, docs/long-arithmetic.md). Written in the style of ADD (format.md §2.1): the multiplier
digit stays under [HEAD2], the carry c_i (0..8) is written after ``[C]``.

Trajectory (n = len a, P = tape(a * d), c_i = carry into column i, t_i = a_i * d + c_i,
c_{i+1} = t_i div 10)::

    q0  MUL_DIGIT, q0, [HEAD1] {A}[HEAD2] |d [C] [OUTPUT]
        CMD [C] 0, [HEAD1] RIGHT, q1
    q1  MUL_DIGIT, q1,  {A[:i]}[HEAD1]{A[i:]} [HEAD2]|d [C]{c_i} {P[:i]}[OUTPUT]        i = 0 .. n
        CMD [C] {t_i div 10}, [OUTPUT] {t_i mod 10}, [OUTPUT] RIGHT, [HEAD1] RIGHT, q1   i < n
        CMD [OUTPUT] {c_n}, qH                                                         i = n, c_n > 0
        CMD [OUTPUT], qH                                                               i = n, c_n = 0
    qH  MUL_DIGIT, qH,  {A}[HEAD1] [HEAD2]|d [C]{c_n} {P}
        No command to execute. Halt state.

``[C]{c_n}`` in the halt line is the final carry, i.e. non-zero exactly when the product has one
digit more than a (like ADD's ``[C]1``). As a and d have no leading zeros and d >= 1, P has none.

d must be a single non-zero digit (1..9): d = 0 would write n zeros (a non-canonical 0); LONG_MUL
skips zero digits of its multiplier and never calls MUL_DIGIT with d = 0. Any other d raises
ValueError.

Model calls: ``num_calls(a, d) = len a + 2``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .base import BasicMachine
from .tape import HALT, TAPE_RE, MalformedText, check_operand, tape, tape_to_int

_T = TAPE_RE
_Q0 = re.compile(rf"MUL_DIGIT, q0, \[HEAD1\] ({_T})\[HEAD2\] \|([1-9]) \[C\] \[OUTPUT\]")
_Q1 = re.compile(
    rf"MUL_DIGIT, q1,  ((?:{_T})?)\[HEAD1\]((?:{_T})?) \[HEAD2\]\|([1-9]) \[C\]\d ((?:{_T})?)\[OUTPUT\]"
)
_QH = re.compile(rf"MUL_DIGIT, qH,  ({_T})\[HEAD1\] \[HEAD2\]\|([1-9]) \[C\]\d ({_T})")


def _check_digit(d: object) -> int:
    check_operand(d, "d")
    if not 1 <= d <= 9:
        raise ValueError(f"MUL_DIGIT needs a one-digit multiplier 1..9, got {d!r}")
    return d


@lru_cache(maxsize=4096)
def _prepare(a: int, d: int):
    """(A, P, digits of a units first, carries c_0..c_n) of one problem."""
    check_operand(a, "a")
    _check_digit(d)
    ra = str(a)[::-1]
    carries = [0]
    for ch in ra:
        carries.append(((ord(ch) - 48) * d + carries[-1]) // 10)
    return tape(a), tape(a * d), ra, tuple(carries)


class MulDigit(BasicMachine):
    name = "MUL_DIGIT"
    adapter = "mul_digit"

    def check(self, a, b=None):
        super().check(a, b)
        _check_digit(b)

    def python_result(self, a, b=None):
        return str(a * b)

    def num_calls(self, a, b=None):
        """len a + 2."""
        return len(_prepare(a, b)[2]) + 2

    def step(self, a, b, j):
        A, P, ra, carries = _prepare(a, b)
        n = len(ra)
        self._check_j(j, n + 3)
        if j == 0:
            return f"MUL_DIGIT, q0, [HEAD1] {A}[HEAD2] |{b} [C] [OUTPUT]", "CMD [C] 0, [HEAD1] RIGHT, q1"
        if j == n + 2:
            return f"MUL_DIGIT, qH,  {A}[HEAD1] [HEAD2]|{b} [C]{carries[n]} {P}", HALT
        i = j - 1
        k = 2 * i
        c = carries[i]
        state = f"MUL_DIGIT, q1,  {A[:k]}[HEAD1]{A[k:]} [HEAD2]|{b} [C]{c} {P[:k]}[OUTPUT]"
        if i == n:
            return state, (f"CMD [OUTPUT] {c}, qH" if c else "CMD [OUTPUT], qH")
        t = (ord(ra[i]) - 48) * b + c
        return state, f"CMD [C] {t // 10}, [OUTPUT] {t % 10}, [OUTPUT] RIGHT, [HEAD1] RIGHT, q1"

    def _locate(self, state):
        if m := _Q1.fullmatch(state):
            return tape_to_int(m[1] + m[2]), int(m[3]), len(m[1]) // 2 + 1
        if m := _Q0.fullmatch(state):
            return tape_to_int(m[1]), int(m[2]), 0
        if m := _QH.fullmatch(state):
            a, d = tape_to_int(m[1]), int(m[2])
            return a, d, self.num_calls(a, d)
        raise MalformedText(f"not a MUL_DIGIT state line: {state!r}")
