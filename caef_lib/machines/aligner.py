"""The rule-based aligner (format.md §4): raw expression <-> machine text.

* ``input_to_tm("45+67=")`` -> ``"<q0 state>\\n<q0 command>\\n"`` of the operator's machine.
* ``tm_to_output(halt_text)`` -> ``"45+67=112"``: the operands are read back (un-reversed) from the
  ``[HEAD1]``/``[HEAD2]`` tapes of the qH state line, the result is its last space-separated token
  with separators removed and digits reversed.

Operators: ``+ - * // == > <`` (the machines registered with a ``symbol``). REFLECTION and
LEFT_MASK have no aligner. Operands with leading zeros are normalised (``"007+1="`` is read as 7 + 1;
the reference copies the digits as written, which its own machines then reject).
"""

from __future__ import annotations

import re
from functools import lru_cache

from . import registry
from .tape import HALT, MalformedText, split_lines, tape_to_int

_HEAD = {1: re.compile(r"((?:\|\d)*)\[HEAD1\]((?:\|\d)*)"), 2: re.compile(r"((?:\|\d)*)\[HEAD2\]((?:\|\d)*)")}


def _expression_re() -> re.Pattern:
    return _compile_expression(tuple(sorted(set(registry.OP_SYMBOLS.values()), key=len, reverse=True)))


@lru_cache(maxsize=8)
def _compile_expression(symbols: tuple[str, ...]) -> re.Pattern:
    alternatives = "|".join(re.escape(s) for s in symbols)  # longest first: "//" and "==" win
    return re.compile(rf"\s*(\d+)\s*({alternatives})\s*(\d+)\s*=\s*")


def machine_for_symbol(symbol: str):
    """The first registered machine whose operator symbol is ``symbol``."""
    for adapter, sym in registry.OP_SYMBOLS.items():
        if sym == symbol:
            return registry.MACHINES[adapter]
    raise MalformedText(f"unknown operator symbol {symbol!r}")


def parse_expression(text: str) -> tuple[str, int, int]:
    """``"45+67="`` -> ("add", 45, 67). Whitespace around the operator and before ``=`` is allowed."""
    m = _expression_re().fullmatch(text) if isinstance(text, str) else None
    if not m:
        raise MalformedText(f"not an expression '<a><op><b>=': {text!r}")
    return machine_for_symbol(m[2]).adapter, int(m[1]), int(m[3])


def expression(op: str, a: int, b: int | None) -> str:
    """The raw prompt of a problem: ``expression("add", 45, 67) == "45+67="``."""
    return f"{a}{registry.OP_SYMBOLS[op]}{b}="


def input_to_tm(text: str, op: str | None = None) -> str:
    """Aligner(I): raw expression -> q0 state and command of its machine, each followed by ``\\n``.

    ``op`` (an adapter name) selects the machine when several share a symbol; it must match the
    expression's symbol. Operands the machine rejects (``5-7=``, ``1//0=``) raise MalformedText."""
    adapter, a, b = parse_expression(text)
    if op is not None and op != adapter:
        machine = registry.get(op)
        if machine.symbol != registry.OP_SYMBOLS[adapter]:
            raise MalformedText(f"{text!r} is not a {op} expression")
        adapter = op
    try:
        state, command = registry.get(adapter).init(a, b)
    except ValueError as exc:
        raise MalformedText(f"{text!r}: {exc}") from None
    return f"{state}\n{command}\n"


def aligner_sample_kind(prompt: str, response: str) -> tuple[str, int]:
    """What an aligner sample asks: its direction, ``"to state"`` (expression -> first state and command) or
    ``"to answer"`` (halt state -> ``a+b=sum``), and the digits of its longer operand (reversing those is
    the hard part for a small model). A pair of another shape is ``("other", 0)``."""
    for direction, text in (("to state", prompt), ("to answer", response)):
        m = _expression_re().match(text) if isinstance(text, str) else None
        if m:
            return direction, max(len(m[1].lstrip("0") or "0"), len(m[3].lstrip("0") or "0"))
    return "other", 0


def _operand(state: str, head: int) -> int:
    m = _HEAD[head].search(state)
    if not m or not (m[1] or m[2]):
        raise MalformedText(f"no [HEAD{head}] operand in {state!r}")
    return tape_to_int(m[1] + m[2])


def tm_to_output(text: str) -> str:
    """Aligner(O): the executor's final text (``<qH state>\\nNo command to execute. Halt state.``,
    with or without the trailing newline) -> ``"<a><op><b>=<result>"``."""
    state, command = split_lines(text, (2,))
    if command != HALT:
        raise MalformedText(f"not a halt text: {text!r}")
    name = state.split(",", 1)[0]
    machine = registry.BY_NAME.get(name)
    if machine is None or machine.symbol is None:
        raise MalformedText(f"no aligner for machine {name!r}")
    a, b = _operand(state, 1), _operand(state, 2)
    return f"{a}{machine.symbol}{b}={machine.result_from_halt(state)}"
