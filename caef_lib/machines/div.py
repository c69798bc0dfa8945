"""DIV: a // b (b > 0) by repeated addition of the divisor (format.md §3.5).

Algorithm: quotient Q := 0, count K := b; loop { GREATER_THAN(K, a)? if True halt;
Q := ADD(Q, 1); K := ADD(b, K) }::

    DIV, q0, [HEAD1]{A} [HEAD2]{B} [COUNT] [OUTPUT]     CMD [COUNT]{B}, [OUTPUT] 0, q1
    DIV, q1, [HEAD1]{A} [HEAD2]{B} [COUNT]{K} [OUTPUT]{Q}   CMD [CALL] GREATER_THAN, q2 + GREATER_THAN(K, a)
         False -> DIV, q2, ...                              CMD [CALL] ADD, q3          + ADD(Q, 1)
         True  -> DIV, qH, [HEAD1]{A} [HEAD2]{B} [COUNT]{K} {Q}     No command to execute. Halt state.
    DIV, q3, ... [COUNT]{K} [OUTPUT]{Q + 1}                 CMD [CALL] ADD, q1          + ADD(b, K)
    DIV, q1, ... [COUNT]{K + b} [OUTPUT]{Q + 1}             (loop)

Model calls, q = a // b (composer only): ``num_calls(a, b) = 3q + 2``
(q + 1 GREATER_THAN calls and 2q ADD calls). With callees::

    total_calls = (3q + 2) + sum_{k=1..q+1} (min(len(k*b), len a) + 2)   # GREATER_THAN(k*b, a)
                           + sum_{Q=0..q-1} (len Q + 2)                  # ADD(Q, 1)
                           + sum_{k=1..q}   (len(k*b) + 2)               # ADD(b, k*b)

The cost is linear in the VALUE of the quotient. b = 0 raises ValueError (the reference loops
forever).
"""

from __future__ import annotations

import re

from .base import Composer
from .tape import HALT, TAPE_RE, MalformedText, canonical_int, sum_len, tape

_T = TAPE_RE
_Q0 = re.compile(rf"DIV, q0, \[HEAD1\]({_T}) \[HEAD2\]({_T}) \[COUNT\] \[OUTPUT\]")
_QK = re.compile(rf"DIV, (q[1-3]), \[HEAD1\]({_T}) \[HEAD2\]({_T}) \[COUNT\]({_T}) \[OUTPUT\]({_T})")
_COMMANDS = {"q1": "CMD [CALL] GREATER_THAN, q2", "q2": "CMD [CALL] ADD, q3", "q3": "CMD [CALL] ADD, q1"}


class Div(Composer):
    name = "DIV"
    adapter = "div"
    symbol = "//"

    def check(self, a, b=None):
        super().check(a, b)
        if b == 0:
            raise ValueError(f"division by zero: {a} // 0 (the DIV machine would never halt)")

    def python_result(self, a, b=None):
        return str(a // b)

    def num_calls(self, a, b=None):
        """3q + 2 composer calls, q = a // b."""
        self.check(a, b)
        return 3 * (a // b) + 2

    def total_calls(self, a, b=None):
        """Closed form, O(digits): see the module docstring."""
        self.check(a, b)
        q, la = a // b, len(str(a))
        add_q = (1 + sum_len(q - 1, 1) if q else 0) + 2 * q
        return (3 * q + 2) + sum_len(q + 1, b, la) + 2 * (q + 1) + add_q + sum_len(q, b) + 2 * q

    def init(self, a, b=None):
        self.check(a, b)
        B = tape(b)
        return f"DIV, q0, [HEAD1]{tape(a)} [HEAD2]{B} [COUNT] [OUTPUT]", f"CMD [COUNT]{B}, [OUTPUT] 0, q1"

    def parse_init(self, state, command):
        m = _Q0.fullmatch(state)
        if not m or command != f"CMD [COUNT]{m[2]}, [OUTPUT] 0, q1":
            raise MalformedText(f"not a DIV q0 state: {state!r} / {command!r}")
        a, b = canonical_int(m[1]), canonical_int(m[2])
        if b == 0:
            raise MalformedText("DIV q0 state divides by zero")
        return a, b

    def callee_plan(self, a, b=None):
        self.check(a, b)
        q = a // b
        for j in range(q + 1):
            yield "greater_than", (j + 1) * b, a
            if j < q:
                yield "add", j, 1
                yield "add", b, (j + 1) * b

    def _answer(self, lines):
        state, command = lines[0], lines[1]
        if m := _Q0.fullmatch(state):
            self._no_callee(lines)
            A, B = m[1], m[2]
            a, b = canonical_int(A), canonical_int(B)
            if command != f"CMD [COUNT]{B}, [OUTPUT] 0, q1":
                raise MalformedText(f"DIV q0 expects command 'CMD [COUNT]{B}, [OUTPUT] 0, q1', got {command!r}")
            if b == 0:
                raise MalformedText("DIV by zero would never halt")
            return self._call(f"DIV, q1, [HEAD1]{A} [HEAD2]{B} [COUNT]{B} [OUTPUT]|0", "greater_than", "q2", b, a)
        m = _QK.fullmatch(state)
        if not m:
            raise MalformedText(f"not a DIV state line: {state!r}")
        q, A, B, K, Q = m[1], m[2], m[3], m[4], m[5]
        if command != _COMMANDS[q]:
            raise MalformedText(f"DIV {q} expects command {_COMMANDS[q]!r}, got {command!r}")
        a, b, k, quotient = canonical_int(A), canonical_int(B), canonical_int(K), canonical_int(Q)
        fields = f"[HEAD1]{A} [HEAD2]{B} [COUNT]{K}"
        if q == "q1":
            if self._callee_result(lines, "GREATER_THAN") == "True":
                return [f"DIV, qH, {fields} {Q}", HALT]
            return self._call(f"DIV, q2, {fields} [OUTPUT]{Q}", "add", "q3", quotient, 1)
        if q == "q2":
            q_next = int(self._callee_result(lines, "ADD"))
            return self._call(f"DIV, q3, {fields} [OUTPUT]{tape(q_next)}", "add", "q1", b, k)
        k_next = int(self._callee_result(lines, "ADD"))
        return self._call(
            f"DIV, q1, [HEAD1]{A} [HEAD2]{B} [COUNT]{tape(k_next)} [OUTPUT]{Q}", "greater_than", "q2", k_next, a
        )
