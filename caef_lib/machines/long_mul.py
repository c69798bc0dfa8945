"""LONG_MUL: a * b by schoolbook long multiplication, one multiplier digit at a time
(docs/long-arithmetic.md). Its cost grows with the LENGTHS of a and b, not with the value of b
as the reference MUL's does (format.md §3.4, §8.7).

Algorithm (b_j = digit j of b, units first; n = len a, m = len b). An accumulator R (< a) holds
the part of the running sum above the digits already final; the final digits O grow one per
multiplier digit, units first::

    R := 0, O := ""
    for j = 0 .. m-1:
        S := R + a * b_j            (b_j != 0: MUL_DIGIT(a, b_j), then ADD(R, that product))
        S := R                      (b_j == 0: nothing to add, no call)
        O := O + (lowest digit of S);  R := S div 10
    product := O followed by the digits of R (R = 0: just O)

Because R < a at every step (R <= (a - 1 + 9a) div 10), the product has no leading zeros once
a, b != 0; a = 0 or b = 0 halt at once with |0.

Texts ({B[:j]}[HEAD2]{B[j:]} shows the next multiplier digit right after [HEAD2]; {R} = tape(R);
{O} = the final digits, units first; every state line has ONE space after the state's comma, as in
the reference composers)::

    q0  LONG_MUL, q0, [HEAD1]{A} [HEAD2]{B} [ACC] [OUTPUT]
        CMD [ACC]|0, q1                                   (a, b != 0)
        CMD [OUTPUT]|0, qH                                (a = 0 or b = 0)
    q1  LONG_MUL, q1, [HEAD1]{A} {B[:j]}[HEAD2]{B[j:]} [ACC]{R} [OUTPUT]{O}
        CMD [CALL] MUL_DIGIT, q2  + MUL_DIGIT(a, b_j) q0 lines            j < m, b_j != 0
        CMD [HEAD2] RIGHT, [OUTPUT] {r_0}, [OUTPUT] RIGHT, [ACC] SHIFT, q1      j < m, b_j = 0
                                                   (r_0 = lowest digit of R; SHIFT: R := R div 10)
        CMD [OUTPUT]{R}, qH                                               j = m, R != 0
        CMD [OUTPUT], qH                                                  j = m, R = 0
    q2  LONG_MUL, q2, (the fields of q1)
        CMD [CALL] ADD, q1        + ADD(R, a * b_j) q0 lines; a * b_j is copied from the MUL_DIGIT
                                    halt line (the last token of prompt line 3)
        -> next q1: [HEAD2] one digit right, [ACC]{S div 10} [OUTPUT]{O}|{s_0}, with S copied from
           the ADD halt line (its last token)
    qH  LONG_MUL, qH, [HEAD1]{A} {B}[HEAD2] [ACC]{R} {P}              P = tape(a * b)
        LONG_MUL, qH, [HEAD1]{A} [HEAD2]{B} [ACC] |0                  (a = 0 or b = 0)
        No command to execute. Halt state.

Model calls (exact). a = 0 or b = 0: 1. Otherwise, with z = number of zero digits of b::

    composer    num_calls(a, b) = 2 + m + (m - z)        (q0, one or two steps per digit, the halt step)
    per non-zero digit d of b:  MUL_DIGIT(a, d) = n + 2,  ADD(R, a*d) = len(a*d) + 2
                                (len R <= n <= len(a*d), so ADD runs over len(a*d) columns)
    total_calls(a, b) = 2 + m + (m - z) + sum_{non-zero digits d of b} (n + 4 + len(a*d))

which is at most 2 + 2m + m(2n + 5): 20,702 for 100-digit x 100-digit operands (+ 2 aligner calls
in a full process).
"""

from __future__ import annotations

import re

from .base import Composer
from .tape import HALT, TAPE_RE, MalformedText, canonical_int, tape

_T = TAPE_RE
_Q0 = re.compile(rf"LONG_MUL, q0, \[HEAD1\]({_T}) \[HEAD2\]({_T}) \[ACC\] \[OUTPUT\]")
_QK = re.compile(
    rf"LONG_MUL, (q[12]), \[HEAD1\]({_T}) ((?:{_T})?)\[HEAD2\]((?:{_T})?) \[ACC\]({_T}) \[OUTPUT\]((?:{_T})?)"
)
Q2_COMMAND = "CMD [CALL] ADD, q1"


def _q0_command(a: int, b: int) -> str:
    return "CMD [OUTPUT]|0, qH" if a == 0 or b == 0 else "CMD [ACC]|0, q1"


def formula_total_calls(a: int, b: int) -> int:
    """The documented closed form of LongMul.total_calls (composer + all callees, no aligners)."""
    if a == 0 or b == 0:
        return 1
    n, digits = len(str(a)), [int(ch) for ch in str(b)]
    m = len(digits)
    nonzero = [d for d in digits if d]
    return 2 + m + len(nonzero) + sum(n + 4 + len(str(a * d)) for d in nonzero)


class LongMul(Composer):
    name = "LONG_MUL"
    adapter = "long_mul"
    # Raw text "a*b=" is shared with MUL: parse_expression() maps "*" to MUL (registered first); the
    # long_mul_aligner adapter (aligner.input_to_tm(text, op="long_mul")) emits the LONG_MUL q0 lines.
    symbol = "*"

    def python_result(self, a, b=None):
        return str(a * b)

    def num_calls(self, a, b=None):
        """Composer calls: 1 if a = 0 or b = 0, else 2 + m + (number of non-zero digits of b)."""
        self.check(a, b)
        if a == 0 or b == 0:
            return 1
        sb = str(b)
        return 2 + len(sb) + sum(ch != "0" for ch in sb)

    def init(self, a, b=None):
        self.check(a, b)
        A = tape(a)
        return f"LONG_MUL, q0, [HEAD1]{A} [HEAD2]{tape(b)} [ACC] [OUTPUT]", _q0_command(a, b)

    def parse_init(self, state, command):
        m = _Q0.fullmatch(state)
        if not m:
            raise MalformedText(f"not a LONG_MUL q0 state: {state!r}")
        a, b = canonical_int(m[1]), canonical_int(m[2])
        if command != _q0_command(a, b):
            raise MalformedText(f"not a LONG_MUL q0 command: {command!r}")
        return a, b

    def callee_plan(self, a, b=None):
        self.check(a, b)
        if a == 0 or b == 0:
            return
        r = 0
        for ch in reversed(str(b)):
            d = int(ch)
            s = r
            if d:
                yield "mul_digit", a, d
                yield "add", r, a * d
                s = r + a * d
            r = s // 10

    # ------------------------------------------------------------------ oracle
    def _q1(self, a: int, A: str, B: str, j: int, R: str, O: str) -> list[str]:
        """The q1 element (state, command[, callee init]) for multiplier position j."""
        k = 2 * j
        state = f"LONG_MUL, q1, [HEAD1]{A} {B[:k]}[HEAD2]{B[k:]} [ACC]{R} [OUTPUT]{O}"
        if k == len(B):
            return [state, f"CMD [OUTPUT]{R}, qH" if R != "|0" else "CMD [OUTPUT], qH"]
        d = int(B[k + 1])
        if d:
            return self._call(state, "mul_digit", "q2", a, d)
        return [state, f"CMD [HEAD2] RIGHT, [OUTPUT] {R[1]}, [OUTPUT] RIGHT, [ACC] SHIFT, q1"]

    @staticmethod
    def _shift(S: str) -> str:
        """The accumulator after the lowest digit of S is final: S div 10 (|0 if nothing is left)."""
        return S[2:] or "|0"

    def _answer(self, lines):
        state, command = lines[0], lines[1]
        if m := _Q0.fullmatch(state):
            self._no_callee(lines)
            A, B = m[1], m[2]
            a, b = canonical_int(A), canonical_int(B)
            expected = _q0_command(a, b)
            if command != expected:
                raise MalformedText(f"LONG_MUL q0 expects command {expected!r}, got {command!r}")
            if a == 0 or b == 0:
                return [f"LONG_MUL, qH, [HEAD1]{A} [HEAD2]{B} [ACC] |0", HALT]
            return self._q1(a, A, B, 0, "|0", "")
        m = _QK.fullmatch(state)
        if not m:
            raise MalformedText(f"not a LONG_MUL state line: {state!r}")
        q, A, B1, B2, R, O = m[1], m[2], m[3], m[4], m[5], m[6]
        B = B1 + B2
        a, b, r = canonical_int(A), canonical_int(B), canonical_int(R)
        if a == 0 or b == 0:
            raise MalformedText(f"LONG_MUL with a zero operand halts at q0: {state!r}")
        j = len(B1) // 2
        if q == "q1":
            expected = self._q1(a, A, B, j, R, O)
            if command != expected[1]:
                raise MalformedText(f"LONG_MUL q1 expects command {expected[1]!r}, got {command!r}")
            if command.startswith("CMD [CALL] "):
                product = self._callee_result(lines, "MUL_DIGIT")
                return self._call(f"LONG_MUL, q2, [HEAD1]{A} {B1}[HEAD2]{B2} [ACC]{R} [OUTPUT]{O}", "add", "q1", r, int(product))
            self._no_callee(lines)
            if command.startswith("CMD [HEAD2] RIGHT"):  # zero digit: shift the accumulator
                return self._q1(a, A, B, j + 1, self._shift(R), O + R[:2])
            P = O + R if R != "|0" else O
            return [f"LONG_MUL, qH, [HEAD1]{A} {B}[HEAD2] [ACC]{R} {P}", HALT]
        # q2: the ADD result S = R + a * b_j is in the callee halt line
        if command != Q2_COMMAND:
            raise MalformedText(f"LONG_MUL q2 expects command {Q2_COMMAND!r}, got {command!r}")
        if j >= len(B) // 2:
            raise MalformedText(f"LONG_MUL q2 past the end of the multiplier: {state!r}")
        S = tape(int(self._callee_result(lines, "ADD")))
        return self._q1(a, A, B, j + 1, self._shift(S), O + S[:2])
