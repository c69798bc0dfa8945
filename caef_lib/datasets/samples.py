"""From one problem to its training / test samples (format.md §6.2, §6.3).

Roles (each sample is a (prompt, response) pair of texts):

* ``executor`` (stage 2, "no prompt"): prompt = ``state_j\\ncommand_j\\n`` (composers: plus the callee's
  halt lines), response = the next state and command (composers: plus the callee's q0 lines).
* ``executor_stage1``: the same pairs with an instruction preamble in front of the prompt (`preamble`,
  written for this kit; the reference's wording is not reused).
* ``aligner``: both directions of the operator's aligner: ``45+67=`` -> q0 text, and the final text ->
  ``45+67=112``.
* ``raw``: the direct-answer baseline, ``45+67=`` -> ``112``.
* test-only ``executor_only`` (q0 text -> final text), ``aligner_input``, ``aligner_output``.

Per-problem subsampling of the executor pairs follows the reference's rules (`subsample_indices`); the
draws come from the class's own random stream.
"""
from __future__ import annotations

import random

from ..machines import expression, get, python_result
from . import render

# ----------------------------------------------------------------------------------- subsampling
# op -> (threshold, fixed positions from the end (1 = last), number of random draws); see format.md §6.3.
# A problem with more than `threshold` transitions keeps [first] + those fixed positions + the draws
# (with replacement, from the positions between the first and the fixed tail). reflection is special.
SUBSAMPLE_RULES: dict[str, tuple[int, int, int]] = {
    "add": (5, 2, 4),
    "equal": (5, 3, 5),
    "greater_than": (5, 1, 3),
    "less_than": (5, 2, 4),
    "left_mask": (5, 1, 3),
    "mul": (10, 1, 3),
    "div": (10, 1, 3),
    "sub": (10**9, 0, 0),  # always all 5
    # the kit's machines (not in the reference): helpers like ADD, digit-wise composers like MUL/DIV
    "mul_digit": (5, 2, 4),
    "sub_borrow": (5, 2, 4),
    "long_mul": (10, 1, 3),
    "long_div": (10, 1, 3),
}
DEFAULT_RULE = (10, 1, 3)
REFLECTION_RULE = (10, 4, 3)  # threshold, draws before the q2 switch, draws after it


def subsample_indices(op: str, n: int, rng: random.Random, draws: int | None = None,
                      digits: int | None = None) -> list[int]:
    """Indices (0..n-1) of the transitions kept for one problem with n transitions, as the reference:

    * add / less_than: n > 5 -> [0, n-1, n-2] + 4 draws from 1..n-3; equal: [0, n-1, n-2, n-3] + 5 draws
      from 1..n-4; greater_than / left_mask: [0, n-1] + 3 draws from 1..n-2;
    * reflection: n > 10 -> [0, n-1, s, s+1] + 4 draws from 1..s-1 + 3 draws from s+2..n-2 (when that range
      is not empty), s = the transition whose answer is ``CMD q2`` (= ``digits``, the operand length);
    * mul / div (and the kit's long_mul / long_div): n > 10 -> [0, n-1] + 3 draws from 1..n-2; sub: all.

    Draws are with replacement (a problem can contribute the same pair twice, as in the reference).
    ``draws`` overrides the number of random draws (reflection: both groups)."""
    if op == "reflection":
        threshold, before, after = REFLECTION_RULE
        if draws is not None:
            before = after = draws
        if n <= threshold:
            return list(range(n))
        if digits is None:
            raise ValueError("reflection subsampling needs the operand length (digits=)")
        s = digits
        keep = [0, n - 1, s, s + 1]
        if s - 1 >= 1:
            keep += [draw(rng, 1, s - 1) for _ in range(before)]
        if s + 2 <= n - 2:
            keep += [draw(rng, s + 2, n - 2) for _ in range(after)]
        return keep
    threshold, tail, k = SUBSAMPLE_RULES.get(op, DEFAULT_RULE)
    if draws is not None:
        k = draws
    if n <= threshold:
        return list(range(n))
    keep = [0] + [n - 1 - t for t in range(tail)]
    hi = n - 1 - tail
    keep += [draw(rng, 1, hi) for _ in range(k)]
    return keep


def draw(rng: random.Random, lo: int, hi: int) -> int:
    """Uniform integer in lo..hi from one ``rng.random()`` (3x cheaper than ``randint``; with 53 random bits
    the bias is below 2**-40 for spans up to 2**13 and stays negligible up to 2**50). Larger spans (MUL/DIV
    problems whose b or quotient has many digits) use ``randint``, which is exact for any size."""
    span = hi - lo + 1
    if span > 1 << 50:
        return rng.randint(lo, hi)
    return lo + int(rng.random() * span)


def kept_transitions(op: str, a: int, b: int | None, rng: random.Random | None, subsample: bool = True,
                     draws: int | None = None) -> list[int]:
    """The transition indices written for one problem (all of them when ``subsample`` is off)."""
    n = render.num_transitions(op, a, b)
    if not subsample:
        return list(range(n))
    return subsample_indices(op, n, rng, draws, digits=len(str(a)) if op == "reflection" else None)


# ----------------------------------------------------------------------------------- texts
def executor_pair(op: str, a: int, b: int | None, j: int, callee_halts: str = "runtime") -> tuple[str, str]:
    """Training pair j of a problem (see the module docstring)."""
    m = get(op)
    if m.is_composer:
        return render.composer_transition(op, a, b, j, callee_halts)
    s0, c0 = m.step(a, b, j)
    s1, c1 = m.step(a, b, j + 1)
    return f"{s0}\n{c0}\n", f"{s1}\n{c1}\n"


def aligner_pairs(op: str, a: int, b: int | None) -> tuple[tuple[str, str], tuple[str, str]]:
    """(input direction, output direction) of the operator's aligner."""
    expr = expression(op, a, b)
    return (expr, render.init_text(op, a, b)), (render.final_text(op, a, b), expr + python_result(op, a, b))


def raw_pair(op: str, a: int, b: int | None) -> tuple[str, str]:
    return expression(op, a, b), python_result(op, a, b)


def executor_only_pair(op: str, a: int, b: int | None) -> tuple[str, str]:
    """q0 text -> final text (the reference's ``*_executor.jsonl``)."""
    return render.init_text(op, a, b), render.final_text(op, a, b)


# ----------------------------------------------------------------------------------- stage-1 preambles
_NUMBERS = ("Numbers on the tape are written units digit first and every digit carries a '|' in front "
            "of it, so 345 appears as |5|4|3. ")
_TASK_BASIC = ("Below are the machine's current state line and command line. Reply with the state line and "
               "command line that follow once the command has been carried out.\n\n")
_TASK_COMPOSER = ("Below are the composer's current state line and command line; if the previous command "
                  "called a sub-machine, that machine's final state and halt line follow them. Reply with the "
                  "next state line and command line; when the new command is a [CALL], add the called "
                  "machine's start state and first command as two more lines.\n\n")

PREAMBLES: dict[str, str] = {
    "add": ("Task: act as the ADD Turing machine, which adds two numbers column by column. " + _NUMBERS +
            "[HEAD1] and [HEAD2] stand just before the digits about to be read from the two operands, [C] "
            "holds the carry and [OUTPUT] marks where the next sum digit goes. q0 is the start, q1 adds one "
            "column per step, qH is the final state. " + _TASK_BASIC),
    "reflection": ("Task: act as the REFLECTION Turing machine, which turns b into its nines' complement "
                   "(99...9 minus b) and then removes zeros from the high end of the result. " + _NUMBERS +
                   "[HEAD1] walks along the nines, [HEAD2] along b, [OUTPUT] marks the write position; "
                   "q1 writes 9 minus the digit under [HEAD2], q2 trims zeros, qH is the final state. " +
                   _TASK_BASIC),
    "left_mask": ("Task: act as the LEFT_MASK Turing machine, which copies a number without its most "
                  "significant digit and then removes the zeros that end up at its high end. " + _NUMBERS +
                  "[HEAD] is the read position and [OUTPUT] the write position; q1 copies, q2 trims, qH is the "
                  "final state. " + _TASK_BASIC),
    "equal": ("Task: act as the EQUAL Turing machine, which decides whether two numbers are identical by "
              "comparing them digit by digit. " + _NUMBERS + "[HEAD1] and [HEAD2] are the read positions and "
              "the value after [OUTPUT] is the verdict so far (True or False). " + _TASK_BASIC),
    "greater_than": ("Task: act as the GREATER_THAN Turing machine, which decides whether the first number is "
                     "larger than the second. " + _NUMBERS + "Digits are compared from the units upwards; a "
                     "differing digit overwrites the verdict after [OUTPUT], so the highest differing digit (or "
                     "the longer operand) decides. " + _TASK_BASIC),
    "less_than": ("Task: act as the LESS_THAN Turing machine, which decides whether the first number is "
                  "smaller than the second. " + _NUMBERS + "Digits are compared from the units upwards; a "
                  "differing digit overwrites the verdict after [OUTPUT], so the highest differing digit (or the "
                  "longer operand) decides. " + _TASK_BASIC),
    "sub": ("Task: act as the SUB composer, which computes a - b (a >= b) with four calls: REFLECTION gives the "
            "nines' complement of b, ADD adds it to a, a second ADD adds 1, and LEFT_MASK drops the leading 1. "
            + _NUMBERS + "Each call's result is read from the called machine's final state line. " +
            _TASK_COMPOSER),
    "mul": ("Task: act as the MUL composer, which multiplies by repeated addition: while LESS_THAN says the "
            "counter [COUNT] is below b, ADD adds a to the product [OUTPUT] and another ADD increments the "
            "counter. " + _NUMBERS + _TASK_COMPOSER),
    "div": ("Task: act as the DIV composer, which divides by repeated addition of the divisor: while "
            "GREATER_THAN says [COUNT] does not exceed a, ADD increments the quotient [OUTPUT] and another ADD "
            "adds b to [COUNT]. " + _NUMBERS + _TASK_COMPOSER),
}


def preamble(op: str) -> str:
    """The stage-1 instruction placed before the state text (ends with a blank line)."""
    if op in PREAMBLES:
        return PREAMBLES[op]
    m = get(op)
    kind = _TASK_COMPOSER if m.is_composer else _TASK_BASIC
    return f"Task: act as the {m.name} machine of this kit, one step at a time. " + _NUMBERS + kind
