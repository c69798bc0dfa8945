"""ADD: a + b, one digit column per step (format.md §2.1).

Trajectory (i = common head position = number of output digits written, c = carry into column i)::

    q0  ADD, q0, [HEAD1] {A}[HEAD2] {B} [C] [OUTPUT]
        CMD: [C] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1
    q1  ADD, q1,  {A[:i]}[HEAD1]{A[i:]} {B[:i]}[HEAD2]{B[i:]} [C]{c} {S[:i]}[OUTPUT]      i = 0 .. L
        CMD: [C] {t div 10}, [OUTPUT] {t mod 10}, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1
             (t = a_i + b_i + c; a head's RIGHT only while it is on a digit)   i < L
        CMD: [OUTPUT] {c}, [OUTPUT], [C], qH                                          i = L
    qH  ADD, qH,  {A}[HEAD1] {B}[HEAD2] [C]{c_L} {S}
        No command to execute. Halt state.

with L = max(len a, len b) and S = tape(a + b).

Model calls: ``num_calls(a, b) = max(len a, len b) + 2``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .base import BasicMachine
from .tape import HALT, TAPE_RE, MalformedText, check_operand, tape, tape_to_int

_T = TAPE_RE
_Q0 = re.compile(rf"ADD, q0, \[HEAD1\] ({_T})\[HEAD2\] ({_T}) \[C\] \[OUTPUT\]")
_Q1 = re.compile(rf"ADD, q1,  ((?:{_T})?)\[HEAD1\]((?:{_T})?) ((?:{_T})?)\[HEAD2\]((?:{_T})?) \[C\]\d ((?:{_T})?)\[OUTPUT\]")
_QH = re.compile(rf"ADD, qH,  ({_T})\[HEAD1\] ({_T})\[HEAD2\] \[C\]\d ({_T})")

Q0_COMMAND = "CMD: [C] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"


@lru_cache(maxsize=4096)
def _prepare(a: int, b: int):
    """Strings shared by every step of one problem (cached: a dataset writer renders several steps)."""
    check_operand(a, "a")
    check_operand(b, "b")
    sa, sb, ss = str(a), str(b), str(a + b)
    la, lb = len(sa), len(sb)
    return (tape(a), tape(b), tape(a + b), sa[::-1], sb[::-1], ss[::-1], la, lb, max(la, lb))


class Add(BasicMachine):
    name = "ADD"
    adapter = "add"
    symbol = "+"

    def python_result(self, a, b=None):
        return str(a + b)

    def num_calls(self, a, b=None):
        """max(len a, len b) + 2."""
        return _prepare(a, b)[8] + 2

    def step(self, a, b, j):
        A, B, S, ra, rb, rs, la, lb, L = _prepare(a, b)
        self._check_j(j, L + 3)
        if j == 0:
            return f"ADD, q0, [HEAD1] {A}[HEAD2] {B} [C] [OUTPUT]", Q0_COMMAND
        if j == L + 2:
            carry = "1" if len(rs) > L else "0"
            return f"ADD, qH,  {A}[HEAD1] {B}[HEAD2] [C]{carry} {S}", HALT
        i = j - 1
        x = ord(ra[i]) - 48 if i < la else 0
        y = ord(rb[i]) - 48 if i < lb else 0
        if i < len(rs):
            c = (ord(rs[i]) - 48 - x - y) % 10  # s_i = (x + y + c) mod 10, c in {0, 1}
        else:
            c = 0
        k = 2 * i
        state = f"ADD, q1,  {A[:k]}[HEAD1]{A[k:]} {B[:k]}[HEAD2]{B[k:]} [C]{c} {S[:k]}[OUTPUT]"
        if i == L:
            return state, f"CMD: [OUTPUT] {c}, [OUTPUT], [C], qH"
        t = x + y + c
        heads = ("[HEAD1] RIGHT, " if i < la else "") + ("[HEAD2] RIGHT, " if i < lb else "")
        return state, f"CMD: [C] {t // 10}, [OUTPUT] {t % 10}, [OUTPUT] RIGHT, {heads}q1"

    def _locate(self, state):
        if m := _Q1.fullmatch(state):
            return tape_to_int(m[1] + m[2]), tape_to_int(m[3] + m[4]), len(m[5]) // 2 + 1
        if m := _Q0.fullmatch(state):
            return tape_to_int(m[1]), tape_to_int(m[2]), 0
        if m := _QH.fullmatch(state):
            a, b = tape_to_int(m[1]), tape_to_int(m[2])
            return a, b, self.num_calls(a, b)
        raise MalformedText(f"not an ADD state line: {state!r}")
