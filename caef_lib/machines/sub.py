"""SUB: a - b for a >= b, composed of four calls (format.md §3.3).

Algorithm: r = REFLECTION(99..9 with len(a) nines, b) = 10^n - 1 - b; s = ADD(a, r); t = ADD(s, 1);
result = LEFT_MASK(t) (t = 10^n + a - b, so dropping its top digit leaves a - b)::

    SUB, q0, [HEAD1]{A} [HEAD2]{B}␠     CMD q1
    SUB, q1, [HEAD1]{A} [HEAD2]{B}␠     CMD [CALL] REFLECTION, q2   + REFLECTION q0 lines
    SUB, q2, ...                        CMD [CALL] ADD, q3          + ADD(a, r) q0 lines
    SUB, q3, ...                        CMD [CALL] ADD, q4          + ADD(s, 1) q0 lines
    SUB, q4, ...                        CMD [CALL] LEFT_MASK, qH    + LEFT_MASK(t) q0 lines
    SUB, qH, [HEAD1]{A} [HEAD2]{B} {R}  No command to execute. Halt state.

(␠ = the trailing space of the empty result field.)

Model calls: ``num_calls(a, b) = 5`` composer calls; with callees
``total_calls = 5 + REFLECTION(10^n - 1, b) + ADD(a, r) + ADD(s, 1) + LEFT_MASK(t)``.

a < b is rejected with ValueError (the reference silently produces a wrong text; see
docs/caef-differences.md).
"""

from __future__ import annotations

import re

from .base import Composer
from .tape import HALT, TAPE_RE, MalformedText, canonical_int, tape

_T = TAPE_RE
_STATE = re.compile(rf"SUB, (q[0-4]), \[HEAD1\]({_T}) \[HEAD2\]({_T}) ")
_COMMANDS = {
    "q0": "CMD q1",
    "q1": "CMD [CALL] REFLECTION, q2",
    "q2": "CMD [CALL] ADD, q3",
    "q3": "CMD [CALL] ADD, q4",
    "q4": "CMD [CALL] LEFT_MASK, qH",
}


def _nines(n: int) -> int:
    return 10**n - 1


class Sub(Composer):
    name = "SUB"
    adapter = "sub"
    symbol = "-"

    def check(self, a, b=None):
        super().check(a, b)
        if a < b:
            raise ValueError(f"SUB needs a >= b (no negative results), got {a} - {b}")

    def python_result(self, a, b=None):
        return str(a - b)

    def num_calls(self, a, b=None):
        """Always 5 composer calls."""
        self.check(a, b)
        return 5

    def init(self, a, b=None):
        self.check(a, b)
        return f"SUB, q0, [HEAD1]{tape(a)} [HEAD2]{tape(b)} ", "CMD q1"

    def parse_init(self, state, command):
        m = _STATE.fullmatch(state)
        if not m or m[1] != "q0" or command != "CMD q1":
            raise MalformedText(f"not a SUB q0 state: {state!r} / {command!r}")
        a, b = canonical_int(m[2]), canonical_int(m[3])
        if a < b:
            raise MalformedText(f"SUB needs a >= b: {state!r}")
        return a, b

    def callee_plan(self, a, b=None):
        self.check(a, b)
        nines = _nines(len(str(a)))
        r = nines - b
        s = a + r
        return [("reflection", nines, b), ("add", a, r), ("add", s, 1), ("left_mask", s + 1, None)]

    def _answer(self, lines):
        m = _STATE.fullmatch(lines[0])
        if not m:
            raise MalformedText(f"not a SUB state line: {lines[0]!r}")
        q, A, B = m[1], m[2], m[3]
        if lines[1] != _COMMANDS[q]:
            raise MalformedText(f"SUB {q} expects command {_COMMANDS[q]!r}, got {lines[1]!r}")
        a, b = canonical_int(A), canonical_int(B)
        fields = f"[HEAD1]{A} [HEAD2]{B} "
        if q == "q0":
            self._no_callee(lines)
            if a < b:
                raise MalformedText(f"SUB needs a >= b: {lines[0]!r}")
            return self._call(f"SUB, q1, {fields}", "reflection", "q2", _nines(len(A) // 2), b)
        if q == "q1":
            r = int(self._callee_result(lines, "REFLECTION"))
            return self._call(f"SUB, q2, {fields}", "add", "q3", a, r)
        if q == "q2":
            s = int(self._callee_result(lines, "ADD"))
            return self._call(f"SUB, q3, {fields}", "add", "q4", s, 1)
        if q == "q3":
            t = int(self._callee_result(lines, "ADD"))
            return self._call(f"SUB, q4, {fields}", "left_mask", "qH", t, None)
        result = int(self._callee_result(lines, "LEFT_MASK"))
        return [f"SUB, qH, {fields}{tape(result)}", HALT]

    def fabricated_halt(self, callee, a, b):
        """The reference's training inputs: ADD halts always show ``[C]0``; LEFT_MASK halts keep
        the zeros that the real machine strips (``{X[:n-1]}``, never the bare ``0``)."""
        if callee == "add":
            return f"ADD, qH,  {tape(a)}[HEAD1] {tape(b)}[HEAD2] [C]0 {tape(a + b)}", HALT
        if callee == "left_mask":
            X = tape(a)
            return f"LEFT_MASK, qH,  {X}[HEAD] {X[: len(X) - 2]}", HALT
        return super().fabricated_halt(callee, a, b)
