"""The CAEF execution engine: one arithmetic problem = one :class:`Process`.

A process is a small state machine that is driven from outside, one model call at a time::

    p = Process("mul", 4513, 3)
    while (request := p.pending()) is not None:
        adapter, prompt = request          # which LoRA adapter to activate, which text to complete
        p.feed(model(adapter, prompt))     # the completion (prompt removed)
    p.result, p.error, p.calls

Nothing here runs a model, so a batch driver can hold many processes, group their ``pending()``
requests by adapter, run one batched generation per adapter and ``feed`` the answers back; no
lock-step between processes is assumed (the reference loop needs it, see format.md §3.2).

Semantics (mirrors the reference loop, format.md §3.2 and §7):

* ``alignment=True`` (operators with an aligner): the first call is ``<op>_aligner`` on the raw
  expression ``"<a><sym><b>="``; its answer (the q0 text) is the first executor prompt. The last
  call is ``<op>_aligner`` on the executor's final text, whose answer ``"<a><sym><b>=<r>"`` gives
  the result. ``reflection`` and ``left_mask`` have no aligner and always start from their q0 text.
* A basic executor's answer ``state\\ncommand\\n`` is the next prompt of the same adapter, until its
  command is the halt command.
* A composer's answer is 2 lines, or 4 lines when line 2 is ``CMD [CALL] NAME, qX``: lines 1-2
  (each + ``\\n``) are kept as the composer's *pending text* on an explicit call stack, and the callee
  (adapter ``name.lower()``, a basic machine or another composer, at any depth) starts from lines
  3-4 (each + ``\\n``). When the callee halts, its final two lines (+ ``\\n`` each) are appended to
  the pending text, the frame is popped, and the 4-line text is the caller's next prompt.
* The final text given to aligner(O) is ``<qH state>\\n<halt>\\n`` for basic operators and
  ``<qH state>\\n<halt>`` (no trailing newline) for composers, as in the reference.

Where the kit differs (docs/caef-differences.md): a malformed answer, an unknown callee, a too deep
call stack or too many calls end the process with ``error`` set (never an exception, never an
infinite loop); intermediate steps are not checked against the reference machines (scoring is
by result, and ``calls`` can be compared with :func:`run_oracle`'s afterwards).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from .machines import HALT, MACHINES, MalformedText, call_target, expression, get, input_to_tm, tm_to_output
from .machines.tape import split_lines

ALIGNER_SUFFIX = "_aligner"
DEFAULT_MAX_DEPTH = 16


@dataclass
class Frame:
    """A suspended composer: its adapter and its pending lines 1-2 (each ending in ``\\n``)."""

    adapter: str
    pending: str


def default_max_steps(op: str, a: int, b: int | None = None) -> int:
    """Twice the calls of a perfect run, plus slack (a perfect model always finishes well inside)."""
    try:
        perfect = get(op).total_calls(a, b) + 2
    except NotImplementedError:  # a machine without a call count: generous fixed bound
        return 1_000_000
    return 2 * perfect + 64


class Process:
    """One problem being executed by a model, one call at a time (see the module docstring).

    Attributes: ``done``, ``result`` (decimal string or "True"/"False", None until done or on
    error), ``error`` (None or a one-line reason), ``output`` (aligner(O) answer, or the final
    executor text without alignment), ``final_text`` (the root executor's final text), ``calls``
    (``{"executor", "prompt", "answer"}`` per model call, in order) and ``call_depths`` (call-stack
    depth of each call: 0 = root machine and aligners).
    """

    def __init__(
        self,
        op: str,
        a: int,
        b: int | None = None,
        alignment: bool = True,
        max_steps: int | None = None,
        max_depth: int = DEFAULT_MAX_DEPTH,
    ):
        machine = get(op)
        machine.check(a, b)  # ValueError: division by zero, a < b for sub, ...
        self.op, self.a, self.b = op, a, b
        self.machine = machine
        self.expected = machine.python_result(a, b)
        self.alignment = bool(alignment) and machine.symbol is not None
        self.max_steps = default_max_steps(op, a, b) if max_steps is None else int(max_steps)
        self.max_depth = max_depth
        self.calls: list[dict[str, str]] = []
        self.call_depths: list[int] = []
        self.done = False
        self.result: str | None = None
        self.error: str | None = None
        self.output: str | None = None
        self.final_text: str | None = None
        self._stack: list[Frame] = []
        if self.alignment:
            self._phase = "input"
            self._adapter, self._prompt = op + ALIGNER_SUFFIX, expression(op, a, b)
        else:
            self._phase = "execute"
            state, command = machine.init(a, b)
            self._adapter, self._prompt = op, f"{state}\n{command}\n"

    # ------------------------------------------------------------------ driving
    def pending(self) -> tuple[str, str] | None:
        """(adapter, prompt) of the next model call, or None when the process is finished."""
        return None if self.done else (self._adapter, self._prompt)

    @property
    def depth(self) -> int:
        """Number of suspended composers (0 = the root machine or an aligner is running)."""
        return len(self._stack)

    def feed(self, answer: str) -> None:
        """Give the model's answer to the pending prompt. Never raises for a bad answer: the
        process then ends with ``error`` set. Feeding a finished process is a RuntimeError."""
        if self.done:
            raise RuntimeError("feed() on a finished process")
        adapter = self._adapter
        self.calls.append({"executor": adapter, "prompt": self._prompt, "answer": answer})
        self.call_depths.append(len(self._stack))
        try:
            if self._phase == "input":
                self._after_aligner_input(answer)
            elif self._phase == "execute":
                self._after_executor(answer)
            else:
                self._after_aligner_output(answer)
        except ValueError as exc:  # MalformedText and friends
            self.fail(f"{adapter}: {exc}")
        if not self.done and len(self.calls) >= self.max_steps:
            self.fail(f"step limit: no result after {len(self.calls)} model calls (max_steps={self.max_steps})")

    def fail(self, reason: str) -> None:
        """End the process with an error (also for drivers, e.g. when generation itself failed)."""
        if not self.done:
            self.done = True
            self.error = " ".join(str(reason).split())[:500] or "failed"
            self.result = None

    @property
    def correct(self) -> bool:
        """Finished without error and with the right result (and, with alignment, the aligner's
        answer is exactly ``"<a><sym><b>=<result>"`` after strip, as the reference scores it)."""
        if not self.done or self.error is not None or self.result != self.expected:
            return False
        if self.alignment:
            return (self.output or "").strip() == expression(self.op, self.a, self.b) + self.expected
        return True

    def to_dict(self) -> dict:
        """``{"op", "a", "b", "result", "calls"}`` (+ ``"error"`` when there is one); operands as
        decimal strings (b None for single-operand machines)."""
        out = {
            "op": self.op,
            "a": str(self.a),
            "b": None if self.b is None else str(self.b),
            "result": self.result,
            "calls": list(self.calls),
        }
        if self.error is not None:
            out["error"] = self.error
        return out

    # ------------------------------------------------------------------ transitions
    def _after_aligner_input(self, answer: str) -> None:
        state, command = split_lines(answer, (2,))
        self._phase = "execute"
        self._adapter, self._prompt = self.op, f"{state}\n{command}\n"

    def _after_executor(self, answer: str) -> None:
        machine = MACHINES.get(self._adapter)
        if machine is None:  # cannot happen: callees are checked before they are started
            raise MalformedText(f"unknown executor {self._adapter!r}")
        if not machine.is_composer:
            state, command = split_lines(answer, (2,))
            if command == HALT:
                self._return(state, f"{state}\n{HALT}\n")
            else:
                self._prompt = f"{state}\n{command}\n"
            return
        lines = split_lines(answer, (2, 4))
        if lines[1] == HALT:
            if len(lines) != 2:
                raise MalformedText("a halt answer must have exactly 2 lines")
            self._return(lines[0], f"{lines[0]}\n{HALT}")
            return
        callee = call_target(lines[1])
        if callee is None:
            if len(lines) != 2:
                raise MalformedText(f"4-line answer without a CALL command: {lines[1]!r}")
            self._prompt = f"{lines[0]}\n{lines[1]}\n"
            return
        if len(lines) != 4:
            raise MalformedText(f"CALL without the callee's q0 state and command: {answer!r}")
        if callee not in MACHINES:
            raise MalformedText(f"unknown callee {lines[1]!r}")
        if len(self._stack) >= self.max_depth:
            raise MalformedText(f"call stack deeper than max_depth={self.max_depth}")
        self._stack.append(Frame(self._adapter, f"{lines[0]}\n{lines[1]}\n"))
        self._adapter, self._prompt = callee, f"{lines[2]}\n{lines[3]}\n"

    def _return(self, state: str, final_text: str) -> None:
        """The running machine halted in ``state``: resume the caller, or finish the root."""
        if self._stack:
            frame = self._stack.pop()
            self._adapter, self._prompt = frame.adapter, f"{frame.pending}{state}\n{HALT}\n"
            return
        self.final_text = final_text
        if self.alignment:
            self._phase = "output"
            self._adapter, self._prompt = self.op + ALIGNER_SUFFIX, final_text
            return
        self.result = self.machine.result_from_halt(state)
        self.output = final_text
        self.done = True

    def _after_aligner_output(self, answer: str) -> None:
        self.output = answer
        text = answer.strip() if isinstance(answer, str) else ""
        if "=" not in text:
            raise MalformedText(f"aligner output is not '<a><op><b>=<result>': {answer!r}")
        self.result = text.rpartition("=")[2]
        self.done = True


# ---------------------------------------------------------------------- perfect model
def oracle_answer(adapter: str, prompt: str, machines: Mapping[str, object] = MACHINES) -> str:
    """What a perfect model answers: the machine's ``transition`` for executors, the rule-based
    aligner for ``<op>_aligner`` adapters (a one-line prompt is an expression, anything else a
    final text). Raises MalformedText (a ValueError) when the prompt has no answer."""
    if adapter.endswith(ALIGNER_SUFFIX):
        op = adapter[: -len(ALIGNER_SUFFIX)]
        if "\n" in prompt:
            return tm_to_output(prompt)
        return input_to_tm(prompt, op)
    machine = machines.get(adapter)
    if machine is None:
        raise MalformedText(f"unknown adapter {adapter!r}")
    return machine.transition(prompt)


def drive(process: Process, model: Callable[[str, str], str]) -> Process:
    """Run ``process`` to the end with ``model(adapter, prompt) -> answer``; an exception raised by
    the model (ValueError/MalformedText) ends the process with an error."""
    while (request := process.pending()) is not None:
        try:
            answer = model(*request)
        except ValueError as exc:
            process.fail(f"{request[0]}: model failed: {exc}")
            break
        process.feed(answer)
    return process


def run_oracle(
    op: str,
    a: int,
    b: int | None = None,
    alignment: bool = True,
    max_steps: int | None = None,
    model: Callable[[str, str], str] | None = None,
) -> dict:
    """Execute one problem with a perfect model and return ``Process.to_dict()``:
    ``{"op", "a", "b", "result", "calls": [{"executor", "prompt", "answer"}, ...]}``.
    ``model`` replaces the oracle (e.g. one built with another machine table)."""
    process = Process(op, a, b, alignment=alignment, max_steps=max_steps)
    return drive(process, model or oracle_answer).to_dict()
