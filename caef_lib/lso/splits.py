"""Leave-Square-Out splits: which cells of a task's grid are held out, named as the released folders are.

    split = parse_split("addition", "1hole_(50, 50)_10_441_0-100")     # a Split: kind, squares, ...
    train, test = build_split("addition", "1hole_(50, 50)_10_441_0-100", scratchpad=False)
    write_split("addition", "1hole_(30, 70)_7_225_0-100", "out/")    # train.json + test.json, released layout

Names (spec.md a.1): `1hole_(<ca>, <cb>)_<L>_<(2L+1)^2>_<start>-<end>` (any centre and half-length L: a square
covers 2L+1 values per axis, inclusive), `3hole_<cells>_<start>-<end>` (the released draws only: the authors
drew them without a seed, so their centres and half-lengths are carried here as data), and
`random_split_<ratio>_<n_train>_<n_test>_<start>-<end>` (torch's `random_split` with a generator seeded 42, as
released). A `_cot` suffix asks for the scratchpad format. Cell order in the files is the released one: id order,
except random splits, which keep the permutation's order.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .. import io
from .tasks import Task, get_task


class SplitError(ValueError):
    """A split name that cannot be built: malformed, for another grid, a square outside the grid, ..."""


@dataclass(frozen=True)
class Square:
    cx: int        # centre: a (rabbits: legs/2)
    cy: int        # centre: b (rabbits: heads)
    half: int      # half-length L: the square covers cx-L..cx+L and cy-L..cy+L

    def contains(self, x: int, y: int) -> bool:
        return abs(x - self.cx) <= self.half and abs(y - self.cy) <= self.half


# The released three-square draws (centre (a, b) or (legs/2, heads), half-length), from each folder's
# test_squares.txt (../shared/reference/case_or_rule/datasets/README.md).
THREE_HOLES: dict[tuple[str, int], tuple[tuple[int, int, int], ...]] = {
    ("addition", 1411): ((53, 33, 10), (73, 78, 10), (13, 31, 11)),
    ("addition", 2155): ((66, 14, 10), (38, 37, 16), (26, 85, 12)),
    ("addition", 2363): ((20, 27, 10), (81, 55, 15), (45, 66, 15)),
    ("base_addition", 1899): ((41, 41, 13), (73, 63, 13), (75, 27, 10)),
    ("base_addition", 1907): ((76, 41, 12), (10, 21, 10), (84, 78, 14)),
    ("base_addition", 2459): ((46, 31, 14), (73, 47, 11), (29, 70, 16)),
    ("linear_regression", 1931): ((41, 36, 15), (11, 41, 10), (13, 76, 11)),
    ("linear_regression", 2243): ((59, 37, 15), (29, 26, 10), (27, 69, 14)),
    ("linear_regression", 2339): ((63, 38, 16), (46, 84, 12), (16, 86, 12)),
    ("mod_addition", 2803): ((79, 73, 10), (23, 43, 19), (44, 81, 14)),
    ("mod_addition", 2811): ((21, 43, 17), (80, 93, 15), (49, 88, 12)),
    ("mod_addition", 3187): ((79, 81, 19), (29, 56, 17), (14, 86, 10)),
    ("rabbits_and_chickens", 363): ((130, 82, 5), (88, 56, 5), (107, 89, 5)),
    ("rabbits_and_chickens", 459): ((124, 71, 6), (68, 49, 6), (124, 84, 5)),
    ("rabbits_and_chickens", 507): ((132, 80, 6), (104, 74, 6), (66, 47, 6)),
}
RANDOM_SEED = 42
MAX_HELD_OUT = 0.3   # the released generator's limit: the squares hold at most 30 % of the grid

_RANGE = r"(\d+)-(\d+)"
_PATTERNS = {
    "1hole": re.compile(rf"1hole_\((\d+), (\d+)\)_(\d+)_(\d+)_{_RANGE}"),
    "3hole": re.compile(rf"3hole_(\d+)_{_RANGE}"),
    "random": re.compile(rf"random_split_(0\.\d+)_(\d+)_(\d+)_{_RANGE}"),
}


@dataclass(frozen=True)
class Split:
    task: str
    name: str                      # without `_cot`
    kind: str                      # "1hole", "3hole" or "random"
    squares: tuple[Square, ...]    # empty for random splits
    scratchpad: bool
    ratio: float = 0.0             # random splits: the training share

    @property
    def folder(self) -> str:
        return self.name + ("_cot" if self.scratchpad else "")


def parse_split(task_name: str, name: str, scratchpad: bool = False) -> Split:
    """Check a split name against the task's grid; every problem is a SplitError with a one-line message."""
    try:
        task = get_task(task_name)
    except ValueError as e:
        raise SplitError(str(e)) from None
    if name.endswith("_cot"):
        name, scratchpad = name[:-4], True
    if scratchpad and task.scratchpad is None:
        raise SplitError(f"the task {task_name} has no scratchpad format (released for addition, base_addition "
                         f"and mod_addition only)")
    kind, m = next(((k, p.fullmatch(name)) for k, p in _PATTERNS.items() if p.fullmatch(name)), (None, None))
    if m is None:
        raise SplitError(f"split {name!r} is not of the form 1hole_(<a>, <b>)_<L>_<cells>_<start>-<end>, "
                         f"3hole_<cells>_<start>-<end> or random_split_<ratio>_<train>_<test>_<start>-<end>")
    start, end = int(m[m.lastindex - 1]), int(m[m.lastindex])
    if (start, end) != (0, task.size):
        raise SplitError(f"split {name!r}: the {task_name} grid is {0}-{task.size}, not {start}-{end}")
    n_cells = len(task.cells())
    if kind == "random":
        ratio, n_train, n_test = float(m[1]), int(m[2]), int(m[3])
        want = int(ratio * n_cells)
        if (n_train, n_test) != (want, n_cells - want):
            raise SplitError(f"split {name!r}: a {m[1]} split of the {n_cells} cells of {task_name} has "
                             f"{want}/{n_cells - want} cells, not {n_train}/{n_test}")
        return Split(task_name, name, kind, (), scratchpad, ratio)
    if kind == "3hole":
        draws = THREE_HOLES.get((task_name, int(m[1])))
        if draws is None:
            known = ", ".join(f"3hole_{n}_0-{task.size}" for t, n in THREE_HOLES if t == task_name)
            raise SplitError(f"split {name!r}: three-square splits were drawn without a seed, so only the released "
                             f"ones can be built ({known})")
        return Split(task_name, name, kind, tuple(Square(*d) for d in draws), scratchpad)
    cx, cy, half, count = (int(m[i]) for i in range(1, 5))
    if count != (2 * half + 1) ** 2:
        raise SplitError(f"split {name!r}: a square of half-length {half} has {(2 * half + 1) ** 2} cells, "
                         f"not {count}")
    square = Square(cx, cy, half)
    width, height = task.grid_shape
    if cx - half < 0 or cy - half < 0 or cx + half >= width or cy + half >= height:
        raise SplitError(f"split {name!r}: the square {cx - half}..{cx + half} x {cy - half}..{cy + half} is "
                         f"outside the {task_name} grid (0..{width - 1} x 0..{height - 1})")
    if count > MAX_HELD_OUT * n_cells:
        raise SplitError(f"split {name!r}: {count} cells are more than {MAX_HELD_OUT:.0%} of the {n_cells} "
                         f"cells of {task_name}")
    return Split(task_name, name, kind, (square,), scratchpad)


# The splits the paper's figures use (spec.md c): the single square (L = 10), the plotted three-square set and
# the 70/30 random control of each task.
RELEASED = {
    "addition": ("1hole_(50, 50)_10_441_0-100", "3hole_1411_0-100", "random_split_0.7_7000_3000_0-100"),
    "base_addition": ("1hole_(50, 50)_10_441_0-100", "3hole_1899_0-100", "random_split_0.7_7000_3000_0-100"),
    "linear_regression": ("1hole_(50, 50)_10_441_0-100", "3hole_2243_0-100", "random_split_0.7_7000_3000_0-100"),
    "mod_addition": ("1hole_(56, 56)_10_441_0-113", "3hole_3187_0-113", "random_split_0.7_8938_3831_0-113"),
    "rabbits_and_chickens": ("1hole_(70, 50)_10_441_0-100", "3hole_363_0-100",
                             "random_split_0.7_3535_1515_0-100"),
}


def released_split(task: str, kind: str) -> str:
    """The folder name of the task's released `1hole`, `3hole` or `random` split that the paper plots."""
    return RELEASED[get_task(task).name][("1hole", "3hole", "random").index(kind)]


def ablation_split(task: str, half: int) -> str:
    """A single square of half-length `half` at the centre of the task's released one (square-size ablation)."""
    m = _PATTERNS["1hole"].fullmatch(released_split(task, "1hole"))
    return f"1hole_({m[1]}, {m[2]})_{half}_{(2 * half + 1) ** 2}_{m[5]}-{m[6]}"


def held_out(task: Task, split: Split) -> list[int]:
    """The ids of the test cells, in the order the released test.json holds them."""
    cells = task.cells()
    if split.kind == "random":
        return random_order(len(cells))[int(split.ratio * len(cells)):]
    return [i for i, (a, b) in enumerate(cells) if any(s.contains(*task.square_xy(a, b)) for s in split.squares)]


def random_order(n: int) -> list[int]:
    """torch.utils.data.random_split's permutation with a generator seeded 42 (the released random splits)."""
    import torch

    return torch.randperm(n, generator=torch.Generator().manual_seed(RANDOM_SEED)).tolist()


def build_split(task_name: str, name: str, scratchpad: bool = False) -> tuple[list[dict], list[dict]]:
    """(train records, test records) of a split, exactly as the released files hold them."""
    split = parse_split(task_name, name, scratchpad)
    task = get_task(task_name)
    cells = task.cells()
    test_ids = held_out(task, split)
    if split.kind == "random":
        train_ids = random_order(len(cells))[:int(split.ratio * len(cells))]
    else:
        held = set(test_ids)
        train_ids = [i for i in range(len(cells)) if i not in held]
    if not test_ids:
        raise SplitError(f"split {name!r} holds out no cell of {task_name}")

    def records(ids):
        return [task.record(i, *cells[i], scratchpad=split.scratchpad) for i in ids]

    return records(train_ids), records(test_ids)


def write_split(task_name: str, name: str, out_dir: str | os.PathLike, scratchpad: bool = False) -> Path:
    """Write train.json and test.json (single-line JSON arrays, as released; 3-hole splits also
    test_squares.txt) into `out_dir`, atomically each; returns `out_dir`."""
    split = parse_split(task_name, name, scratchpad)
    train, test = build_split(task_name, name, scratchpad)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    io.write_bytes(out / "train.json", json.dumps(train).encode())
    io.write_bytes(out / "test.json", json.dumps(test).encode())
    if split.kind == "3hole":
        centres = ", ".join(f"({s.cx}, {s.cy})" for s in split.squares)
        lengths = ", ".join(str(s.half) for s in split.squares)
        io.write_bytes(out / "test_squares.txt", f"centers:[{centres}]\nlengths:[{lengths}]".encode())
    return out
