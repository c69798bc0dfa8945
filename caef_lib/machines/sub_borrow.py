"""SUB_BORROW: trial subtraction x - y with a borrow, one digit column per step (a helper of
LONG_DIV, docs/long-arithmetic.md). It is a compare-and-subtract: for x >= y it halts with the
difference (leading zeros stripped), for x < y it halts with the token ``NEG`` (and ``[B]1``), so
the caller learns both "does y fit into x?" and "what is left?" from one run.

Operands: any two non-negative ints written canonically (no leading zeros). Lx = len x,
Ly = len y, b_i = borrow into column i, O = the digits of (x - y) mod 10^i written so far (units
first), D = x - y, z = Lx - len D (zeros stripped at the end, only when x >= y)::

    q0  SUB_BORROW, q0, [HEAD1] {X}[HEAD2] {Y} [B] [OUTPUT]
        CMD [B] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1
    q1  SUB_BORROW, q1,  {X[:i]}[HEAD1]{X[i:]} {Y[:i]}[HEAD2]{Y[i:]} [B]{b_i} {O[:i]}[OUTPUT]     i = 0 .. Lx
        CMD [B] {v < 0}, [OUTPUT] {v mod 10}, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1
            i < Lx, v = x_i - y_i - b_i ({v < 0} written 1/0; y_i = 0 and no [HEAD2] RIGHT past y)
        CMD [B] 1, [OUTPUT] NEG, qH          i = Lx < Ly   (x ran out first: x has fewer digits, x < y)
        CMD [OUTPUT] NEG, qH                 i = Lx >= Ly, b_Lx = 1   (x < y)
        CMD [OUTPUT], qH                     i = Lx >= Ly, b_Lx = 0, top output digit non-zero or Lx = 1
        CMD [OUTPUT] LEFT, q2                i = Lx >= Ly, b_Lx = 0, top output digit 0 (strip it)
    q2  SUB_BORROW, q2,  {X}[HEAD1] {Y}[HEAD2] [B]0 {O'}[OUTPUT]     ({O'} = digits still kept, >= 1)
        CMD [OUTPUT] LEFT, q2                while the top kept digit is 0 and more than one is kept
        CMD [OUTPUT], qH
    qH  SUB_BORROW, qH,  {X}[HEAD1] {Y}[HEAD2] [B]0 {D}                          x >= y
        SUB_BORROW, qH,  {X}[HEAD1] {Y[:Lx]}[HEAD2]{Y[Lx:]} [B]1 NEG             x < y
        No command to execute. Halt state.

The early stop (``i = Lx < Ly``) is what makes the machine cheap inside long division, where
most trial subtractions of the first positions have a shorter x: it costs len x, not len y,
steps. It relies on canonical operands (a shorter number is smaller), which every tape is.

Model calls::

    num_calls(x, y) = Lx + 2        if x < y   (both the early stop and the full scan)
                      Lx + 2 + z    if x >= y  (z = Lx - len(x - y); 0 = "|0" has length 1)

``result_from_halt`` returns the difference as a decimal string, or ``"NEG"``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .base import BasicMachine
from .tape import HALT, TAPE_RE, MalformedText, check_operand, tape, tape_to_int

_T = TAPE_RE
NEG = "NEG"
_Q0 = re.compile(rf"SUB_BORROW, q0, \[HEAD1\] ({_T})\[HEAD2\] ({_T}) \[B\] \[OUTPUT\]")
_Q1 = re.compile(
    rf"SUB_BORROW, q1,  ((?:{_T})?)\[HEAD1\]((?:{_T})?) ((?:{_T})?)\[HEAD2\]((?:{_T})?) \[B\][01] ((?:{_T})?)\[OUTPUT\]"
)
_Q2 = re.compile(rf"SUB_BORROW, q2,  ({_T})\[HEAD1\] ({_T})\[HEAD2\] \[B\]0 ({_T})\[OUTPUT\]")
_QH = re.compile(rf"SUB_BORROW, qH,  ({_T})\[HEAD1\] ((?:{_T})?)\[HEAD2\]((?:{_T})?) \[B\][01] ({_T}|NEG)")


@lru_cache(maxsize=4096)
def _prepare(x: int, y: int):
    """Everything one problem's steps need: tapes, digits, borrows, raw output, kept length."""
    check_operand(x, "x")
    check_operand(y, "y")
    rx, ry = str(x)[::-1], str(y)[::-1]
    lx, ly = len(rx), len(ry)
    borrows = [0]
    out = []
    for i in range(lx):
        v = (ord(rx[i]) - 48) - (ord(ry[i]) - 48 if i < ly else 0) - borrows[-1]
        borrows.append(1 if v < 0 else 0)
        out.append(f"|{v % 10}")
    neg = x < y
    kept = 0 if neg else len(str(x - y))
    return tape(x), tape(y), rx, ry, lx, ly, tuple(borrows), "".join(out), neg, kept


class SubBorrow(BasicMachine):
    name = "SUB_BORROW"
    adapter = "sub_borrow"

    def python_result(self, a, b=None):
        return str(a - b) if a >= b else NEG

    def num_calls(self, a, b=None):
        """len x + 2 if x < y, else len x + 2 + z (z = len x - len(x - y))."""
        *_, lx, _ly, _b, _o, neg, kept = _prepare(a, b)
        return lx + 2 if neg else lx + 2 + (lx - kept)

    def result_from_halt(self, state_line):
        """The difference as a decimal string, or ``"NEG"`` when the halt line says x < y."""
        if isinstance(state_line, str) and state_line.startswith("SUB_BORROW, qH, ") and state_line.endswith(
            f"[B]1 {NEG}"
        ):
            return NEG
        return super().result_from_halt(state_line)

    def step(self, a, b, j):
        X, Y, rx, ry, lx, ly, borrows, O, neg, kept = _prepare(a, b)
        n_calls = self.num_calls(a, b)
        self._check_j(j, n_calls + 1)
        if j == 0:
            return (
                f"SUB_BORROW, q0, [HEAD1] {X}[HEAD2] {Y} [B] [OUTPUT]",
                "CMD [B] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1",
            )
        if j == n_calls:
            k = 2 * lx
            if neg:
                return f"SUB_BORROW, qH,  {X}[HEAD1] {Y[:k]}[HEAD2]{Y[k:]} [B]1 {NEG}", HALT
            return f"SUB_BORROW, qH,  {X}[HEAD1] {Y}[HEAD2] [B]0 {tape(a - b)}", HALT
        if j <= lx + 1:
            i = j - 1
            k = 2 * i
            state = f"SUB_BORROW, q1,  {X[:k]}[HEAD1]{X[k:]} {Y[:k]}[HEAD2]{Y[k:]} [B]{borrows[i]} {O[:k]}[OUTPUT]"
            if i < lx:
                v = (ord(rx[i]) - 48) - (ord(ry[i]) - 48 if i < ly else 0) - borrows[i]
                head2 = "[HEAD2] RIGHT, " if i < ly else ""
                return state, f"CMD [B] {1 if v < 0 else 0}, [OUTPUT] {v % 10}, [OUTPUT] RIGHT, [HEAD1] RIGHT, {head2}q1"
            if lx < ly:
                return state, f"CMD [B] 1, [OUTPUT] {NEG}, qH"
            if neg:
                return state, f"CMD [OUTPUT] {NEG}, qH"
            if kept == lx:
                return state, "CMD [OUTPUT], qH"
            return state, "CMD [OUTPUT] LEFT, q2"
        keep = lx - (j - lx - 1)  # q2: digits still kept (lx - 1 at the first q2)
        state = f"SUB_BORROW, q2,  {X}[HEAD1] {Y}[HEAD2] [B]0 {O[: 2 * keep]}[OUTPUT]"
        if keep > kept:
            return state, "CMD [OUTPUT] LEFT, q2"
        return state, "CMD [OUTPUT], qH"

    def _locate(self, state):
        if m := _Q1.fullmatch(state):
            return tape_to_int(m[1] + m[2]), tape_to_int(m[3] + m[4]), len(m[1]) // 2 + 1
        if m := _Q0.fullmatch(state):
            return tape_to_int(m[1]), tape_to_int(m[2]), 0
        if m := _Q2.fullmatch(state):
            lx, keep = len(m[1]) // 2, len(m[3]) // 2
            return tape_to_int(m[1]), tape_to_int(m[2]), lx + 1 + (lx - keep)
        if m := _QH.fullmatch(state):
            x, y = tape_to_int(m[1]), tape_to_int(m[2] + m[3])
            return x, y, self.num_calls(x, y)
        raise MalformedText(f"not a SUB_BORROW state line: {state!r}")
