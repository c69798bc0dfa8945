"""MUL: a * b by repeated addition over the whole multiplier (format.md §3.4).

Algorithm: count K := 1, product P := a; loop { LESS_THAN(K, b)? if False halt; P := ADD(a, P);
K := ADD(K, 1) }::

    MUL, q0, [HEAD1]{A} [HEAD2]{B} [COUNT] [OUTPUT]     CMD [COUNT] 1, [OUTPUT]{A}, q1
    MUL, q1, [HEAD1]{A} [HEAD2]{B} [COUNT]{K} [OUTPUT]{P}   CMD [CALL] LESS_THAN, q2 + LESS_THAN(K, b)
         True  -> MUL, q2, ...                              CMD [CALL] ADD, q3       + ADD(a, P)
         False -> MUL, qH, [HEAD1]{A} [HEAD2]{B} [COUNT]{K} {P}     No command to execute. Halt state.
    MUL, q3, ... [COUNT]{K} [OUTPUT]{a + P}                 CMD [CALL] ADD, q1       + ADD(K, 1)
    MUL, q1, ... [COUNT]{K + 1} [OUTPUT]{a + P}             (loop)

b = 0 (the kit's fix): LESS_THAN(1, 0) is False at once and the halt line writes the product 0,
``MUL, qH, [HEAD1]{A} [HEAD2]|0 [COUNT]|1 |0``; the reference writes ``{A}`` there (a * 0 = a).
``Mul(reference_b0_bug=True)`` reproduces the reference. Every other text is byte-identical.

Model calls (composer only): ``num_calls(a, b) = 3 * max(b, 1) - 1``
(b LESS_THAN calls and 2(b - 1) ADD calls; b = 0: 1 LESS_THAN call). With callees, for b >= 1::

    total_calls = (3b - 1) + sum_{k=1..b} (len k + 2)            # LESS_THAN(k, b)
                           + sum_{k=1..b-1} (len(k*a) + 2)       # ADD(a, k*a)
                           + sum_{k=1..b-1} (len k + 2)          # ADD(k, 1)

and ``total_calls(a, 0) = 5``. The cost is linear in the VALUE of b.
"""

from __future__ import annotations

import re

from .base import Composer
from .tape import HALT, TAPE_RE, MalformedText, canonical_int, sum_len, tape, tape_unreversed

_T = TAPE_RE
_Q0 = re.compile(rf"MUL, q0, \[HEAD1\]({_T}) \[HEAD2\]({_T}) \[COUNT\] \[OUTPUT\]")
_QK = re.compile(rf"MUL, (q[1-3]), \[HEAD1\]({_T}) \[HEAD2\]({_T}) \[COUNT\]({_T}) \[OUTPUT\]({_T})")
_COMMANDS = {"q1": "CMD [CALL] LESS_THAN, q2", "q2": "CMD [CALL] ADD, q3", "q3": "CMD [CALL] ADD, q1"}


class Mul(Composer):
    name = "MUL"
    adapter = "mul"
    symbol = "*"

    def __init__(self, reference_b0_bug: bool = False):
        self.reference_b0_bug = reference_b0_bug

    def python_result(self, a, b=None):
        if self.reference_b0_bug and b == 0:
            return str(a)
        return str(a * b)

    def num_calls(self, a, b=None):
        """3 * max(b, 1) - 1 composer calls."""
        self.check(a, b)
        return 3 * max(b, 1) - 1

    def total_calls(self, a, b=None):
        """Closed form, O(digits): see the module docstring."""
        self.check(a, b)
        if b == 0:
            return 5
        return (
            (3 * b - 1)
            + sum_len(b, 1) + 2 * b
            + sum_len(b - 1, a) + 2 * (b - 1)
            + sum_len(b - 1, 1) + 2 * (b - 1)
        )

    def init(self, a, b=None):
        self.check(a, b)
        A = tape(a)
        return f"MUL, q0, [HEAD1]{A} [HEAD2]{tape(b)} [COUNT] [OUTPUT]", f"CMD [COUNT] 1, [OUTPUT]{A}, q1"

    def parse_init(self, state, command):
        m = _Q0.fullmatch(state)
        if not m or command != f"CMD [COUNT] 1, [OUTPUT]{m[1]}, q1":
            raise MalformedText(f"not a MUL q0 state: {state!r} / {command!r}")
        return canonical_int(m[1]), canonical_int(m[2])

    def callee_plan(self, a, b=None):
        self.check(a, b)
        for k in range(1, max(b, 1) + 1):
            yield "less_than", k, b
            if k < b:
                yield "add", a, k * a
                yield "add", k, 1

    def _answer(self, lines):
        state, command = lines[0], lines[1]
        if m := _Q0.fullmatch(state):
            self._no_callee(lines)
            a, b = canonical_int(m[1]), canonical_int(m[2])
            A, B = m[1], m[2]
            if command != f"CMD [COUNT] 1, [OUTPUT]{A}, q1":
                raise MalformedText(f"MUL q0 expects command 'CMD [COUNT] 1, [OUTPUT]{A}, q1', got {command!r}")
            return self._call(f"MUL, q1, [HEAD1]{A} [HEAD2]{B} [COUNT]|1 [OUTPUT]{A}", "less_than", "q2", 1, b)
        m = _QK.fullmatch(state)
        if not m:
            raise MalformedText(f"not a MUL state line: {state!r}")
        q, A, B, K, P = m[1], m[2], m[3], m[4], m[5]
        if command != _COMMANDS[q]:
            raise MalformedText(f"MUL {q} expects command {_COMMANDS[q]!r}, got {command!r}")
        a, b, k, p = canonical_int(A), canonical_int(B), canonical_int(K), canonical_int(P)
        fields = f"[HEAD1]{A} [HEAD2]{B} [COUNT]{K}"
        if q == "q1":
            if self._callee_result(lines, "LESS_THAN") == "True":
                return self._call(f"MUL, q2, {fields} [OUTPUT]{P}", "add", "q3", a, p)
            product = P if (b != 0 or self.reference_b0_bug) else tape(0)
            return [f"MUL, qH, {fields} {product}", HALT]
        if q == "q2":
            s = int(self._callee_result(lines, "ADD"))
            return self._call(f"MUL, q3, {fields} [OUTPUT]{tape(s)}", "add", "q1", k, 1)
        k_next = int(self._callee_result(lines, "ADD"))
        return self._call(
            f"MUL, q1, [HEAD1]{A} [HEAD2]{B} [COUNT]{tape(k_next)} [OUTPUT]{P}", "less_than", "q2", k_next, b
        )

    def fabricated_halt(self, callee, a, b):
        """The reference's training inputs write the counter of the LESS_THAN halt line NOT reversed
        (count 12 -> ``|1|2[HEAD1]``; the real machine writes ``|2|1[HEAD1]``)."""
        if callee == "less_than":
            K, B = tape_unreversed(a), tape(b)
            m = 2 * min(len(str(a)), len(str(b)))
            return f"LESS_THAN, qH,  {K[:m]}[HEAD1]{K[m:]} {B[:m]}[HEAD2]{B[m:]} {a < b}", HALT
        return super().fabricated_halt(callee, a, b)
