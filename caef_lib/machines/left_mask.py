"""LEFT_MASK: drop the most significant digit, then strip leading zeros (format.md §2.3); the last
helper of SUB. One operand x with n digits (``b`` must be None)::

    q0  LEFT_MASK, q0, [HEAD] {X} [OUTPUT]
        CMD [HEAD] RIGHT, q1
    q1  LEFT_MASK, q1,  {X[:i]}[HEAD]{X[i:]} {X[:i]}[OUTPUT]                    i = 0 .. n
        CMD [HEAD] RIGHT, [OUTPUT] {x_i}, [OUTPUT] RIGHT, q1                    i < n (copy one digit)
        CMD [OUTPUT] LEFT, [OUTPUT] 0, q2                                       i = n (erase the top digit)
    q2  LEFT_MASK, q2,  {X}[HEAD] {X[:k]}[OUTPUT]                               k = n-1 .. n-1-z
        CMD [OUTPUT] LEFT, q2      while k > 0 and digit k-1 is 0
        CMD qH
    qH  LEFT_MASK, qH,  {X}[HEAD] {X[:n-1-z]}    (empty is written as a bare "0", no separator)

z = number of leading zeros of x without its first digit (all of them if that part is 0).

Model calls: ``num_calls(x) = n + 3 + z``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .base import BasicMachine
from .tape import HALT, TAPE_RE, MalformedText, check_operand, tape, tape_to_int

_T = TAPE_RE
_Q0 = re.compile(rf"LEFT_MASK, q0, \[HEAD\] ({_T}) \[OUTPUT\]")
_Q1 = re.compile(rf"LEFT_MASK, q1,  ((?:{_T})?)\[HEAD\]((?:{_T})?) ((?:{_T})?)\[OUTPUT\]")
_Q2 = re.compile(rf"LEFT_MASK, q2,  ({_T})\[HEAD\] ((?:{_T})?)\[OUTPUT\]")
_QH = re.compile(rf"LEFT_MASK, qH,  ({_T})\[HEAD\] ({_T}|0)")


@lru_cache(maxsize=4096)
def _prepare(x: int):
    check_operand(x, "a")
    sx = str(x)
    n = len(sx)
    kept = len(sx[1:].lstrip("0"))  # digits of the result
    return tape(x), sx[::-1], n, kept


class LeftMask(BasicMachine):
    name = "LEFT_MASK"
    adapter = "left_mask"
    arity = 1

    def python_result(self, a, b=None):
        return str(int(str(a)[1:] or "0"))

    def num_calls(self, a, b=None):
        """n + 3 + z (n = len x, z = leading zeros of x without its first digit)."""
        self._no_b(b)
        _, _, n, kept = _prepare(a)
        return n + 3 + (n - 1 - kept)

    @staticmethod
    def _no_b(b):
        if b is not None:
            raise ValueError(f"LEFT_MASK takes one operand, got b={b!r}")

    def step(self, a, b, j):
        self._no_b(b)
        X, rx, n, kept = _prepare(a)
        z = n - 1 - kept
        self._check_j(j, n + 4 + z)
        if j == 0:
            return f"LEFT_MASK, q0, [HEAD] {X} [OUTPUT]", "CMD [HEAD] RIGHT, q1"
        if j <= n + 1:
            i = j - 1
            k = 2 * i
            state = f"LEFT_MASK, q1,  {X[:k]}[HEAD]{X[k:]} {X[:k]}[OUTPUT]"
            if i == n:
                return state, "CMD [OUTPUT] LEFT, [OUTPUT] 0, q2"
            return state, f"CMD [HEAD] RIGHT, [OUTPUT] {rx[i]}, [OUTPUT] RIGHT, q1"
        if j == n + 3 + z:
            return f"LEFT_MASK, qH,  {X}[HEAD] {X[: 2 * kept] or '0'}", HALT
        keep = (n - 1) - (j - n - 2)
        state = f"LEFT_MASK, q2,  {X}[HEAD] {X[: 2 * keep]}[OUTPUT]"
        if keep > kept:
            return state, "CMD [OUTPUT] LEFT, q2"
        return state, "CMD qH"

    def _locate(self, state):
        if m := _Q1.fullmatch(state):
            return tape_to_int(m[1] + m[2]), None, len(m[3]) // 2 + 1
        if m := _Q0.fullmatch(state):
            return tape_to_int(m[1]), None, 0
        if m := _Q2.fullmatch(state):
            n = len(m[1]) // 2
            keep = len(m[2]) // 2
            return tape_to_int(m[1]), None, n + 2 + (n - 1 - keep)
        if m := _QH.fullmatch(state):
            x = tape_to_int(m[1])
            return x, None, self.num_calls(x)
        raise MalformedText(f"not a LEFT_MASK state line: {state!r}")
