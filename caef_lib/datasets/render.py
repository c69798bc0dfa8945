"""Rendering the training texts of one problem without running the whole machine.

The writer needs only a few transitions of each problem (format.md §6.3 keeps 5–9 per problem), so
everything here renders transition j directly:

* basic machines: ``machine.step(a, b, j)`` (O(length)) — sample j is (step j, step j + 1);
* MUL and DIV: `MulDivRenderer` computes the composer's state at transition j in closed form (count,
  product / quotient are arithmetic functions of j), so a problem with b = 10**99 (the reference's
  ``--max 100`` classes: 3b - 1 transitions) costs the same as b = 3. Tests check it equals
  ``machine.transitions`` for every small problem, in both ``callee_halts`` modes;
* other composers (SUB with 5 transitions, the digit-wise long_mul / long_div): the machine's own
  ``transitions`` list, computed once per problem.

The texts contain only the machines' alphabet (no ``"``, ``\\``, control characters or non-ASCII
besides ``\\n``), which is what lets `writer.fast_line` build JSON by hand.
"""
from __future__ import annotations

from functools import lru_cache

from ..machines import HALT, get
from ..machines.tape import tape

CALLEE_HALTS = ("runtime", "reference")


def is_composer(op: str) -> bool:
    return get(op).is_composer


def num_transitions(op: str, a: int, b: int | None) -> int:
    """Model calls of the machine itself (= number of executor training pairs of the problem)."""
    return get(op).num_calls(a, b)


def final_text(op: str, a: int, b: int | None) -> str:
    """The executor's last answer: ``<qH state>\\n<halt>`` + ``\\n`` for basic machines (composer answers
    have no trailing newline). This is the aligner(O) prompt and the executor-only test response."""
    m = get(op)
    if op in _DIRECT:
        state, command = _DIRECT[op].halt(a, b)
        return f"{state}\n{command}"
    state, command = m.halt_lines(a, b)
    return f"{state}\n{command}" + ("" if m.is_composer else "\n")


def init_text(op: str, a: int, b: int | None) -> str:
    """The q0 text ``<state>\\n<command>\\n`` (aligner(I) answer, executor-only test prompt)."""
    state, command = get(op).init(a, b)
    return f"{state}\n{command}\n"


# ----------------------------------------------------------------------------------- ADD fast path
ADD_Q0_COMMAND = "CMD: [C] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1"


def add_lines(a: int, b: int, js: list[int]) -> list[str]:
    """The JSONL lines of ADD executor samples ``js`` of problem (a, b), rendered in one go.

    Same texts as ``machines.add.Add.step`` (tests compare every step of many problems and whole files), but
    the per-problem strings are built once and each step's text is rendered at most once; this is the hot
    loop of the README-size benchmark (1.19 M samples)."""
    sa, sb, ss = str(a), str(b), str(a + b)
    ra, rb, rs = sa[::-1], sb[::-1], ss[::-1]
    A, B, S = "|" + "|".join(ra), "|" + "|".join(rb), "|" + "|".join(rs)
    la, lb, ls = len(sa), len(sb), len(ss)
    L = max(la, lb)
    texts: dict[int, str] = {}

    def text(j: int) -> str:
        t = texts.get(j)
        if t is not None:
            return t
        if j == 0:
            t = f"ADD, q0, [HEAD1] {A}[HEAD2] {B} [C] [OUTPUT]\\n{ADD_Q0_COMMAND}\\n"
        elif j == L + 2:
            t = f"ADD, qH,  {A}[HEAD1] {B}[HEAD2] [C]{1 if ls > L else 0} {S}\\n{HALT}\\n"
        else:
            i = j - 1
            x = ord(ra[i]) - 48 if i < la else 0
            y = ord(rb[i]) - 48 if i < lb else 0
            c = (ord(rs[i]) - 48 - x - y) % 10 if i < ls else 0
            k = 2 * i
            state = f"ADD, q1,  {A[:k]}[HEAD1]{A[k:]} {B[:k]}[HEAD2]{B[k:]} [C]{c} {S[:k]}[OUTPUT]"
            if i == L:
                t = f"{state}\\nCMD: [OUTPUT] {c}, [OUTPUT], [C], qH\\n"
            else:
                v = x + y + c
                heads = ("[HEAD1] RIGHT, " if i < la else "") + ("[HEAD2] RIGHT, " if i < lb else "")
                t = f"{state}\\nCMD: [C] {v // 10}, [OUTPUT] {v % 10}, [OUTPUT] RIGHT, {heads}q1\\n"
        texts[j] = t
        return t

    return ['{"prompt": "' + text(j) + '", "response": "' + text(j + 1) + '"}\n' for j in js]


def add_num_transitions(a: int, b: int) -> int:
    return max(len(str(a)), len(str(b))) + 2


# ----------------------------------------------------------------------------------- MUL / DIV
class MulDivRenderer:
    """Transition j of MUL or DIV in O(length), for both callee_halts modes.

    MUL (count K, product P; transitions 3b - 1, b >= 1; b = 0: 2)::
        t0        q0                               -> q1(1, a)      + LESS_THAN(1, b)
        t3m+1     q1(m+1, (m+1)a) + LT halt        -> q2(...)       + ADD(a, P)      | qH when m+1 = b
        t3m+2     q2(m+1, (m+1)a) + ADD halt       -> q3(m+1, (m+2)a) + ADD(m+1, 1)
        t3m+3     q3(m+1, (m+2)a) + ADD halt       -> q1(m+2, (m+2)a) + LESS_THAN(m+2, b)
    DIV (count K = (m+1)b, quotient Q = m; transitions 3q + 2)::
        t0        q0                               -> q1(b, 0)      + GREATER_THAN(b, a)
        t3m+1     q1((m+1)b, m) + GT halt          -> q2(...)       + ADD(m, 1)      | qH when (m+1)b > a
        t3m+2     q2((m+1)b, m) + ADD halt         -> q3((m+1)b, m+1) + ADD(b, (m+1)b)
        t3m+3     q3((m+1)b, m+1) + ADD halt       -> q1((m+2)b, m+1) + GREATER_THAN((m+2)b, a)
    """

    def __init__(self, op: str):
        self.op = op
        self.machine = get(op)
        self.name = self.machine.name
        self.compare = "less_than" if op == "mul" else "greater_than"
        self._cmp_cmd = f"CMD [CALL] {get(self.compare).name}, q2"

    # texts --------------------------------------------------------------------------------------
    def _state(self, q: str, A: str, B: str, k: int, v: int) -> str:
        return f"{self.name}, {q}, [HEAD1]{A} [HEAD2]{B} [COUNT]{tape(k)} [OUTPUT]{tape(v)}"

    @staticmethod
    def _init(callee: str, x: int, y: int | None) -> str:
        s, c = get(callee).init(x, y)
        return f"{s}\n{c}"

    def _halt(self, callee: str, x: int, y: int | None, mode: str) -> str:
        if mode == "runtime":
            s, c = get(callee).halt_lines(x, y)
        else:
            s, c = self.machine.fabricated_halt(callee, x, y)
        return f"{s}\n{c}"

    def halt(self, a: int, b: int) -> tuple[str, str]:
        A, B = tape(a), tape(b)
        if self.op == "mul":
            k = max(b, 1)
            product = int(self.machine.python_result(a, b))  # a * b (a * 0 = a with the reference's b = 0 bug)
            return f"MUL, qH, [HEAD1]{A} [HEAD2]{B} [COUNT]{tape(k)} {tape(product)}", HALT
        q = a // b
        return f"DIV, qH, [HEAD1]{A} [HEAD2]{B} [COUNT]{tape((q + 1) * b)} {tape(q)}", HALT

    def transition(self, a: int, b: int, j: int, mode: str = "runtime") -> tuple[str, str]:
        """(input, output) of transition j."""
        n = self.machine.num_calls(a, b)
        if not 0 <= j < n:
            raise ValueError(f"{self.name} transition {j} out of range 0..{n - 1}")
        A, B = tape(a), tape(b)
        if j == 0:
            s0, c0 = self.machine.init(a, b)
            if self.op == "mul":
                out = f"{self._state('q1', A, B, 1, a)}\n{self._cmp_cmd}\n{self._init('less_than', 1, b)}"
            else:
                out = f"{self._state('q1', A, B, b, 0)}\n{self._cmp_cmd}\n{self._init('greater_than', b, a)}"
            return f"{s0}\n{c0}\n", out
        m, r = divmod(j - 1, 3)
        if self.op == "mul":
            k = m + 1
            if r == 0:    # q1 + LESS_THAN(k, b) halt
                inp = f"{self._state('q1', A, B, k, k * a)}\n{self._cmp_cmd}\n{self._halt('less_than', k, b, mode)}\n"
                if k < b:
                    out = f"{self._state('q2', A, B, k, k * a)}\nCMD [CALL] ADD, q3\n{self._init('add', a, k * a)}"
                else:
                    s, c = self.halt(a, b)
                    out = f"{s}\n{c}"
                return inp, out
            if r == 1:    # q2 + ADD(a, ka) halt
                inp = f"{self._state('q2', A, B, k, k * a)}\nCMD [CALL] ADD, q3\n{self._halt('add', a, k * a, mode)}\n"
                out = f"{self._state('q3', A, B, k, (k + 1) * a)}\nCMD [CALL] ADD, q1\n{self._init('add', k, 1)}"
                return inp, out
            inp = f"{self._state('q3', A, B, k, (k + 1) * a)}\nCMD [CALL] ADD, q1\n{self._halt('add', k, 1, mode)}\n"
            out = f"{self._state('q1', A, B, k + 1, (k + 1) * a)}\n{self._cmp_cmd}\n{self._init('less_than', k + 1, b)}"
            return inp, out
        K = (m + 1) * b
        if r == 0:        # q1 + GREATER_THAN(K, a) halt
            inp = f"{self._state('q1', A, B, K, m)}\n{self._cmp_cmd}\n{self._halt('greater_than', K, a, mode)}\n"
            if K > a:
                s, c = self.halt(a, b)
                out = f"{s}\n{c}"
            else:
                out = f"{self._state('q2', A, B, K, m)}\nCMD [CALL] ADD, q3\n{self._init('add', m, 1)}"
            return inp, out
        if r == 1:        # q2 + ADD(m, 1) halt
            inp = f"{self._state('q2', A, B, K, m)}\nCMD [CALL] ADD, q3\n{self._halt('add', m, 1, mode)}\n"
            out = f"{self._state('q3', A, B, K, m + 1)}\nCMD [CALL] ADD, q1\n{self._init('add', b, K)}"
            return inp, out
        inp = f"{self._state('q3', A, B, K, m + 1)}\nCMD [CALL] ADD, q1\n{self._halt('add', b, K, mode)}\n"
        out = f"{self._state('q1', A, B, K + b, m + 1)}\n{self._cmp_cmd}\n{self._init('greater_than', K + b, a)}"
        return inp, out


_DIRECT: dict[str, MulDivRenderer] = {op: MulDivRenderer(op) for op in ("mul", "div")}


@lru_cache(maxsize=64)
def _all_transitions(op: str, a: int, b: int | None, mode: str) -> tuple[tuple[str, str], ...]:
    return tuple(get(op).transitions(a, b, callee_halts=mode))


def composer_transition(op: str, a: int, b: int | None, j: int, mode: str = "runtime") -> tuple[str, str]:
    """(input, output) of composer transition j (input ends with ``\\n``, output does not)."""
    if mode not in CALLEE_HALTS:
        raise ValueError(f"callee_halts must be one of {CALLEE_HALTS}, got {mode!r}")
    r = _DIRECT.get(op)
    if r is not None:
        return r.transition(a, b, j, mode)
    return _all_transitions(op, a, b, mode)[j]
