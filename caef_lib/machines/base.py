"""Base classes shared by the CAEF machines.

Two kinds of machines exist (format.md §2, §3):

* :class:`BasicMachine` (ADD, REFLECTION, LEFT_MASK, EQUAL, GREATER_THAN, LESS_THAN): one model
  call = one TM step. Prompt ``state\\ncommand\\n`` -> answer ``next_state\\nnext_command\\n``.
  The whole run is a *trajectory* q0 .. qH that :meth:`BasicMachine.step` renders directly.
* :class:`Composer` (SUB, MUL, DIV): one model call = one composer step. Prompt is 2 lines (q0) or
  4 lines (composer state + its CALL command + the callee's halt state + the halt command), always
  ending in ``\\n``; the answer is 2 lines, or 4 when it CALLs another machine (lines 3-4 = the
  callee's q0 state and command) and has no trailing newline.

Every machine's :meth:`Machine.transition` is the *oracle*: the exact answer a perfect model gives to
a prompt, computed by parsing that prompt. It raises :class:`MalformedText` on anything else.
"""

from __future__ import annotations

import re
from typing import Iterable

from . import registry
from .tape import HALT, MalformedText, check_operand, split_lines, token_value


class Machine:
    """Common interface of all machines (see the module docstring)."""

    name: str = ""  # name on the tape, e.g. "ADD"
    adapter: str = ""  # adapter / registry key, e.g. "add"
    symbol: str | None = None  # operator of the raw text ("+"); None = no aligner
    is_composer: bool = False
    arity: int = 2  # 1 for LEFT_MASK (b must be None)
    result_kind: str = "int"  # "int" or "bool"

    # ----------------------------------------------------------------- operands
    def check(self, a: int, b: int | None = None) -> None:
        """Raise ValueError unless (a, b) are valid operands of this machine."""
        check_operand(a, "a")
        if self.arity == 1:
            if b is not None:
                raise ValueError(f"{self.name} takes one operand, got b={b!r}")
        else:
            if b is None:
                raise ValueError(f"{self.name} needs two operands")
            check_operand(b, "b")

    def python_result(self, a: int, b: int | None = None) -> str:  # pragma: no cover - abstract
        """The correct result as text (decimal or True/False)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- texts
    def init(self, a: int, b: int | None = None) -> tuple[str, str]:  # pragma: no cover - abstract
        """The q0 (state, command) lines."""
        raise NotImplementedError

    def halt_lines(self, a: int, b: int | None = None) -> tuple[str, str]:  # pragma: no cover - abstract
        """The final (state, command) of a real run; the command is always HALT."""
        raise NotImplementedError

    def parse_init(self, state: str, command: str) -> tuple[int, int | None]:  # pragma: no cover
        """Operands (a, b) of a q0 (state, command) pair; MalformedText if it is not exactly init(a, b)."""
        raise NotImplementedError

    def transition(self, prompt: str) -> str:  # pragma: no cover - abstract
        """The oracle: the answer a perfect model gives to ``prompt``."""
        raise NotImplementedError

    def result_from_halt(self, state_line: str) -> str:
        """The result written in a qH state line, with the aligner's rule (last space-separated token,
        separators removed and digits reversed); decimals are returned without leading zeros."""
        prefix = f"{self.name}, qH, "
        if not isinstance(state_line, str) or not state_line.startswith(prefix):
            raise MalformedText(f"not a {self.name} halt state: {state_line!r}")
        value = token_value(state_line.rsplit(" ", 1)[-1])
        if self.result_kind == "bool":
            if value not in ("True", "False"):
                raise MalformedText(f"{self.name} halt state has no True/False result: {state_line!r}")
            return value
        if not (value.isascii() and value.isdigit()):
            raise MalformedText(f"{self.name} halt state has no decimal result: {state_line!r}")
        return str(int(value))

    # ----------------------------------------------------------------- costs
    def num_calls(self, a: int, b: int | None = None) -> int:  # pragma: no cover - abstract
        """Model calls of this machine itself (callees not included)."""
        raise NotImplementedError

    def total_calls(self, a: int, b: int | None = None) -> int:
        """Model calls of a full executor run, callees (at any depth) included, aligners excluded."""
        return self.num_calls(a, b)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class BasicMachine(Machine):
    """A machine whose run is a fixed trajectory of (state, command) pairs q0 .. qH.

    Subclasses implement :meth:`num_calls`, :meth:`step` and :meth:`_locate`.
    """

    is_composer = False

    def num_steps(self, a: int, b: int | None = None) -> int:
        """Length of the trajectory, q0 and qH included (= num_calls + 1)."""
        return self.num_calls(a, b) + 1

    def step(self, a: int, b: int | None, j: int) -> tuple[str, str]:  # pragma: no cover - abstract
        """The (state, command) of step j (0 = q0, num_calls = qH), rendered directly in O(length)."""
        raise NotImplementedError

    def trajectory(self, a: int, b: int | None = None) -> list[tuple[str, str]]:
        """All (state, command) pairs from q0 to qH inclusive."""
        return [self.step(a, b, j) for j in range(self.num_steps(a, b))]

    def init(self, a: int, b: int | None = None) -> tuple[str, str]:
        return self.step(a, b, 0)

    def halt_lines(self, a: int, b: int | None = None) -> tuple[str, str]:
        return self.step(a, b, self.num_calls(a, b))

    def _locate(self, state: str) -> tuple[int, int | None, int]:  # pragma: no cover - abstract
        """(a, b, j) such that ``state`` should be the state line of step j; MalformedText if it
        does not even have the shape of a state line. The caller verifies by rendering step j."""
        raise NotImplementedError

    def _verified(self, state: str, command: str) -> tuple[int, int | None, int]:
        a, b, j = self._locate(state)
        try:
            expected = self.step(a, b, j)
        except ValueError as exc:  # operands out of range, j past the end, ...
            raise MalformedText(f"not a {self.name} configuration: {state!r} ({exc})") from None
        if expected != (state, command):
            raise MalformedText(f"not a reachable {self.name} configuration: {state!r} / {command!r}")
        return a, b, j

    def parse_init(self, state: str, command: str) -> tuple[int, int | None]:
        a, b, j = self._verified(state, command)
        if j != 0:
            raise MalformedText(f"not a {self.name} q0 state: {state!r}")
        return a, b

    def transition(self, prompt: str) -> str:
        """Parse ``state\\ncommand\\n``, check that it is step j of the trajectory of the operands
        written on the tape, and answer step j + 1 followed by ``\\n``.

        Only reachable configurations have an answer; anything else (including a halted one) raises
        MalformedText.
        """
        state, command = split_lines(prompt, (2,))
        a, b, j = self._verified(state, command)
        if command == HALT:
            raise MalformedText(f"{self.name} has already halted: {state!r}")
        nxt_state, nxt_command = self.step(a, b, j + 1)
        return f"{nxt_state}\n{nxt_command}\n"

    def _check_j(self, j: int, n_steps: int) -> None:
        if not 0 <= j < n_steps:
            raise ValueError(f"{self.name} step {j} out of range 0..{n_steps - 1}")


class Composer(Machine):
    """A machine that CALLs other machines (format.md §3).

    Subclasses implement :meth:`num_calls`, :meth:`init`, :meth:`parse_init`, :meth:`_answer` and
    :meth:`callee_plan`; optionally :meth:`fabricated_halt` (the reference's training-time halts).
    """

    is_composer = True

    # ----------------------------------------------------------------- oracle
    def transition(self, prompt: str) -> str:
        """Parse a 2- or 4-line composer prompt and return the composer's answer (2 or 4 lines, no
        trailing newline). Callee results are read from the callee's halt line (line 3), exactly as
        a model has to: the composer's answer depends only on the text of its prompt."""
        lines = split_lines(prompt, (2, 4))
        try:
            out = self._answer(lines)
        except MalformedText:
            raise
        except ValueError as exc:  # e.g. a callee init with operands it rejects
            raise MalformedText(f"{self.name} cannot continue from {prompt!r}: {exc}") from None
        return "\n".join(out)

    def _answer(self, lines: list[str]) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    # helpers for subclasses
    @staticmethod
    def _no_callee(lines: list[str]) -> None:
        if len(lines) != 2:
            raise MalformedText(f"expected a 2-line prompt here, got {len(lines)} lines")

    @staticmethod
    def _callee_result(lines: list[str], callee_name: str) -> str:
        """Result of the callee halt text in lines 3-4 (MalformedText if absent or another machine's)."""
        if len(lines) != 4:
            raise MalformedText(f"expected the {callee_name} halt text in lines 3-4 of the prompt")
        if lines[3] != HALT:
            raise MalformedText(f"line 4 must be {HALT!r}, got {lines[3]!r}")
        return registry.get(callee_name.lower()).result_from_halt(lines[2])

    @staticmethod
    def _call(state: str, callee_adapter: str, next_state: str, a: int, b: int | None) -> list[str]:
        """Answer lines of a CALL: state, ``CMD [CALL] <CALLEE>, <next>``, callee q0 state and command."""
        callee = registry.get(callee_adapter)
        init_state, init_command = callee.init(a, b)
        return [state, f"CMD [CALL] {callee.name}, {next_state}", init_state, init_command]

    # ----------------------------------------------------------------- runs
    def callee_plan(self, a: int, b: int | None = None) -> Iterable[tuple[str, int, int | None]]:
        """The calls of a real run in order, as (callee adapter, callee a, callee b)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def total_calls(self, a: int, b: int | None = None) -> int:
        return self.num_calls(a, b) + sum(
            registry.get(callee).total_calls(x, y) for callee, x, y in self.callee_plan(a, b)
        )

    def fabricated_halt(self, callee: str, a: int, b: int | None) -> tuple[str, str]:
        """Callee halt lines that the *reference* writes into composer training inputs (format.md
        §3.6). Default: the real halt lines (only SUB and MUL fabricate differently)."""
        return registry.get(callee).halt_lines(a, b)

    def transitions(
        self, a: int, b: int | None = None, callee_halts: str = "runtime"
    ) -> list[tuple[str, str]]:
        """The stage-2 training pairs (input, output) of one problem, in order.

        ``callee_halts="runtime"`` (default) puts the callee's real halt lines into the next input,
        i.e. exactly the prompts the evaluation loop will show at inference.
        ``callee_halts="reference"`` reproduces the reference's fabricated halt lines byte for byte
        (format.md §3.6); outputs are the same in both modes.
        """
        if callee_halts not in ("runtime", "reference"):
            raise ValueError(f"callee_halts must be 'runtime' or 'reference', got {callee_halts!r}")
        self.check(a, b)
        state, command = self.init(a, b)
        prompt = f"{state}\n{command}\n"
        pairs: list[tuple[str, str]] = []
        while True:
            answer = self.transition(prompt)
            pairs.append((prompt, answer))
            lines = answer.split("\n")
            if lines[1] == HALT:
                return pairs
            target = call_target(lines[1])
            if target is None:  # a step without a call (e.g. LONG_MUL's zero-digit shift)
                prompt = f"{lines[0]}\n{lines[1]}\n"
                continue
            callee = registry.get(target)
            ca, cb = callee.parse_init(lines[2], lines[3])
            if callee_halts == "runtime":
                halt_state, halt_command = callee.halt_lines(ca, cb)
            else:
                halt_state, halt_command = self.fabricated_halt(callee.adapter, ca, cb)
            prompt = f"{lines[0]}\n{lines[1]}\n{halt_state}\n{halt_command}\n"

    def halt_lines(self, a: int, b: int | None = None) -> tuple[str, str]:
        state, command = self.transitions(a, b)[-1][1].split("\n")
        return state, command

def call_target(command: str) -> str | None:
    """The callee adapter of a CALL command line (``CMD [CALL] LESS_THAN, q2`` -> ``less_than``),
    or None if the line is not a CALL. Mirrors the reference's ``CMD\\s[CALL]\\s(.+),\\s(.+)``
    but requires the whole line to have that shape."""
    m = _CALL_RE.fullmatch(command)
    return m.group(1).lower() if m else None


_CALL_RE = re.compile(r"CMD \[CALL\] ([A-Za-z_][A-Za-z0-9_]*), (\S+)")
_STATE_RE = re.compile(r"[A-Z_]+, (q\w+),")


def step_kind(response: str, prompt: str | None = None) -> str:
    """What kind of executor step an answer (``state\ncommand\n``) is: ``halt`` for the halt command,
    else ``<state>-><next state>`` read from the state line and the command's last field (``q1->q1``,
    ``q1->qH``), with `` CALL`` appended for a CALL. Used to report exact match per kind of step: for ADD,
    ``q1->q1`` steps compute a digit and a carry, ``q1->qH`` writes the last carry, ``halt`` only copies.
    With the step's `prompt`, a composer's step that takes a CALLed machine's halt state back (its prompt holds
    the callee's lines after the caller's) gets `` (return)`` appended. A text of another shape is ``other``."""
    kind = _response_kind(response)
    if prompt is not None and kind != "other" and len(prompt.rstrip("\n").split("\n")) > 2:
        kind += " (return)"
    return kind


def _response_kind(response: str) -> str:
    lines = response.split("\n")
    if len(lines) < 2:
        return "other"
    if lines[1] == HALT:
        return "halt"
    state = _STATE_RE.match(lines[0])
    fields = lines[1].split(", ")
    words = fields[-1].split()  # `CMD q2` (a move to another state and nothing else) has one field
    if not state or not lines[1].startswith("CMD") or not words:
        return "other"
    target = words[-1]
    return f"{state.group(1)}->{target}" + (" CALL" if call_target(lines[1]) else "")
