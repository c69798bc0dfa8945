"""Digit tapes: the way every CAEF machine writes a number.

A number is written least-significant digit first, every digit preceded by ``|``::

    tape(345)          -> "|5|4|3"
    split(tape(345), 1) -> ("|5", "|4|3")      # {A[:1]} / {A[1:]} of format.md

Each digit takes exactly two characters, so "the first i digits" of a tape is the
string slice ``t[:2 * i]`` (clipped to the tape like every Python slice). All
machines build their texts from these helpers and plain f-strings, which keeps
rendering one step O(length) and cheap.
"""

from __future__ import annotations

import re

HALT = "No command to execute. Halt state."
"""The command line of every halted machine (exact text, two periods)."""

TAPE_RE = r"(?:\|\d)+"
"""Regex fragment matching a non-empty tape."""

_TAPE_FULL = re.compile(TAPE_RE)


class MalformedText(ValueError):
    """A machine text (state line, command line, prompt, halt text) that cannot be parsed
    or is not a configuration of the machine it was given to."""


def tape_of(digits: str) -> str:
    """Tape of a decimal digit string written most-significant first: "345" -> "|5|4|3"."""
    return "|" + "|".join(reversed(digits))


def tape(x: int) -> str:
    """Tape of a non-negative int: 345 -> "|5|4|3", 0 -> "|0"."""
    return tape_of(str(x))


def tape_unreversed(x: int) -> str:
    """Digits in normal order with separators (only the reference's fabricated MUL halts use it): 12 -> "|1|2"."""
    return "|" + "|".join(str(x))


def split(t: str, i: int) -> tuple[str, str]:
    """({T[:i]}, {T[i:]}): the first i digits of tape t and the rest (i clipped to the tape)."""
    return t[: 2 * i], t[2 * i :]


def tape_digits(t: str) -> str:
    """Digits of a tape in normal (most-significant first) order: "|5|4|3" -> "345".

    Raises MalformedText unless t is a non-empty sequence of ``|d`` pairs. Leading zeros are kept.
    """
    if not _TAPE_FULL.fullmatch(t):
        raise MalformedText(f"not a digit tape: {t!r}")
    return t[:0:-2]


def tape_to_int(t: str) -> int:
    """Integer written on tape t: "|5|4|3" -> 345 (leading zeros allowed: "|1|0" -> 1)."""
    return int(tape_digits(t))


def token_value(token: str) -> str:
    """The reference aligner's rule for a result token: remove the ``|`` separators and reverse the
    digits if the token had separators; otherwise keep it as is ("|3|2|0|1" -> "1023", "True", "0")."""
    if "|" in token:
        return token.replace("|", "")[::-1]
    return token


def split_lines(text: str, allowed: tuple[int, ...]) -> list[str]:
    """Split a 2- or 4-line machine text into its lines.

    One trailing newline is optional (basic executors end their answers with one, composers
    don't). Every line must be non-empty and the number of lines must be in ``allowed``.
    """
    if not isinstance(text, str):
        raise MalformedText(f"expected text, got {type(text).__name__}")
    body = text[:-1] if text.endswith("\n") else text
    lines = body.split("\n")
    if len(lines) not in allowed or any(not line for line in lines):
        raise MalformedText(f"expected {' or '.join(map(str, allowed))} non-empty lines, got {text!r}")
    return lines


def check_operand(x: object, what: str) -> int:
    """Validate a machine operand: a non-negative Python int (bool rejected)."""
    if isinstance(x, bool) or not isinstance(x, int):
        raise ValueError(f"{what} must be a non-negative int, got {x!r}")
    if x < 0:
        raise ValueError(f"{what} must be non-negative, got {x}")
    return x


def canonical_int(t: str) -> int:
    """Integer on tape t, which must be written exactly as ``tape(x)`` (no leading zeros)."""
    x = tape_to_int(t)
    if tape(x) != t:
        raise MalformedText(f"number written with leading zeros: {t!r}")
    return x


def sum_len(n: int, mult: int, cap: int | None = None) -> int:
    """sum over k = 1..n of min(len(str(k * mult)), cap) in O(number of digits) (cap None = no cap).

    Used by the closed-form call counts of MUL and DIV, whose runs are linear in an operand's
    value. len(x) = #{d >= 0 : x >= 10^d} for x >= 1, so the sum counts, for every d, the k with
    k * mult >= 10^d, i.e. k >= ceil(10^d / mult).
    """
    if n <= 0:
        return 0
    if mult == 0:
        return n * (1 if cap is None else min(1, cap))
    total, d, p = 0, 0, 1
    while cap is None or d < cap:
        first = -(-p // mult)  # smallest k with k * mult >= 10^d
        if first > n:
            break
        total += n - max(first, 1) + 1
        d += 1
        p *= 10
    return total
