"""The five Leave-Square-Out tasks of Hu et al. (ICML 2024): grids, question and answer texts, scratchpad traces.

    task = TASKS["addition"]
    task.cells()                       # [(a, b), ...] in the released id order
    task.record(4041, 40, 41)          # {"id": 4041, "question": "40+41=", "a": 40, "b": 41, "answers": ["81"]}
    task.record(4041, 40, 41, scratchpad=True)["answers"][0]   # "40+41,,C:0\\n4+4,1,C:0\\n+,81,C:0\\n81"

Texts are those of the released data (../shared/reference/case_or_rule/spec.md, section a): the model sees
`question + answer` with nothing in between. `a` is the first operand and the row of every heatmap, `b` the
second and the column. Rabbits and chickens: `a` = legs, `b` = heads, and squares live in the (legs/2, heads)
plane (`square_xy`). Quirks of the released generators are kept on purpose (each is named where it happens):
modular-addition direct answers are JSON integers; base-9 scratchpads sometimes repeat their last line.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

RABBITS_QUESTION = ("Rabbits have 4 legs and 1 head. Chickens have 2 legs and 1 head. There are {legs} legs and "
                    "{heads} heads on the farm. How many rabbits and chickens are there?")
RABBITS_ANSWER = "There are {rabbits} rabbits and {chickens} chickens."
MODULUS = 113


def base9(n: int) -> str:
    digits = ""
    while True:
        digits = str(n % 9) + digits
        n //= 9
        if n == 0:
            return digits


def addition_trace(x: str, y: str, base: int = 10, lines: int | None = None) -> list[str]:
    """The scratchpad lines of `x+y` (digit strings in `base`): `<rest of x>+<rest of y>,<partial>,C:<carry>`,
    one line per digit of the sum plus one, then the sum. `lines` overrides the number of trace lines (the
    base-9 quirk); lines past the end repeat `+,<sum>,C:0`."""
    sum_digits = len(_in_base(int(x, base) + int(y, base), base))
    n = sum_digits + 1 if lines is None else lines
    out, partial, carry = [f"{x}+{y},,C:0"], "", 0
    while len(out) < n:
        dx, dy = (int(x[-1]) if x else 0), (int(y[-1]) if y else 0)
        if not x and not y and not carry:
            out.append(f"+,{partial},C:0")  # only the base-9 quirk gets here
            continue
        total = dx + dy + carry
        partial, carry = str(total % base) + partial, total // base
        x, y = x[:-1], y[:-1]
        out.append(f"{x}+{y},{partial},C:{carry}")
    return out + [partial.lstrip("0") or "0"]


def _in_base(n: int, base: int) -> str:
    return str(n) if base == 10 else base9(n)


def subtraction_trace(s: str, m: str) -> list[str]:
    """The modular scratchpad's `s-113` part: `<rest of s>-<rest of m>,<partial>,C:<borrow>` (borrow 0 or -1),
    then the residue without leading zeros."""
    out, partial, borrow = [f"{s}-{m},,C:0"], "", 0
    while s or m:
        ds, dm = (int(s[-1]) if s else 0), (int(m[-1]) if m else 0)
        d = ds - dm + borrow
        borrow = -1 if d < 0 else 0
        partial = str(d % 10) + partial
        s, m = s[:-1], m[:-1]
        out.append(f"{s}-{m},{partial},C:{borrow}")
    return out + [partial.lstrip("0") or "0"]


@dataclass(frozen=True)
class Task:
    name: str
    size: int                                   # operands (or heads) in 0..size-1
    question: Callable[[int, int], str]
    answer: Callable[[int, int], object]        # a str, or an int for modular addition (as released)
    scratchpad: Callable[[int, int], str] | None = None

    def cells(self) -> list[tuple[int, int]]:
        """Every (a, b) of the grid in id order: a cell's id is its index here (= a*size + b on the square
        grids; rabbits: heads outer, legs inner, a = legs, b = heads)."""
        if self.name == "rabbits_and_chickens":
            return [(legs, heads) for heads in range(self.size) for legs in range(2 * heads, 4 * heads + 1, 2)]
        return [(a, b) for a in range(self.size) for b in range(self.size)]

    def square_xy(self, a: int, b: int) -> tuple[int, int]:
        """Where a cell lies in the plane squares are drawn in: (a, b), or (legs/2, heads) for rabbits."""
        return (a // 2, b) if self.name == "rabbits_and_chickens" else (a, b)

    @property
    def grid_shape(self) -> tuple[int, int]:
        """The shape of a per-cell array indexed [x, y] (`square_xy`): rabbits' legs/2 go up to 2 x 99."""
        return (2 * self.size - 1, self.size) if self.name == "rabbits_and_chickens" else (self.size, self.size)

    def record(self, id_: int, a: int, b: int, scratchpad: bool = False) -> dict:
        """One released record: id (the cell's index in `cells()`), question, a, b, answers (rabbits: answers
        before a and b); `_cot`: the trace in answers and the plain answer in `gt`."""
        q = self.question(a, b)
        if scratchpad:
            if self.scratchpad is None:
                raise ValueError(f"the task {self.name} has no scratchpad format (released for addition, "
                                 f"base_addition and mod_addition only)")
            return {"id": id_, "question": q, "a": a, "b": b, "answers": [self.scratchpad(a, b)],
                    "gt": self.answer(a, b)}
        if self.name == "rabbits_and_chickens":
            return {"id": id_, "question": q, "answers": [self.answer(a, b)], "a": a, "b": b}
        return {"id": id_, "question": q, "a": a, "b": b, "answers": [self.answer(a, b)]}


def _base_scratchpad(a: int, b: int) -> str:
    x, y = base9(a), base9(b)
    # Released quirk: the line count is taken from the base-9 strings read as decimal numbers.
    lines = len(base9(int(x) + int(y))) + 1
    return "\n".join(addition_trace(x, y, base=9, lines=lines))


def _mod_scratchpad(a: int, b: int) -> str:
    lines = addition_trace(str(a), str(b))
    s = a + b
    if s < MODULUS:
        lines += [f"{s}<{MODULUS}", str(s)]
    else:
        lines += [f"{s}>={MODULUS}", f"{s}-{MODULUS}="] + subtraction_trace(str(s), str(MODULUS))
    return "\n".join(lines)


TASKS: dict[str, Task] = {t.name: t for t in (
    Task("addition", 100, lambda a, b: f"{a}+{b}=", lambda a, b: str(a + b),
         lambda a, b: "\n".join(addition_trace(str(a), str(b)))),
    Task("mod_addition", MODULUS, lambda a, b: f"{a}+{b}=", lambda a, b: (a + b) % MODULUS, _mod_scratchpad),
    Task("base_addition", 100, lambda a, b: f"{base9(a)}+{base9(b)}=", lambda a, b: base9(a + b),
         _base_scratchpad),
    Task("linear_regression", 100, lambda a, b: f"({a},{b})=", lambda a, b: str(a + 2 * b + 3)),
    Task("rabbits_and_chickens", 100, lambda legs, heads: RABBITS_QUESTION.format(legs=legs, heads=heads),
         lambda legs, heads: RABBITS_ANSWER.format(rabbits=(legs - 2 * heads) // 2,
                                                   chickens=(4 * heads - legs) // 2)),
)}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; tasks: {', '.join(TASKS)}")
    return TASKS[name]
