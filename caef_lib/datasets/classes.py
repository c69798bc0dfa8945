"""Equivalence classes, balancing and operand sampling (format.md §6.4).

A training problem belongs to the class (len a, len b). For every operator the reference loops over the
classes with both lengths in [min, max] and draws a number of problems per class given by its "balance"
proportioner (base k = ``--num``); the kit reproduces the loop and the proportioner exactly
(`class_counts`, checked against the README totals: 170,400 add problems for ``--min 1 --max 100 --num 20``).

What the kit does differently (format.md §8.11): every (seed, operator, split, class) has its own
random stream, ``random.Random("caef-traces/v1/<seed>/<op>/<split>/<la>x<lb>/operands")``, so

* train and test come from independent streams (the reference seeds the operand RNG with 42 in both);
* test problems that also occur in the train set of the same class are rejected and redrawn
  (`draw_class`, ``exclude=``): a problem's class is determined by its operand lengths, so only the train
  problems of that one class have to be regenerated to check a test problem;
* a class can be generated alone, in any process, in any order: the output does not depend on how the
  work is split between worker processes.

Operand rules per operator (index i = position of the problem in its class):

* n-digit number: ``randint(10**(n-1), 10**n - 1)``, ``randint(0, 9)`` for n = 1 (0 is possible).
* sub: swapped so that a >= b. div: b redrawn while 0 and, like the reference, while a // b >= 10**6.
* equal / greater_than / less_than: in a class with len a = len b every even-indexed problem has a = b.
* reflection: a = 10**la - 1; in an equal-length class every even index is followed by an extra problem
  whose b starts with a random number of 9s (so the complement has leading zeros to strip).
* left_mask (one operand; class (n, 0)): even indices get zeros right after the leading digit, odd ones
  are plain random numbers (1-digit classes are plain numbers; the reference crashes on them).
* mul: b = 0 can occur in 1-digit classes, as in the reference (the kit's MUL machine halts with 0).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable, Iterable

STREAM_VERSION = "caef-traces/v1"

# The reference's own operators plus the digit-wise composers the kit adds.
REFERENCE_OPS = ("add", "sub", "mul", "div", "equal", "greater_than", "less_than", "reflection", "left_mask")
# The kit's digit-wise composers and their two helper machines (docs/long-arithmetic.md).
EXTRA_OPS = ("long_mul", "long_div", "mul_digit", "sub_borrow")
ALL_OPS = REFERENCE_OPS + EXTRA_OPS
ONE_OPERAND = ("left_mask",)
# Problems (a, b) with len b <= len a only.
B_NOT_LONGER = ("sub", "reflection")

DIV_MAX_QUOTIENT = 10**6  # the reference rejects a // b >= 10**6 (format.md §6.4)
MAX_TRIES = 50            # redraws of one problem (div: b = 0 / quotient bound; test: overlap)


Class = tuple[int, int]  # (len a, len b); len b = 0 for one-operand machines


def class_name(c: Class) -> str:
    return f"{c[0]}" if c[1] == 0 else f"{c[0]}x{c[1]}"


def stream(seed: int, op: str, split: str, c: Class | str, purpose: str) -> random.Random:
    """The random stream of one (seed, operator, split, class, purpose). Seeding with a string uses SHA-512
    of the text, which is stable across Python processes, platforms and PYTHONHASHSEED."""
    key = class_name(c) if isinstance(c, tuple) else c
    return random.Random(f"{STREAM_VERSION}/{seed}/{op}/{split}/{key}/{purpose}")


# --------------------------------------------------------------------------------------- balancing
def class_count(op: str, la: int, lb: int, k: int, lo: int, hi: int) -> int:
    """Problems in class (la, lb) with base k: the reference's "balance" proportioner (format.md §6.4).

    reflection and left_mask count the problems actually produced (reflection: 2k, plus one extra problem
    per even index, when the lengths are equal; left_mask: k // 2 pairs)."""
    if op == "add":
        c = k
        if la > 10 and lb > 10 and max(la, lb) / min(la, lb) > 1.5:
            c = k // 2
        if la <= 10 and lb <= 10:
            c = k * 10
        return c
    if op == "sub":
        c = k
        if la > 10 and lb > 10 and la / lb > 1.5:
            c = k // 2
        if la <= 10 and lb < 10:
            c = k * 5
        return c
    if op in ("mul", "long_mul"):
        return k * 2 if (la <= 10 or lb <= 10) else k
    if op == "long_div":  # kit rule: no quotient bound, so every la >= lb class is used
        if la < lb:
            return 5
        return k * 2 if la <= 10 else k
    if op == "div":
        if la < lb:
            return 5
        d = la - lb
        if d > 5:
            return 0
        if d <= 2:
            return k * 2
        if d > 3:
            return k // 2
        return k
    if op == "equal":
        if la == lb:
            return k * 10 * (10 if la <= 10 else 1)
        return math.ceil(k * 10 / (hi - lo + 1))
    if op in ("greater_than", "less_than"):
        return k * 10 if (la <= 5 and lb <= 5) else k
    if op == "reflection":
        return 3 * k if la == lb else k  # 2k problems + one extra per even index
    if op == "left_mask":
        return 2 * max(1, k // 2)  # k // 2 pairs (at least one: the reference writes none for k = 1)
    if op == "mul_digit":  # kit rule: one class per length, so 10k problems each
        return k * 10
    if op == "sub_borrow":  # kit rule: the lengths long division produces most (|la - lb| <= 1) get 5k
        return k * 5 if abs(la - lb) <= 1 else max(1, k // 4)
    raise ValueError(f"no class balancing for operator {op!r}")


def classes(op: str, lo: int, hi: int) -> list[Class]:
    """The classes of one operator in the reference's loop order (a's length outer, b's inner)."""
    if op in ONE_OPERAND:
        return [(n, 0) for n in range(lo, hi + 1)]
    if op in B_NOT_LONGER:
        return [(la, lb) for la in range(lo, hi + 1) for lb in range(lo, la + 1)]
    if op == "mul_digit":  # a times one digit 1..9
        return [(n, 1) for n in range(lo, hi + 1)]
    if op == "sub_borrow":  # trial subtractions of long division: x has at most one digit more than y
        return [(la, lb) for la in range(lo, hi + 1) for lb in range(lo, hi + 1) if la <= lb + 1]
    return [(la, lb) for la in range(lo, hi + 1) for lb in range(lo, hi + 1)]


def class_counts(op: str, lo: int, hi: int, k: int) -> list[tuple[Class, int]]:
    """(class, number of problems) for every class with at least one problem."""
    out = []
    for c in classes(op, lo, hi):
        n = class_count(op, c[0], c[1], k, lo, hi)
        if n > 0:
            out.append((c, n))
    return out


# --------------------------------------------------------------------------------------- operands
def number(rng: random.Random, n: int) -> int:
    """A random n-digit number (the reference's rule: 0..9 for one digit)."""
    if n <= 1:
        return rng.randint(0, 9)
    return rng.randint(10 ** (n - 1), 10**n - 1)


def _zeros_after_lead(rng: random.Random, n: int) -> int:
    """An n-digit number whose leading digit is followed by 1..n-1 zeros, then random digits."""
    if n <= 1:
        return number(rng, 1)
    z = rng.randint(1, n - 1)
    rest = n - 1 - z
    tail = rng.randint(0, 10**rest - 1) if rest else 0
    return rng.randint(1, 9) * 10 ** (n - 1) + tail


def _nines_led(rng: random.Random, n: int) -> int:
    """An n-digit number starting with a random number (1..n) of 9s."""
    m = rng.randint(1, n)
    rest = n - m
    tail = rng.randint(0, 10**rest - 1) if rest else 0
    return (10**m - 1) * 10**rest + tail


Problem = tuple[int, "int | None"]


def draw_problem(op: str, la: int, lb: int, i: int, rng: random.Random, extra: bool = False) -> Problem:
    """Problem number i of class (la, lb). ``extra`` = the reflection's additional nines-led problem."""
    if op == "left_mask":
        return (_zeros_after_lead(rng, la) if i % 2 == 0 else number(rng, la)), None
    if op == "reflection":
        a = 10**la - 1
        b = _nines_led(rng, lb) if extra else number(rng, lb)
        return a, b
    if op in ("equal", "greater_than", "less_than") and la == lb and i % 2 == 0:
        a = number(rng, la)
        return a, a
    if op == "mul_digit":
        return number(rng, la), rng.randint(1, 9)
    if op in ("div", "long_div"):
        a = number(rng, la)
        bound = DIV_MAX_QUOTIENT if op == "div" else None
        for _ in range(MAX_TRIES):
            b = number(rng, lb)
            if b != 0 and (bound is None or a // b < bound):
                return a, b
        raise ValueError(f"{op}: no divisor of {lb} digits for a {la}-digit dividend after {MAX_TRIES} draws")
    a, b = number(rng, la), number(rng, lb)
    if op == "sub" and a < b:
        a, b = b, a
    return a, b


def _slots(op: str, la: int, lb: int, count: int) -> Iterable[tuple[int, bool]]:
    """(index, extra) of the problems of a class, in order."""
    if op == "reflection" and la == lb:
        i, made = 0, 0
        while made < count:
            yield i, False
            made += 1
            if i % 2 == 0 and made < count:
                yield i, True
                made += 1
            i += 1
    else:
        for i in range(count):
            yield i, False


@dataclass
class ClassDraw:
    problems: list[Problem]
    rejected: int = 0    # draws refused because the problem is in the excluded (train) set
    shortfall: int = 0   # problems not produced: MAX_TRIES redraws all hit the excluded set


def draw_class(op: str, c: Class, count: int, rng: random.Random,
               exclude: "set[Problem] | Callable[[Problem], bool] | None" = None) -> ClassDraw:
    """The problems of one class. ``exclude``: problems (or a predicate) that must not be drawn; a slot
    whose MAX_TRIES draws are all excluded is dropped and counted as shortfall (tiny classes such as 1x1
    can run out of problems the train set has not already used)."""
    la, lb = c
    out = ClassDraw([])
    hit = exclude.__contains__ if isinstance(exclude, (set, frozenset)) else exclude
    for i, extra in _slots(op, la, lb, count):
        for _ in range(MAX_TRIES):
            p = draw_problem(op, la, lb, i, rng, extra)
            if hit is None or not hit(p):
                out.problems.append(p)
                break
            out.rejected += 1
        else:
            out.shortfall += 1
    return out


# --------------------------------------------------------------------------------------- test sets
def length_test_problems(op: str, n: int, count: int, rng: random.Random) -> list[tuple[Class, int, bool]]:
    """Slots of an n-digit test set (the reference's raw ``test_<n>_<n>``): (class, index, extra).

    add / sub / equal / greater_than / less_than / long_mul: a and b with n digits each (the class loop
    restricted to (n, n), so equal-length rules such as forced a = b apply). long_div: a with n digits,
    b with max(1, n // 2) digits, so that the quotient has about n/2 digits. mul_digit: a with n digits and
    one digit 1..9. reflection / left_mask / sub_borrow: n digits."""
    lb = 0 if op in ONE_OPERAND else {"long_div": max(1, n // 2), "mul_digit": 1}.get(op, n)
    c = (n, lb)
    return [(c, i, extra) for i, extra in _slots(op, n, lb, count)]


def mul_reference_problem(la: int, rng: random.Random) -> Problem:
    """The reference's MUL test problem: a with la digits, b uniform in 1..15."""
    return number(rng, la), rng.randint(1, 15)


def div_reference_problem(lb: int, rng: random.Random) -> Problem:
    """The reference's DIV test problem: b with lb digits (non-zero), quotient 2 or 3, a = q*b + r."""
    b = 0
    while b == 0:
        b = number(rng, lb)
    q = rng.randint(2, 3)
    return q * b + rng.randint(0, b - 1), b
