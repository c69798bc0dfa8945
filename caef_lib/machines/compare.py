"""EQUAL, GREATER_THAN and LESS_THAN (format.md §2.4, §2.5). Both operands are scanned units
first, both heads moving together.

EQUAL (k = length of the common prefix of the reversed digit strings)::

    q0  EQUAL, q0, [HEAD1] {A}[HEAD2] {B} [OUTPUT]
        CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] True, q1
    q1  EQUAL, q1,  {A[:i]}[HEAD1]{A[i:]} {B[:i]}[HEAD2]{B[i:]} [OUTPUT]True            i = 0 .. k
        CMD [HEAD1] RIGHT, [HEAD2] RIGHT, q1         i < k
        CMD [OUTPUT], qH                             i = k, both operands exhausted (a == b)
        CMD [OUTPUT] False, [OUTPUT], qH             i = k otherwise
    qH  EQUAL, qH,  {A[:k]}[HEAD1]{A[k:]} {B[:k]}[HEAD2]{B[k:]} {a == b}

  Model calls: ``num_calls(a, b) = k + 2``.

GREATER_THAN / LESS_THAN (m = min(len a, len b); v_i = verdict of the lowest i digits, i.e.
a mod 10^i > b mod 10^i for GREATER_THAN, < for LESS_THAN)::

    q0  NAME, q0, [HEAD1] {A}[HEAD2] {B} [OUTPUT]
        CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] False, q1
    q1  NAME, q1,  {A[:i]}[HEAD1]{A[i:]} {B[:i]}[HEAD2]{B[i:]} [OUTPUT]{v_i}             i = 0 .. m
        CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] {a_i OP b_i}, q1    i < m, digits differ
        CMD [HEAD1] RIGHT, [HEAD2] RIGHT, q1                          i < m, digits equal
        CMD [OUTPUT], qH                                              i = m, same length
        CMD [OUTPUT] {len a OP len b}, [OUTPUT], qH                   i = m, lengths differ
    qH  NAME, qH,  {A[:m]}[HEAD1]{A[m:]} {B[:m]}[HEAD2]{B[m:]} {a OP b}

  Model calls: ``num_calls(a, b) = min(len a, len b) + 2``.
"""

from __future__ import annotations

import operator
import re
from functools import lru_cache

from .base import BasicMachine
from .tape import HALT, TAPE_RE, MalformedText, check_operand, tape, tape_to_int

_T = TAPE_RE


@lru_cache(maxsize=4096)
def _prepare(a: int, b: int):
    check_operand(a, "a")
    check_operand(b, "b")
    sa, sb = str(a), str(b)
    ra, rb = sa[::-1], sb[::-1]
    k = 0  # common prefix of the reversed strings
    m = min(len(ra), len(rb))
    while k < m and ra[k] == rb[k]:
        k += 1
    return tape(a), tape(b), sa, sb, ra, rb, k


def _patterns(name: str):
    head = rf"((?:{_T})?)\[HEAD1\]((?:{_T})?) ((?:{_T})?)\[HEAD2\]((?:{_T})?)"
    return (
        re.compile(rf"{name}, q0, \[HEAD1\] ({_T})\[HEAD2\] ({_T}) \[OUTPUT\]"),
        re.compile(rf"{name}, q1,  {head} \[OUTPUT\](?:True|False)"),
        re.compile(rf"{name}, qH,  {head} (?:True|False)"),
    )


class _Compare(BasicMachine):
    result_kind = "bool"
    _q0_verdict = "False"

    def __init__(self):
        self._q0_re, self._q1_re, self._qh_re = _patterns(self.name)

    def _q0(self, A, B):
        return (
            f"{self.name}, q0, [HEAD1] {A}[HEAD2] {B} [OUTPUT]",
            f"CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] {self._q0_verdict}, q1",
        )

    def _locate(self, state):
        if m := self._q1_re.fullmatch(state):
            return tape_to_int(m[1] + m[2]), tape_to_int(m[3] + m[4]), len(m[1]) // 2 + 1
        if m := self._q0_re.fullmatch(state):
            return tape_to_int(m[1]), tape_to_int(m[2]), 0
        if m := self._qh_re.fullmatch(state):
            a, b = tape_to_int(m[1] + m[2]), tape_to_int(m[3] + m[4])
            return a, b, self.num_calls(a, b)
        raise MalformedText(f"not a {self.name} state line: {state!r}")


class Equal(_Compare):
    name = "EQUAL"
    adapter = "equal"
    symbol = "=="
    _q0_verdict = "True"

    def python_result(self, a, b=None):
        return str(a == b)

    def num_calls(self, a, b=None):
        """k + 2 (k = common prefix length of the reversed digit strings)."""
        return _prepare(a, b)[6] + 2

    def step(self, a, b, j):
        A, B, sa, sb, ra, rb, k = _prepare(a, b)
        self._check_j(j, k + 3)
        if j == 0:
            return self._q0(A, B)
        p = 2 * k
        if j == k + 2:
            return f"EQUAL, qH,  {A[:p]}[HEAD1]{A[p:]} {B[:p]}[HEAD2]{B[p:]} {sa == sb}", HALT
        i = j - 1
        p = 2 * i
        state = f"EQUAL, q1,  {A[:p]}[HEAD1]{A[p:]} {B[:p]}[HEAD2]{B[p:]} [OUTPUT]True"
        if i < k:
            return state, "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, q1"
        if sa == sb:
            return state, "CMD [OUTPUT], qH"
        return state, "CMD [OUTPUT] False, [OUTPUT], qH"


class _Order(_Compare):
    """GREATER_THAN / LESS_THAN: identical machines up to the comparison ``_op``."""

    _op = staticmethod(operator.gt)

    def python_result(self, a, b=None):
        return str(self._op(a, b))

    def num_calls(self, a, b=None):
        """min(len a, len b) + 2."""
        p = _prepare(a, b)
        return min(len(p[2]), len(p[3])) + 2

    def step(self, a, b, j):
        A, B, sa, sb, ra, rb, _ = _prepare(a, b)
        la, lb = len(sa), len(sb)
        m = min(la, lb)
        self._check_j(j, m + 3)
        if j == 0:
            return self._q0(A, B)
        op = self._op
        if j == m + 2:
            p = 2 * m
            return f"{self.name}, qH,  {A[:p]}[HEAD1]{A[p:]} {B[:p]}[HEAD2]{B[p:]} {op(a, b)}", HALT
        i = j - 1
        p = 2 * i
        verdict = op(sa[la - i :], sb[lb - i :]) if i else False  # equal-length digit strings
        state = f"{self.name}, q1,  {A[:p]}[HEAD1]{A[p:]} {B[:p]}[HEAD2]{B[p:]} [OUTPUT]{verdict}"
        if i < m:
            x, y = ra[i], rb[i]
            write = f"[OUTPUT] {op(x, y)}, " if x != y else ""
            return state, f"CMD [HEAD1] RIGHT, [HEAD2] RIGHT, {write}q1"
        if la == lb:
            return state, "CMD [OUTPUT], qH"
        return state, f"CMD [OUTPUT] {op(la, lb)}, [OUTPUT], qH"


class GreaterThan(_Order):
    name = "GREATER_THAN"
    adapter = "greater_than"
    symbol = ">"
    _op = staticmethod(operator.gt)


class LessThan(_Order):
    name = "LESS_THAN"
    adapter = "less_than"
    symbol = "<"
    _op = staticmethod(operator.lt)
