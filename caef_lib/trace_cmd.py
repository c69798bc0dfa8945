"""``python -m caef_lib trace OP A [B] [--steps]``: every model call of the CAEF process for one
problem, answered by the perfect oracle.

Prints one JSON object ``{"op", "a", "b", "result", "calls": [{"executor", "prompt", "answer"}, ...]}``
with every call in order (aligner input call, each executor step of the composer and of its
callees, aligner output call; reflection and left_mask start at their q0 text and have no
aligner calls). ``--steps`` prints a readable trace instead, callee steps indented under the CALL.

Bad input (unknown OP, negative or non-integer operands, missing or extra B, division by zero,
a < b for sub, ...) prints one line on stderr and returns 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

from .engine import Process, drive, oracle_answer
from .machines import MACHINES

MAX_CALLS = 2_000_000  # refuse problems whose perfect run needs more model calls than this
_INT = re.compile(r"[0-9]+")  # ASCII digits only (\d takes any script's)


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr instead of usage + exit
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    ops = ", ".join(sorted(MACHINES))
    p = _Parser(
        prog="python -m caef_lib trace",
        description="Trace every model call of the CAEF process for one problem, answered by the perfect oracle.",
        epilog="Example: python -m caef_lib trace add 45 67 --steps",
    )
    p.add_argument("op", metavar="OP", help=f"operator (adapter name): {ops}")
    p.add_argument("a", metavar="A", help="first operand (non-negative integer)")
    p.add_argument("b", metavar="B", nargs="?", help="second operand (not for left_mask)")
    p.add_argument("--steps", action="store_true", help="print a readable indented trace instead of JSON")
    return p


def _operand(text: str, what: str) -> int:
    if not _INT.fullmatch(text):
        raise _UsageError(f"{what} must be a non-negative integer, got {text!r}")
    return int(text)


def _problem(args) -> tuple[str, int, int | None]:
    op = args.op.lower()
    if op not in MACHINES:
        raise _UsageError(f"unknown OP {args.op!r}; choose one of: {', '.join(sorted(MACHINES))}")
    machine = MACHINES[op]
    a = _operand(args.a, "A")
    if machine.arity == 1:
        if args.b is not None:
            raise _UsageError(f"{op} takes one operand, got B={args.b!r}")
        return op, a, None
    if args.b is None:
        raise _UsageError(f"{op} needs two operands: A and B")
    return op, a, _operand(args.b, "B")


def format_steps(process: Process) -> str:
    """Readable trace: one block per model call, indented by call-stack depth."""
    out = []
    expr = f"{process.op}({process.a}{'' if process.b is None else f', {process.b}'})"
    verdict = process.error if process.error else f"result {process.result}"
    out.append(f"{expr}: {verdict}  [{len(process.calls)} model calls]")
    for n, (call, depth) in enumerate(zip(process.calls, process.call_depths), 1):
        pad = "    " * depth
        out.append(f"{pad}#{n} {call['executor']}")
        if n == 1 or call["executor"].endswith("_aligner"):
            for line in call["prompt"].rstrip("\n").split("\n"):
                out.append(f"{pad}    < {line}")
        for line in call["answer"].rstrip("\n").split("\n"):
            out.append(f"{pad}    > {line}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = _parser().parse_args(argv)
        op, a, b = _problem(args)
        process = Process(op, a, b, alignment=True)
        calls = MACHINES[op].total_calls(a, b)
        if calls > MAX_CALLS:
            raise _UsageError(f"{op} {a} {b} needs {calls} model calls (more than {MAX_CALLS}); choose smaller operands")
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except (_UsageError, ValueError) as exc:
        print(f"trace: error: {exc}", file=sys.stderr)
        return 2
    drive(process, oracle_answer)
    if args.steps:
        print(format_steps(process))
    else:
        print(json.dumps(process.to_dict()))
    if process.error is not None:  # cannot happen with the oracle; reported, not hidden
        print(f"trace: error: {process.error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
