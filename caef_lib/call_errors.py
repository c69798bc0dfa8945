"""What kind of mistake a wrong model call is: the vocabulary of CAEF's error analysis.

    classify("add", prompt, answer, expected)          # -> ("state", "carry"), ("command", None), ...

Kinds (one per wrong call; `field` only for `state`):
    malformed        the answer cannot be parsed: wrong number of lines, or a state line that is not
                     `<MACHINE>, q<i>, ...`
    state            the state line differs; field = name (the q-state), head (the same tapes, a head elsewhere),
                     tape (an operand tape), carry ([C]), output ([OUTPUT]), register ([COUNT]) or the marker's name
    command          the state is right, the command line is not
    call             a composer's CALL is wrong: a CALL where none is due, none where one is, another callee, or
                     wrong arguments (the callee's q0 lines)
    return           a called machine halts with a wrong state: the value handed back to its caller is wrong
    aligner_input    aligner(I): the q0 text written from the expression is wrong
    aligner_output   aligner(O): the answer read from the halt text is wrong
    direct           (set by the driver) the direct-answer baseline answered a wrong result (it has no steps)
    step_limit       (set by the driver) the process ran out of calls without a wrong one being recorded
"""
from __future__ import annotations

import re

from .engine import ALIGNER_SUFFIX
from .machines import HALT, call_target
from .machines.tape import MalformedText, split_lines

KINDS = ("malformed", "state", "command", "call", "return", "aligner_input", "aligner_output", "direct",
         "step_limit")
STATE_LINE = re.compile(r"[A-Z_]+, q[0-9H]+,")
MARKER = re.compile(r"\[[A-Z0-9_]+\]")
HEAD = re.compile(r"\[HEAD[0-9]*\]")
FIELDS = {"[C]": "carry", "[OUTPUT]": "output", "[COUNT]": "register"}


def classify(adapter: str, prompt: str, answer: str, expected: str, depth: int = 0) -> tuple[str, str | None]:
    """(kind, field) of a call whose `answer` differs from the machine's own `expected` answer. `depth`: how many
    composers are suspended below this call (> 0: the running machine was CALLed)."""
    if adapter.endswith(ALIGNER_SUFFIX):
        return ("aligner_input" if "\n" not in prompt else "aligner_output"), None
    want = split_lines(expected, (2, 4))
    try:
        got = split_lines(answer, (2, 4))
    except (MalformedText, ValueError, TypeError):
        return "malformed", None
    if not STATE_LINE.match(got[0]):
        return "malformed", None
    due, made = call_target(want[1]), call_target(got[1])
    if due or made:
        if got[0] != want[0] and got[1] == want[1] and got[2:] == want[2:]:
            return "state", state_field(got[0], want[0])
        return "call", None
    if len(got) != len(want):
        return "malformed", None
    if got[0] != want[0]:
        if want[1] == HALT and depth > 0:
            return "return", None
        return "state", state_field(got[0], want[0])
    return "command", None


def state_field(got: str, want: str) -> str:
    """Which part of a state line is wrong (see the module docstring). A state line is `<MACHINE>, q<i>,` and then
    space-separated fields, each a tape with its head marker (`|5[HEAD1]|4`), the carry (`[C]1`), the output
    (`|2[OUTPUT]`) or a register; a field is named by the marker it holds."""
    g, w = got.split(",", 2), want.split(",", 2)
    if len(g) < 3 or g[1].strip() != w[1].strip():
        return "name"
    gf, wf = g[2].split(), w[2].split()
    if len(gf) != len(wf):
        return "tape"
    if all(HEAD.sub("", x) == HEAD.sub("", y) for x, y in zip(gf, wf)):
        return "head"
    for x, y in zip(gf, wf):
        if HEAD.sub("", x) != HEAD.sub("", y):
            markers = MARKER.findall(y)
            named = [FIELDS[m] for m in markers if m in FIELDS]
            return named[0] if named else "tape"
    return "tape"
