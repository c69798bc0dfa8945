"""The machine registry: adapter name -> machine object.

Adapter names are the names of the LoRA adapters of the paper's evaluation loop (``add``,
``less_than``, ...). A composer's ``CMD [CALL] LESS_THAN, q2`` is resolved by lower-casing the
machine name, so a machine registered under adapter ``x`` must be called ``X``.
New machines (e.g. long multiplication) are added with :func:`register`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .base import Machine

MACHINES: dict[str, "Machine"] = {}
"""adapter name -> machine (``MACHINES["add"].name == "ADD"``)."""

OP_SYMBOLS: dict[str, str] = {}
"""adapter name -> operator symbol of the raw text ("add" -> "+"); machines without an aligner are absent."""

BY_NAME: dict[str, "Machine"] = {}
"""machine name as written on the tape ("ADD") -> machine."""


def register(machine: "Machine") -> "Machine":
    """Add a machine to the registry (its ``symbol``, if any, goes into OP_SYMBOLS)."""
    if machine.name.lower() != machine.adapter:
        raise ValueError(f"adapter {machine.adapter!r} must be the lower-cased name {machine.name!r}")
    if machine.adapter in MACHINES:
        raise ValueError(f"machine {machine.adapter!r} is already registered")
    MACHINES[machine.adapter] = machine
    BY_NAME[machine.name] = machine
    if machine.symbol is not None:
        OP_SYMBOLS[machine.adapter] = machine.symbol
    return machine


def has_aligner(op: str) -> bool:
    """Whether the operator has an aligner (a raw form ``<a><sym><b>=``): REFLECTION and LEFT_MASK have none."""
    return op in OP_SYMBOLS


def get(op: str) -> "Machine":
    """The machine registered under adapter name ``op`` (ValueError if unknown)."""
    try:
        return MACHINES[op]
    except (KeyError, TypeError):
        raise ValueError(f"unknown operator {op!r}; known: {', '.join(sorted(MACHINES))}") from None


def python_result(op: str, a: int, b: int | None = None) -> str:
    """What the machine ``op`` should compute, by Python arithmetic, as the text the aligner writes:
    a decimal string ("1023") or "True"/"False". Raises ValueError for operands the machine rejects."""
    machine = get(op)
    machine.check(a, b)
    return machine.python_result(a, b)
