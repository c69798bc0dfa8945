"""The reference's ``--setting separate``, reproduced byte for byte (format.md §6.1, §6.2).

``generate.py --split test --setting separate`` reads the raw test files ``raw/<dir>/test_<N>_<N>.jsonl`` of
one operator (N = 5, 10, 50, 100 in that order for add / equal / greater_than / less_than; N = 5 for sub; the
single ``test_1_10`` for mul and div) and writes, per raw file, three lists, each shuffled with the global
``random`` that was seeded once with 43 for the whole call (executor list first, then aligner input, then
aligner output):

* ``execute_<op>_<N>_<N>_executor.jsonl``: q0 text -> final text (MUL/DIV: the halt text of the shortcut,
  which equals the real one for b >= 1);
* ``..._aligner_input.jsonl``: raw prompt -> q0 text;
* ``..._aligner_output.jsonl``: final text -> raw prompt + raw response.

`separate` takes the rows of one raw file and the shared random generator; tests derive the reference's
files from its own raw files and compare the bytes. The kit's own length test sets (`build`) use the same
texts but keep the four files in one shared order.
"""
from __future__ import annotations

import json
import random

from ..machines import parse_expression
from . import render

# raw directory of each operator and the N of its test files, in the order the reference processes them
RAW_DIRS = {"add": "addition", "sub": "subtraction", "mul": "mul", "div": "division", "equal": "equal",
            "greater_than": "greater_than", "less_than": "less_than"}
SEPARATE_FILES = {
    "add": ["5_5", "10_10", "50_50", "100_100"],
    "equal": ["5_5", "10_10", "50_50", "100_100"],
    "greater_than": ["5_5", "10_10", "50_50", "100_100"],
    "less_than": ["5_5", "10_10", "50_50", "100_100"],
    "sub": ["5_5"],
    "mul": ["1_10"],
    "div": ["1_10"],
}
SEPARATE_SEED = 43


def dumps(prompt: str, response: str) -> str:
    """One line exactly as the reference writes it (json.dumps defaults + newline)."""
    return json.dumps({"prompt": prompt, "response": response}) + "\n"


def separate(op: str, raw_rows: list[dict], rng: random.Random) -> tuple[list[str], list[str], list[str]]:
    """(executor, aligner_input, aligner_output) lines derived from one raw test file."""
    ex, ai, ao = [], [], []
    for row in raw_rows:
        expr, result = row["prompt"], row["response"]
        _, a, b = parse_expression(expr)
        init = render.init_text(op, a, b)
        final = render.final_text(op, a, b)
        ex.append(dumps(init, final))
        ai.append(dumps(expr, init))
        ao.append(dumps(final, expr + result))
    rng.shuffle(ex)
    rng.shuffle(ai)
    rng.shuffle(ao)
    return ex, ai, ao


def separate_files(op: str, raw_files: list[list[dict]]) -> list[tuple[list[str], list[str], list[str]]]:
    """`separate` over the raw files of one operator, in the reference's order, with one seeded generator."""
    rng = random.Random(SEPARATE_SEED)
    return [separate(op, rows, rng) for rows in raw_files]


def export_reference_layout(paths, out_root, ops: list[str] | None = None) -> list[str]:
    """Write the kit's N-digit test sets in the reference's own layout under ``out_root`` (for running the
    reference's ``eval_tm.py`` on the kit's problems): ``datasets/raw/<dir>/test_<N>_<N>.jsonl`` (the kit's raw
    file, rewritten with ``json.dumps``) and the three ``--setting separate`` files of each, derived exactly as
    the reference derives them (one generator seeded with 43 per operator, files in increasing N). Returns the
    written paths."""
    from pathlib import Path

    from .. import io
    from .builder import dataset_path
    from .writer import read_samples

    out_root = Path(out_root)
    written = []
    for op in ops or list(RAW_DIRS):
        splits = sorted((p.name.split(".")[1] for p in (paths.data / "traces" / op).glob("raw.test_*_*.jsonl")),
                        key=lambda s: tuple(int(x) for x in s.split("_")[1:]))
        raws = [list(read_samples(dataset_path(paths, op, "raw", s))) for s in splits]
        for split, rows, (ex, ai, ao) in zip(splits, raws, separate_files(op, raws)):
            name = split[len("test_"):]
            raw_path = out_root / "datasets" / "raw" / RAW_DIRS[op] / f"test_{name}.jsonl"
            io.write_text(raw_path, "".join(dumps(r["prompt"], r["response"]) for r in rows))
            written.append(str(raw_path))
            for kind, lines in (("executor", ex), ("aligner_input", ai), ("aligner_output", ao)):
                path = out_root / "datasets" / "test" / f"execute_{op}_{name}_{kind}.jsonl"
                io.write_text(path, "".join(lines))
                written.append(str(path))
    return written
