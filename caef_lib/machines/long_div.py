"""LONG_DIV: a // b (b > 0) by schoolbook long division, one dividend digit at a time
(docs/long-arithmetic.md). Its cost grows with the LENGTHS of a and b, not with the value of the
quotient as the reference DIV's does (format.md §3.5, §8.7).

Algorithm (a_{L-1} .. a_0 = digits of a, most significant first; L = len a). The remainder R
(< b between positions) and the quotient Q so far are ordinary numbers on the tape::

    R := 0, Q := 0
    for each digit a_i of a, most significant first:
        R := 10 R + a_i                       ("bring down"; PUSH = write the digit at the units end)
        c := 0
        while c < 9:                          (R < 10 b, so the digit c never exceeds 9)
            SUB_BORROW(R, b): NEG -> stop;  else R := R - b, c := c + 1
        Q := 10 Q + c
    halt with Q (and the remainder R = a mod b)

Texts (the dividend is read from its most significant end, so [HEAD1] moves LEFT over the
reversed tape: {A[:k]}[HEAD1]{A[k:]} means the k lowest digits are still to be brought down, the
next one being the digit just left of [HEAD1]; {R}, {Q} = tapes; c = the quotient digit being
counted, a plain digit as ADD's carry; one space after each state's comma)::

    q0  LONG_DIV, q0, [HEAD1]{A} [HEAD2]{B} [REM] [DIGIT] [OUTPUT]
        CMD [HEAD1] END, [REM]|0, [OUTPUT]|0, q1
    q1  LONG_DIV, q1, {A[:k]}[HEAD1]{A[k:]} [HEAD2]{B} [REM]{R} [DIGIT] [OUTPUT]{Q}        (k >= 1)
        CMD [HEAD1] LEFT, [REM] PUSH {a_(k-1)}, [DIGIT] 0, q2
    q2  LONG_DIV, q2, {A[:k]}[HEAD1]{A[k:]} [HEAD2]{B} [REM]{R} [DIGIT]{c} [OUTPUT]{Q}     (c <= 8)
        CMD [CALL] SUB_BORROW, q2   + SUB_BORROW(R, b) q0 lines
        -> halt line ends "[B]0 {D}" and c + 1 < 9:  q2 with [REM]{D} [DIGIT]{c+1} (next trial)
        -> halt line ends "[B]0 {D}" and c + 1 = 9:  q3 with [REM]{D} [DIGIT]9
        -> halt line ends "[B]1 NEG":                q3 with the same fields
    q3  LONG_DIV, q3, (fields as q2)
        CMD [OUTPUT] PUSH {c}, [DIGIT], q1        k >= 1
        CMD [OUTPUT] PUSH {c}, [DIGIT], qH        k = 0
    qH  LONG_DIV, qH, [HEAD1]{A} [HEAD2]{B} [REM]{a mod b} {Q}
        No command to execute. Halt state.

``PUSH d`` on a field means field := 10 * field + d (written canonically: PUSH 5 on |0 gives |5,
PUSH 0 on |0 keeps |0), so Q never gets leading zeros.

Model calls (exact). With t_i = number of SUB_BORROW trials at position i (q_i + 1 if the quotient
digit q_i < 9, else 9) and T = sum t_i::

    composer    num_calls(a, b) = 1 + 2L + T          (q0; per position q1, t_i x q2, q3)
    per trial SUB_BORROW(x, b) = len x + 2 + [x >= b] * (len x - len(x - b))
    total_calls(a, b) = 1 + 2L + T + sum over all trials (x, b) of the SUB_BORROW cost

Every trial has x < 10 b, so a trial costs at most 2 len(b) + 3 calls; for len a <= 200 and
len b <= 100 that bounds the total by 1 + 400 + 9 * 200 * 203 = 365,801 for ANY operands (a
random 200-by-100-digit division needs about 60,000). b = 0 raises ValueError.
"""

from __future__ import annotations

import re

from .base import Composer
from .tape import HALT, TAPE_RE, MalformedText, canonical_int, tape

_T = TAPE_RE
_Q0 = re.compile(rf"LONG_DIV, q0, \[HEAD1\]({_T}) \[HEAD2\]({_T}) \[REM\] \[DIGIT\] \[OUTPUT\]")
_QK = re.compile(
    rf"LONG_DIV, (q[123]), ((?:{_T})?)\[HEAD1\]((?:{_T})?) \[HEAD2\]({_T}) \[REM\]({_T}) \[DIGIT\](\d?) \[OUTPUT\]({_T})"
)
Q0_COMMAND = "CMD [HEAD1] END, [REM]|0, [OUTPUT]|0, q1"
Q2_COMMAND = "CMD [CALL] SUB_BORROW, q2"
MAX_DIGIT = 9


def _push(T: str, d: int) -> str:
    """tape(10 * x + d) for T = tape(x): the digit goes to the units end."""
    return f"|{d}" if T == "|0" else f"|{d}{T}"


def trials(a: int, b: int):
    """The SUB_BORROW calls of a run, in order, as (x, b) pairs (plain integer long division)."""
    if b == 0:
        raise ValueError(f"division by zero: {a} // 0")
    r = 0
    for ch in str(a):
        r = 10 * r + int(ch)
        c = 0
        while c < MAX_DIGIT:
            yield r, b
            if r < b:
                break
            r -= b
            c += 1


def sub_borrow_cost(x: int, y: int) -> int:
    """SUB_BORROW(x, y) model calls: len x + 2, plus the stripped zeros when x >= y."""
    lx = len(str(x))
    return lx + 2 + (lx - len(str(x - y)) if x >= y else 0)


def formula_total_calls(a: int, b: int) -> int:
    """The documented formula of LongDiv.total_calls (composer + all callees, no aligners)."""
    ts = list(trials(a, b))
    return 1 + 2 * len(str(a)) + len(ts) + sum(sub_borrow_cost(x, y) for x, y in ts)


def worst_case_bound(len_a: int, len_b: int) -> int:
    """An upper bound of total_calls over all a < 10^len_a, 0 < b < 10^len_b: each position makes at
    most 9 trials and each trial has x < 10 b, so it costs at most 2 (len_b + 1) + 1 calls."""
    return 1 + 2 * len_a + 9 * len_a * (2 * len_b + 3)


class LongDiv(Composer):
    name = "LONG_DIV"
    adapter = "long_div"
    # Raw text "a//b=" is shared with DIV (see LongMul.symbol): the long_div_aligner adapter maps it here.
    symbol = "//"

    def check(self, a, b=None):
        super().check(a, b)
        if b == 0:
            raise ValueError(f"division by zero: {a} // 0")

    def python_result(self, a, b=None):
        return str(a // b)

    def num_calls(self, a, b=None):
        """Composer calls: 1 + 2 len(a) + (number of SUB_BORROW trials)."""
        self.check(a, b)
        return 1 + 2 * len(str(a)) + sum(1 for _ in trials(a, b))

    def init(self, a, b=None):
        self.check(a, b)
        return f"LONG_DIV, q0, [HEAD1]{tape(a)} [HEAD2]{tape(b)} [REM] [DIGIT] [OUTPUT]", Q0_COMMAND

    def parse_init(self, state, command):
        m = _Q0.fullmatch(state)
        if not m or command != Q0_COMMAND:
            raise MalformedText(f"not a LONG_DIV q0 state: {state!r} / {command!r}")
        a, b = canonical_int(m[1]), canonical_int(m[2])
        if b == 0:
            raise MalformedText("LONG_DIV q0 state divides by zero")
        return a, b

    def callee_plan(self, a, b=None):
        self.check(a, b)
        for x, y in trials(a, b):
            yield "sub_borrow", x, y

    # ------------------------------------------------------------------ oracle
    @staticmethod
    def _fields(A: str, k: int, B: str, R: str, c: str, Q: str) -> str:
        p = 2 * k
        return f"{A[:p]}[HEAD1]{A[p:]} [HEAD2]{B} [REM]{R} [DIGIT]{c} [OUTPUT]{Q}"

    def _q1(self, A, k, B, R, Q):
        d = A[2 * k - 1]  # the digit just left of [HEAD1]
        return [
            f"LONG_DIV, q1, {self._fields(A, k, B, R, '', Q)}",
            f"CMD [HEAD1] LEFT, [REM] PUSH {d}, [DIGIT] 0, q2",
        ]

    def _q2(self, A, k, B, R, c, Q):
        return self._call(
            f"LONG_DIV, q2, {self._fields(A, k, B, R, str(c), Q)}", "sub_borrow", "q2", canonical_int(R), canonical_int(B)
        )

    def _q3(self, A, k, B, R, c, Q):
        nxt = "q1" if k else "qH"
        return [f"LONG_DIV, q3, {self._fields(A, k, B, R, str(c), Q)}", f"CMD [OUTPUT] PUSH {c}, [DIGIT], {nxt}"]

    def _answer(self, lines):
        state, command = lines[0], lines[1]
        if m := _Q0.fullmatch(state):
            self._no_callee(lines)
            A, B = m[1], m[2]
            canonical_int(A)
            if canonical_int(B) == 0:
                raise MalformedText("LONG_DIV by zero")
            if command != Q0_COMMAND:
                raise MalformedText(f"LONG_DIV q0 expects command {Q0_COMMAND!r}, got {command!r}")
            return self._q1(A, len(A) // 2, B, "|0", "|0")
        m = _QK.fullmatch(state)
        if not m:
            raise MalformedText(f"not a LONG_DIV state line: {state!r}")
        q, A1, A2, B, R, c, Q = m[1], m[2], m[3], m[4], m[5], m[6], m[7]
        A, k = A1 + A2, len(A1) // 2
        canonical_int(A)
        b = canonical_int(B)
        canonical_int(R)
        canonical_int(Q)
        if b == 0:
            raise MalformedText("LONG_DIV by zero")
        if q == "q1":
            self._no_callee(lines)
            expected = self._q1(A, k, B, R, Q) if k and c == "" else None
            if expected is None or command != expected[1]:
                raise MalformedText(f"not a LONG_DIV q1 configuration: {state!r} / {command!r}")
            return self._q2(A, k - 1, B, _push(R, int(A[2 * k - 1])), 0, Q)
        if c == "":
            raise MalformedText(f"LONG_DIV {q} needs a [DIGIT]: {state!r}")
        digit = int(c)
        if q == "q2":
            if command != Q2_COMMAND or digit >= MAX_DIGIT:
                raise MalformedText(f"not a LONG_DIV q2 configuration: {state!r} / {command!r}")
            result = self._callee_result(lines, "SUB_BORROW")
            if result == "NEG":
                return self._q3(A, k, B, R, digit, Q)
            D = tape(int(result))
            if digit + 1 == MAX_DIGIT:
                return self._q3(A, k, B, D, MAX_DIGIT, Q)
            return self._q2(A, k, B, D, digit + 1, Q)
        # q3: the quotient digit is final
        self._no_callee(lines)
        expected = self._q3(A, k, B, R, digit, Q)[1]
        if command != expected:
            raise MalformedText(f"LONG_DIV q3 expects command {expected!r}, got {command!r}")
        Q2 = _push(Q, digit)
        if k:
            return self._q1(A, k, B, R, Q2)
        return [f"LONG_DIV, qH, [HEAD1]{A} [HEAD2]{B} [REM]{R} {Q2}", HALT]
