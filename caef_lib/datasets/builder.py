"""Writing the trace datasets of a profile: the orchestration behind notebook 01.

    cfg = TraceConfig.from_params(P)          # P = TracesParams of notebook 01 (or build a TraceConfig)
    manifest = build(cfg, paths)              # every file + its card; returns the list of cards

Layout (``<data>`` = data/<profile>)::

    <data>/traces/<op>/<role>.<split>.jsonl         {"prompt": ..., "response": ...} per line
    <data>/traces/<op>/<role>.<split>.card.json     counts per class, sha256, parameters, seed, version
    <data>/traces/<op>/problems.<split>.u64         sorted 64-bit digests of the split's problems
    <data>/traces/manifest.json                     all cards

Splits and roles:

* ``train`` / ``test`` — the class loop (format.md §6.4) with ``num_per_class`` / ``num_per_class_test``;
  roles ``executor``, ``executor_stage1``, ``aligner`` and ``raw`` (the last two for operators with an
  aligner). Test problems never occur in the train split (checked and reported as ``overlap_with_train``).
* ``test_<N>_<N>`` — N-digit test sets (the reference's ``raw/<dir>/test_N_N.jsonl``) with the files that
  ``--setting separate`` derives from them: ``raw``, ``executor_only`` (q0 text -> final text, the
  reference's ``*_executor.jsonl``), ``aligner_input``, ``aligner_output``. The four files list the same
  problems in the same order. mul/div use the reference's own test design instead, ``test_<lo>_<hi>``
  (mul: a of lo..hi digits, b uniform in 1..15; div: b of lo..hi digits, quotient 2 or 3).

Parallelism: the classes of a split are cut into contiguous chunks that worker processes generate
independently (each class has its own random streams); the bytes written do not depend on the number of
workers (a test checks 1 vs 2).
"""
from __future__ import annotations

import array
import dataclasses
import hashlib
import math
import multiprocessing as mp
import os
import shutil
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import io
from ..machines import MACHINES, get, has_aligner
from ..paths import KitPaths
from . import classes as C
from . import render, samples, writer

GENERATOR_VERSION = "1"
CLASS_ROLES = ("executor", "executor_stage1", "aligner", "raw")        # splits train / test
TEST_ROLES = ("raw", "executor_only", "aligner_input", "aligner_output")  # splits test_<N>_<N>
ROLES = ("executor", "aligner", "raw", "executor_only", "aligner_input", "aligner_output")  # selectable
# (executor_stage1 is written with executor when TraceConfig.stage1 is on)
REFERENCE_TEST_OPS = ("mul", "div")  # tested the reference's way (small b / quotient 2-3)
SHARD_BYTES = 24 << 20               # target size of one temporary shard (auto shard count)
FAST_ADD = True                      # render ADD samples with render.add_lines (tests check it equals Add.step)


# ----------------------------------------------------------------------------------- paths
def traces_dir(paths: KitPaths) -> Path:
    return paths.data / "traces"


def dataset_path(paths: KitPaths, op: str, role: str, split: str) -> Path:
    """``data/<profile>/traces/<op>/<role>.<split>.jsonl``."""
    return traces_dir(paths) / op / f"{role}.{split}.jsonl"


def card_path(paths: KitPaths, op: str, role: str, split: str) -> Path:
    return traces_dir(paths) / op / f"{role}.{split}.card.json"


def digests_path(paths: KitPaths, op: str, split: str) -> Path:
    return traces_dir(paths) / op / f"problems.{split}.u64"


def length_split(lo: int, hi: int | None = None) -> str:
    """Split name of a test set by operand length: ``test_5_5`` (N = 5), ``test_1_10`` (mul/div)."""
    return f"test_{lo}_{lo if hi is None else hi}"


# ----------------------------------------------------------------------------------- configuration
@dataclass
class TraceConfig:
    """What to generate (the knobs of notebook 01; see TracesParams for their help texts)."""
    ops: list[str] = field(default_factory=lambda: list(C.REFERENCE_OPS))
    min_digits: int = 1
    max_digits: int = 8
    num_per_class: int = 20
    num_per_class_test: int = 2
    splits: list[str] = field(default_factory=lambda: ["train", "test"])
    test_lengths: list[int] = field(default_factory=lambda: [5, 10])
    test_num: int = 20
    muldiv_test_min: int = 1
    muldiv_test_max: int = 10
    subsample: bool = True
    subsample_draws: dict[str, int] = field(default_factory=dict)
    callee_halts: str = "runtime"
    stage1: bool = True
    roles: list[str] = field(default_factory=lambda: list(ROLES))
    shards: int = 0
    workers: int = 0
    reuse_existing: bool = True
    seed: int = 0

    @classmethod
    def from_params(cls, P: Any) -> "TraceConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        values = {n: getattr(P, n) for n in names if hasattr(P, n)}
        cfg = cls(**values)
        cfg.ops = expand_ops(cfg.ops)
        return cfg

    def key(self) -> dict:
        """The parameters that determine the bytes of the files (written into every card)."""
        d = dataclasses.asdict(self)
        d.pop("workers")
        d.pop("reuse_existing")
        return d


def expand_ops(ops: list[str]) -> list[str]:
    """``all`` = every registered machine the kit can generate data for, in a fixed order."""
    out: list[str] = []
    for op in ops:
        items = [o for o in C.ALL_OPS if o in MACHINES] if op == "all" else [op]
        for o in items:
            if o not in MACHINES:
                raise ValueError(f"operator {o!r} is not registered; known: {', '.join(sorted(MACHINES))}")
            if o not in out:
                out.append(o)
    return out


def class_roles(cfg: TraceConfig, op: str) -> list[str]:
    roles = []
    if "executor" in cfg.roles:
        roles.append("executor")
        if cfg.stage1:
            roles.append("executor_stage1")
    if has_aligner(op):
        roles += [r for r in ("aligner", "raw") if r in cfg.roles]
    return roles


def length_roles(cfg: TraceConfig, op: str) -> list[str]:
    """Files of an N-digit test set: executor_only, plus raw and both aligner directions with an aligner."""
    roles = ["executor_only"] + (["raw", "aligner_input", "aligner_output"] if has_aligner(op) else [])
    return [r for r in roles if r in cfg.roles]


# ----------------------------------------------------------------------------------- train index
class TrainIndex:
    """The train problems of one class, regenerated on demand (a test problem can only collide with the train
    problems of its own class, because the class is the pair of operand lengths)."""

    def __init__(self, cfg: TraceConfig, op: str):
        self.cfg, self.op = cfg, op
        self.valid = {c: n for c, n in C.class_counts(op, cfg.min_digits, cfg.max_digits, cfg.num_per_class)}
        self._cache: dict[C.Class, frozenset] = {}

    def of_class(self, c: C.Class) -> frozenset:
        if c not in self._cache:
            n = self.valid.get(c, 0)
            probs = C.draw_class(self.op, c, n, C.stream(self.cfg.seed, self.op, "train", c, "operands")).problems \
                if n else []
            self._cache[c] = frozenset(probs)
        return self._cache[c]

    def __contains__(self, p: C.Problem) -> bool:
        return p in self.of_class(problem_class(self.op, p))


def problem_class(op: str, p: C.Problem) -> C.Class:
    a, b = p
    return (len(str(a)), 0 if b is None else len(str(b)))


def digest(op: str, p: C.Problem) -> int:
    """64-bit digest of a problem (for the overlap check; a collision could only report a false overlap)."""
    return int.from_bytes(hashlib.blake2b(f"{op}:{p[0]},{p[1]}".encode(), digest_size=8).digest(), "little")


# ----------------------------------------------------------------------------------- class splits (workers)
def _estimate_bytes(op: str, c: C.Class, n: int, roles: list[str]) -> float:
    """Rough size of a class's executor + aligner + raw lines (for the shard count and load balancing)."""
    la, lb = c
    state = 4 * (la + lb) + 90 + (4 * (la + lb) + 90 if render.is_composer(op) else 0)
    per_problem = 0.0
    if "executor" in roles:
        per_problem += 8 * 2 * state
    if "aligner" in roles:
        per_problem += 3 * state
    if "raw" in roles:
        per_problem += 2 * (la + lb) + 40
    return n * per_problem


def _chunks(units: list[tuple[C.Class, int]], costs: list[float], parts: int) -> list[list[tuple[C.Class, int]]]:
    total = sum(costs) or 1.0
    out, cur, acc = [], [], 0.0
    target = total / max(1, parts)
    for u, cost in zip(units, costs):
        cur.append(u)
        acc += cost
        if acc >= target * (len(out) + 1) and len(out) < parts - 1:
            out.append(cur)
            cur = []
    if cur or not out:
        out.append(cur)
    return out


@dataclass
class ChunkJob:
    op: str
    split: str
    chunk: int
    units: list[tuple[C.Class, int]]
    folders: dict[str, str]          # role -> shard folder
    shards: dict[str, int]           # role -> number of shards
    cfg: dict


def run_chunk(job: ChunkJob) -> dict:
    """Generate the problems and lines of a chunk of classes (runs in a worker process)."""
    cfg = TraceConfig(**job.cfg)
    op, split = job.op, job.split
    machine = get(op)
    composer = machine.is_composer
    sinks = {role: writer.ShardSink(Path(folder), job.chunk, job.shards[role]) for role, folder in job.folders.items()}
    ex = sinks.get("executor")
    al = sinks.get("aligner")
    raw = sinks.get("raw")
    index = TrainIndex(cfg, op) if split != "train" else None
    draws = cfg.subsample_draws.get(op)
    mode = cfg.callee_halts
    stats: list[dict] = []
    digests = array.array("Q")
    fast_line = writer.fast_line
    fast_add = op == "add" and FAST_ADD
    for c, count in job.units:
        exclude = index.of_class(c) if index is not None else None
        drawn = C.draw_class(op, c, count, C.stream(cfg.seed, op, split, c, "operands"), exclude)
        sub_rng = C.stream(cfg.seed, op, split, c, "subsample")
        r_ex = C.stream(cfg.seed, op, split, c, "shards/executor").random
        r_al = C.stream(cfg.seed, op, split, c, "shards/aligner").random
        r_raw = C.stream(cfg.seed, op, split, c, "shards/raw").random
        n_ex = 0
        for a, b in drawn.problems:
            digests.append(digest(op, (a, b)))
            if ex is not None:
                if fast_add:
                    n = max(len(str(a)), len(str(b))) + 2
                    idx = samples.subsample_indices(op, n, sub_rng, draws) if cfg.subsample else list(range(n))
                    lines = render.add_lines(a, b, idx)
                else:
                    idx = samples.kept_transitions(op, a, b, sub_rng, cfg.subsample, draws)
                    if composer:
                        lines = [fast_line(*render.composer_transition(op, a, b, j, mode)) for j in idx]
                    else:
                        step = machine.step
                        lines = []
                        for j in idx:
                            s0, c0 = step(a, b, j)
                            s1, c1 = step(a, b, j + 1)
                            lines.append(f'{{"prompt": "{s0}\\n{c0}\\n", "response": "{s1}\\n{c1}\\n"}}\n')
                ex.add_many(lines, r_ex)
                n_ex += len(lines)
            if al is not None:
                (p1, r1), (p2, r2) = samples.aligner_pairs(op, a, b)
                al.add(fast_line(p1, r1), r_al())
                al.add(fast_line(p2, r2), r_al())
            if raw is not None:
                p, r = samples.raw_pair(op, a, b)
                raw.add(fast_line(p, r), r_raw())
        stats.append({"class": C.class_name(c), "la": c[0], "lb": c[1], "problems": len(drawn.problems),
                      "executor": n_ex, "rejected": drawn.rejected, "shortfall": drawn.shortfall})
    for s in sinks.values():
        s.close()
    return {"chunk": job.chunk, "classes": stats, "digests": digests.tobytes(),
            "sizes": {r: s.sizes for r, s in sinks.items()}, "counts": {r: s.counts for r, s in sinks.items()}}


def _finish_shard(args: tuple) -> int:
    return writer.shuffle_shard_into(*args)


class _Pool:
    """A lazily started pool of spawned workers (or in-process execution for one worker)."""

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self._pool = None

    def _get(self):
        if self._pool is None and self.workers > 1:
            self._pool = mp.get_context("spawn").Pool(self.workers)
        return self._pool

    def map_unordered(self, fn: Callable, items: list) -> list:
        pool = self._get() if len(items) > 1 else None
        if pool is None:
            return [fn(x) for x in items]
        return list(pool.imap_unordered(fn, items))

    def ordered_window(self, fn: Callable, items: list):
        """Results in order, at most `workers + 1` in flight (bounded memory)."""
        pool = self._get() if len(items) > 1 else None
        if pool is None:
            for x in items:
                yield fn(x)
            return
        pending: deque = deque()
        it = iter(items)
        for x in it:
            pending.append(pool.apply_async(fn, (x,)))
            if len(pending) > self.workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None


def auto_workers(cfg: TraceConfig, estimated_bytes: float) -> int:
    if cfg.workers:
        return cfg.workers
    if estimated_bytes < 30e6:  # starting processes costs more than it saves
        return 1
    return max(1, min(2, os.cpu_count() or 1))


@dataclass
class Group:
    op: str
    split: str
    units: list[tuple[C.Class, int]]
    roles: list[str]
    estimated_bytes: float


def class_group(cfg: TraceConfig, op: str, split: str) -> Group:
    k = cfg.num_per_class if split == "train" else cfg.num_per_class_test
    units = C.class_counts(op, cfg.min_digits, cfg.max_digits, k)
    roles = class_roles(cfg, op)
    est = sum(_estimate_bytes(op, c, n, roles) for c, n in units)
    return Group(op, split, units, roles, est)


def _shard_count(cfg: TraceConfig, est: float) -> int:
    if cfg.shards:
        return cfg.shards
    return max(1, min(512, math.ceil(est / SHARD_BYTES)))


_CODE_HASH: str | None = None


def code_hash() -> str:
    """SHA-256 of the code that determines the bytes of the files (the machines and this package, not the
    notebook's report helpers). A file is reused only if it was written by the same code."""
    global _CODE_HASH
    if _CODE_HASH is None:
        here = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for f in sorted([*(here.parent / "machines").glob("*.py"), *here.glob("*.py")]):
            if f.name == "report.py":
                continue
            h.update(f.name.encode())
            h.update(f.read_bytes())
        _CODE_HASH = h.hexdigest()
    return _CODE_HASH


def group_parameters(cfg: TraceConfig, op: str, split: str) -> dict:
    """The parameters that determine the files of one (operator, split) — what its cards record and what
    `build` compares before reusing existing files."""
    d = {"seed": cfg.seed, "min_digits": cfg.min_digits, "max_digits": cfg.max_digits,
         "num_per_class": cfg.num_per_class}  # train problems (test splits exclude them)
    if split == "train" or split == "test":
        d.update({"subsample": cfg.subsample, "subsample_draws": cfg.subsample_draws.get(op),
                  "callee_halts": cfg.callee_halts, "stage1": cfg.stage1, "roles": class_roles(cfg, op),
                  "shards": cfg.shards})
        if split == "test":
            d["num_per_class_test"] = cfg.num_per_class_test
    else:
        d.update({"test_num": cfg.test_num, "roles": length_roles(cfg, op)})
    return d


def _card_common(cfg: TraceConfig, op: str, role: str, split: str, path: Path, paths: KitPaths) -> dict:
    return {
        "generator": "caef_lib.datasets", "generator_version": GENERATOR_VERSION, "code_sha256": code_hash(),
        "op": op, "machine": get(op).name, "role": role, "split": split,
        "file": path.relative_to(paths.data).as_posix(), "seed": cfg.seed,
        "random_streams": f"random.Random('{C.STREAM_VERSION}/{cfg.seed}/{op}/{split}/<class>/<purpose>')",
        "parameters": group_parameters(cfg, op, split),
    }


def reusable_cards(cfg: TraceConfig, paths: KitPaths, op: str, split: str, roles: list[str]) -> list[dict] | None:
    """The cards of an (operator, split) whose files are already on disk, complete and written from the same
    parameters and code; None if anything has to be (re)written."""
    if not roles or not digests_path(paths, op, split).is_file():
        return None
    cards = []
    for role in roles:
        try:
            card = io.read_json(card_path(paths, op, role, split))
        except (FileNotFoundError, ValueError):
            return None
        path = dataset_path(paths, op, role, split)
        if (card.get("parameters") != group_parameters(cfg, op, split) or card.get("code_sha256") != code_hash()
                or card.get("generator_version") != GENERATOR_VERSION or not path.is_file()
                or path.stat().st_size != card.get("bytes")):
            return None
        cards.append(card)
    return cards


def generate_class_split(cfg: TraceConfig, paths: KitPaths, group: Group, pool: _Pool, log: Callable) -> list[dict]:
    op, split = group.op, group.split
    t0 = time.perf_counter()
    tmp = traces_dir(paths) / f".tmp-{op}-{split}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shard_roles = [r for r in group.roles if r != "executor_stage1"]
    # every file's shard count comes from its own size estimate (so it depends only on that file's knobs)
    shards = {r: _shard_count(cfg, sum(_estimate_bytes(op, c, n, [r]) for c, n in group.units)) for r in shard_roles}
    folders = {r: str(tmp / r) for r in shard_roles}
    costs = [_estimate_bytes(op, c, n, group.roles) + 1 for c, n in group.units]
    parts = 1 if pool.workers == 1 else 4 * pool.workers
    chunks = _chunks(group.units, costs, parts)
    jobs = [ChunkJob(op, split, i, ch, folders, shards, dataclasses.asdict(cfg)) for i, ch in enumerate(chunks)]
    try:
        results = sorted(pool.map_unordered(run_chunk, jobs), key=lambda r: r["chunk"])
        class_stats = [s for r in results for s in r["classes"]]
        digs = array.array("Q")
        for r in results:
            digs.frombytes(r["digests"])
        uniq = sorted(set(digs))
        io.write_bytes(digests_path(paths, op, split), array.array("Q", uniq).tobytes())
        cards = []
        for role in shard_roles:
            k_role = shards[role]
            sizes = [sum(r["sizes"][role][k] for r in results) for k in range(k_role)]
            counts = [sum(r["counts"][role][k] for r in results) for k in range(k_role)]
            stage1 = role == "executor" and "executor_stage1" in group.roles
            pre = samples.preamble(op) if stage1 else None
            extra = len(writer.escape(pre)) if stage1 else 0
            sizes1 = [size + n * extra for size, n in zip(sizes, counts)]
            offsets = [sum(sizes[:k]) for k in range(k_role)]
            offsets1 = [sum(sizes1[:k]) for k in range(k_role)]
            w = writer.AssembledFile(dataset_path(paths, op, role, split), sum(sizes))
            w1 = writer.AssembledFile(dataset_path(paths, op, "executor_stage1", split), sum(sizes1)) if stage1 else None
            try:
                items = [(folders[role], k, len(chunks), f"{C.STREAM_VERSION}/{cfg.seed}/{op}/{split}/{role}/shard{k}",
                          w.tmp, offsets[k], pre, w1.tmp if w1 else None, offsets1[k]) for k in range(k_role)]
                for k, n in enumerate(pool.ordered_window(_finish_shard, items)):
                    if n != counts[k]:
                        raise RuntimeError(f"{op} {split} {role}: shard {k} has {n} lines, expected {counts[k]}")
                    w.hash_upto(offsets[k] + sizes[k], n)
                    if w1 is not None:
                        w1.hash_upto(offsets1[k] + sizes1[k], n)
                written = [(role, w.close())] + ([("executor_stage1", w1.close())] if w1 is not None else [])
            except BaseException:
                w.abort()
                if w1 is not None:
                    w1.abort()
                raise
            for r, info in written:
                per_class = []
                for s in class_stats:
                    n = {"executor": s["executor"], "executor_stage1": s["executor"], "aligner": 2 * s["problems"],
                         "raw": s["problems"]}[r]
                    per_class.append({"class": s["class"], "la": s["la"], "lb": s["lb"], "problems": s["problems"],
                                      "samples": n})
                card = _card_common(cfg, op, r, split, dataset_path(paths, op, r, split), paths)
                card.update(info)
                card.update({
                    "problems": sum(s["problems"] for s in class_stats),
                    "unique_problems": len(uniq),
                    "samples": info["lines"],
                    "classes": per_class,
                    "rejected_for_overlap": sum(s["rejected"] for s in class_stats),
                    "shortfall": sum(s["shortfall"] for s in class_stats),
                    "shards": shards[role],
                })
                if r == "executor_stage1":
                    card["preamble"] = samples.preamble(op)
                cards.append(card)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"  {op} {split}: {cards[0]['problems'] if cards else 0} problems, "
        + ", ".join(f"{c['role']} {c['lines']}" for c in cards) + f" ({time.perf_counter() - t0:.1f} s)")
    return cards


# ----------------------------------------------------------------------------------- test sets by length
def test_sets(cfg: TraceConfig, op: str) -> list[tuple[str, list[tuple]]]:
    """(split, slots) of the length-based test sets of one operator."""
    if op in REFERENCE_TEST_OPS:
        return [(length_split(cfg.muldiv_test_min, cfg.muldiv_test_max),
                 [("ref", n) for n in range(cfg.muldiv_test_min, cfg.muldiv_test_max + 1)])]
    return [(length_split(n), [("len", n)]) for n in cfg.test_lengths]


def generate_length_split(cfg: TraceConfig, paths: KitPaths, op: str, split: str, slots: list[tuple],
                          log: Callable) -> list[dict]:
    t0 = time.perf_counter()
    index = TrainIndex(cfg, op)
    rng = C.stream(cfg.seed, op, split, "all", "operands")
    problems: list[C.Problem] = []
    rejected = shortfall = 0
    per_class: dict[str, dict] = {}
    for kind, n in slots:
        if kind == "ref":
            def draw(i, extra, _n=n):
                return C.mul_reference_problem(_n, rng) if op == "mul" else C.div_reference_problem(_n, rng)
            todo = [(None, i, False) for i in range(cfg.test_num)]
        else:
            todo = C.length_test_problems(op, n, cfg.test_num, rng)

            def draw(i, extra, _c=todo[0][0] if todo else None):
                return C.draw_problem(op, _c[0], _c[1], i, rng, extra)
        for _, i, extra in todo:
            for _ in range(C.MAX_TRIES):
                p = draw(i, extra)
                if p not in index:
                    problems.append(p)
                    name = C.class_name(problem_class(op, p))
                    row = per_class.setdefault(name, {"class": name, "la": problem_class(op, p)[0],
                                                      "lb": problem_class(op, p)[1], "problems": 0, "samples": 0})
                    row["problems"] += 1
                    row["samples"] += 1
                    break
                rejected += 1
            else:
                shortfall += 1
    C.stream(cfg.seed, op, split, "all", "order").shuffle(problems)
    uniq = sorted({digest(op, p) for p in problems})
    io.write_bytes(digests_path(paths, op, split), array.array("Q", uniq).tobytes())
    files: dict[str, list[str]] = {r: [] for r in length_roles(cfg, op)}
    for a, b in problems:
        if "raw" in files:
            files["raw"].append(writer.fast_line(*samples.raw_pair(op, a, b)))
        if "executor_only" in files:
            files["executor_only"].append(writer.fast_line(*samples.executor_only_pair(op, a, b)))
        if "aligner_input" in files or "aligner_output" in files:
            (p1, r1), (p2, r2) = samples.aligner_pairs(op, a, b)
            if "aligner_input" in files:
                files["aligner_input"].append(writer.fast_line(p1, r1))
            if "aligner_output" in files:
                files["aligner_output"].append(writer.fast_line(p2, r2))
    cards = []
    for role, lines in files.items():
        path = dataset_path(paths, op, role, split)
        info = writer.write_lines(path, lines)
        card = _card_common(cfg, op, role, split, path, paths)
        card.update(info)
        card.update({"problems": len(problems), "unique_problems": len(uniq), "samples": len(lines),
                     "classes": sorted(per_class.values(), key=lambda r: (r["la"], r["lb"])),
                     "rejected_for_overlap": rejected, "shortfall": shortfall, "shards": 0,
                     "design": _design(op, split)})
        cards.append(card)
    log(f"  {op} {split}: {len(problems)} problems ({time.perf_counter() - t0:.1f} s)")
    return cards


def _design(op: str, split: str) -> str:
    if op == "mul":
        return "reference MUL test: a with lo..hi digits (test_num per length), b uniform in 1..15"
    if op == "div":
        return "reference DIV test: b with lo..hi digits (test_num per length), quotient 2 or 3, a = q*b + r"
    n = split.split("_")[1]
    if op == "long_div":
        return f"a with {n} digits, b with max(1, {n} // 2) digits"
    if op == "mul_digit":
        return f"a with {n} digits, b one digit 1..9"
    return f"operands with {n} digits (class {n}x{n}; equal-length rules apply)"


# ----------------------------------------------------------------------------------- overlap
def read_digests(path: Path) -> set[int]:
    a = array.array("Q")
    a.frombytes(Path(path).read_bytes())
    return set(a)


def train_digests(cfg: TraceConfig, op: str) -> set[int]:
    """Digests of the train problems `cfg` defines, regenerated (when the train split was not written)."""
    out = set()
    for c, n in C.class_counts(op, cfg.min_digits, cfg.max_digits, cfg.num_per_class):
        for p in C.draw_class(op, c, n, C.stream(cfg.seed, op, "train", c, "operands")).problems:
            out.add(digest(op, p))
    return out


def overlap_table(paths: KitPaths, cards: list[dict], cfg: TraceConfig | None = None) -> list[dict]:
    """Problems of every test split that also occur in the train split of the same operator (expected: 0).
    The train problems come from the train digests file when the train split is among ``cards``, else they are
    regenerated from ``cfg``."""
    rows = []
    by_op: dict[str, set[str]] = {}
    for c in cards:
        by_op.setdefault(c["op"], set()).add(c["split"])
    for op, splits in sorted(by_op.items()):
        if "train" in splits:
            train = read_digests(digests_path(paths, op, "train"))
        elif cfg is not None:
            train = train_digests(cfg, op)
        else:
            train = None
        for split in sorted(splits - {"train"}):
            test = read_digests(digests_path(paths, op, split))
            rows.append({"op": op, "split": split, "unique_problems": len(test),
                         "train_unique_problems": None if train is None else len(train),
                         "overlap_with_train": None if train is None else len(test & train)})
    return rows


# ----------------------------------------------------------------------------------- entry point
def build(cfg: TraceConfig, paths: KitPaths, log: Callable[[str], None] = print) -> list[dict]:
    """Write every dataset file of `cfg` with its card, then the manifest; returns the cards."""
    cfg.ops = expand_ops(cfg.ops)
    groups = [class_group(cfg, op, split) for op in cfg.ops for split in cfg.splits]
    est = max([g.estimated_bytes for g in groups] + [0.0])
    pool = _Pool(auto_workers(cfg, est))
    cards: list[dict] = []
    t0 = time.perf_counter()
    log(f"writing traces to {traces_dir(paths)} ({pool.workers} worker process{'es' if pool.workers > 1 else ''})")
    def reuse(op: str, split: str, roles: list[str]) -> list[dict] | None:
        old = reusable_cards(cfg, paths, op, split, roles) if cfg.reuse_existing else None
        if old is not None:
            log(f"  {op} {split}: up to date ({len(old)} files kept)")
        return old

    try:
        for op in cfg.ops:
            for g in (g for g in groups if g.op == op):
                cards += reuse(op, g.split, g.roles) or generate_class_split(cfg, paths, g, pool, log)
            for split, slots in test_sets(cfg, op):
                cards += reuse(op, split, length_roles(cfg, op)) or generate_length_split(cfg, paths, op, split,
                                                                                        slots, log)
    finally:
        pool.close()
    overlaps = {(r["op"], r["split"]): r["overlap_with_train"] for r in overlap_table(paths, cards, cfg)}
    for c in cards:
        if c["split"] != "train":
            c["overlap_with_train"] = overlaps.get((c["op"], c["split"]))
            if c["overlap_with_train"]:
                raise RuntimeError(f"{c['op']} {c['split']}: {c['overlap_with_train']} problems also in train")
        io.write_json(card_path(paths, c["op"], c["role"], c["split"]), c)
    manifest = {"generator_version": GENERATOR_VERSION, "parameters": cfg.key(),
                "cards": sorted(cards, key=lambda c: (c["op"], c["split"], c["role"]))}
    io.write_json(traces_dir(paths) / "manifest.json", manifest)
    log(f"done: {len(cards)} files in {time.perf_counter() - t0:.1f} s")
    return manifest["cards"]


def load_manifest(paths: KitPaths) -> dict:
    return io.read_json(traces_dir(paths) / "manifest.json")
