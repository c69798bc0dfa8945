"""REFLECTION: nines' complement (format.md §2.2), the first helper of SUB.

Operands: a = 10^n - 1 (n nines), b <= a. Computes a - b and strips its leading zeros.
O = the n-digit complement, units first (digit k = 9 - b_k); z = its number of leading zeros
(z = n when b = 99..9); {O'} = the kept (not yet stripped) part of O::

    q0  REFLECTION, q0, [HEAD1] {N}[HEAD2] {B} [OUTPUT]
        CMD [HEAD1] RIGHT, [HEAD2] RIGHT, q1
    q1  REFLECTION, q1,  {N[:i]}[HEAD1]{N[i:]} {B[:i]}[HEAD2]{B[i:]} {O[:i]}[OUTPUT]       i = 0 .. n
        CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] {9 - b_i}, [OUTPUT] RIGHT, q1   i < n ([HEAD2] RIGHT only while on b)
        CMD q2                                                                    i = n
    q2  REFLECTION, q2,  {N}[HEAD1] {B}[HEAD2] {O'}[OUTPUT]       ({O'} empty is written "|")
        CMD [OUTPUT] LEFT, q2      while the highest kept digit is 0
        CMD [OUTPUT], qH
    qH  REFLECTION, qH,  {N}[HEAD1] {B}[HEAD2] {O'}               ({O'} empty is written "|0")

Model calls: ``num_calls(a, b) = n + 3 + z``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .base import BasicMachine
from .tape import HALT, TAPE_RE, MalformedText, check_operand, tape, tape_to_int

_T = TAPE_RE
_Q0 = re.compile(rf"REFLECTION, q0, \[HEAD1\] ({_T})\[HEAD2\] ({_T}) \[OUTPUT\]")
_Q1 = re.compile(rf"REFLECTION, q1,  ((?:{_T})?)\[HEAD1\]((?:{_T})?) ((?:{_T})?)\[HEAD2\]((?:{_T})?) ((?:{_T})?)\[OUTPUT\]")
_Q2 = re.compile(rf"REFLECTION, q2,  ({_T})\[HEAD1\] ({_T})\[HEAD2\] ({_T}|\|)\[OUTPUT\]")
_QH = re.compile(rf"REFLECTION, qH,  ({_T})\[HEAD1\] ({_T})\[HEAD2\] ({_T})")


_NINES_COMPLEMENT = str.maketrans("0123456789", "9876543210")


@lru_cache(maxsize=4096)
def _prepare(a: int, b: int):
    check_operand(a, "a")
    check_operand(b, "b")
    sa = str(a)
    n = len(sa)
    if sa != "9" * n:
        raise ValueError(f"REFLECTION needs a = 99..9, got {a}")
    if b > a:
        raise ValueError(f"REFLECTION needs b <= a, got a={a}, b={b}")
    rb = str(b)[::-1]
    out = rb.translate(_NINES_COMPLEMENT) + "9" * (n - len(rb))  # complement, units first
    kept = len(out.rstrip("0"))  # digits left after stripping leading zeros
    O = "".join("|" + d for d in out)
    return tape(a), tape(b), O, rb, n, kept


class Reflection(BasicMachine):
    name = "REFLECTION"
    adapter = "reflection"

    def check(self, a, b=None):
        super().check(a, b)
        _prepare(a, b)

    def python_result(self, a, b=None):
        return str(a - b)

    def num_calls(self, a, b=None):
        """n + 3 + z (n = number of nines, z = leading zeros of the n-digit complement)."""
        *_, n, kept = _prepare(a, b)
        return n + 3 + (n - kept)

    def step(self, a, b, j):
        N, B, O, rb, n, kept = _prepare(a, b)
        z = n - kept
        self._check_j(j, n + 4 + z)
        if j == 0:
            return f"REFLECTION, q0, [HEAD1] {N}[HEAD2] {B} [OUTPUT]", "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, q1"
        if j <= n + 1:
            i = j - 1
            k = 2 * i
            state = f"REFLECTION, q1,  {N[:k]}[HEAD1]{N[k:]} {B[:k]}[HEAD2]{B[k:]} {O[:k]}[OUTPUT]"
            if i == n:
                return state, "CMD q2"
            y = ord(rb[i]) - 48 if i < len(rb) else 0
            head2 = "[HEAD2] RIGHT, " if i < len(rb) else ""
            return state, f"CMD [HEAD1] RIGHT, {head2}[OUTPUT] {9 - y}, [OUTPUT] RIGHT, q1"
        if j == n + 3 + z:
            return f"REFLECTION, qH,  {N}[HEAD1] {B}[HEAD2] {O[: 2 * kept] or '|0'}", HALT
        keep = n - (j - n - 2)  # q2: digits still kept
        state = f"REFLECTION, q2,  {N}[HEAD1] {B}[HEAD2] {O[: 2 * keep] or '|'}[OUTPUT]"
        if keep > kept:
            return state, "CMD [OUTPUT] LEFT, q2"
        return state, "CMD [OUTPUT], qH"

    def _locate(self, state):
        if m := _Q1.fullmatch(state):
            return tape_to_int(m[1] + m[2]), tape_to_int(m[3] + m[4]), len(m[5]) // 2 + 1
        if m := _Q0.fullmatch(state):
            return tape_to_int(m[1]), tape_to_int(m[2]), 0
        if m := _Q2.fullmatch(state):
            n = len(m[1]) // 2
            keep = len(m[3]) // 2  # "|" -> 0
            return tape_to_int(m[1]), tape_to_int(m[2]), n + 2 + (n - keep)
        if m := _QH.fullmatch(state):
            a, b = tape_to_int(m[1]), tape_to_int(m[2])
            try:
                return a, b, self.num_calls(a, b)
            except ValueError as exc:
                raise MalformedText(f"not a REFLECTION configuration: {state!r} ({exc})") from None
        raise MalformedText(f"not a REFLECTION state line: {state!r}")
