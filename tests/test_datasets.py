"""Trace datasets (caef_lib.datasets): texts, balancing, subsampling, files, cards, determinism, disjointness,
and byte-for-byte agreement with the reference's own generator output where it is deterministic."""
import collections
import json
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caef_lib.datasets import TraceConfig, build, card_path, dataset_path, digests_path, read_samples
from caef_lib.datasets import builder, classes as C, reference, render, samples, writer
from caef_lib.machines import MACHINES, get, input_to_tm, python_result, tm_to_output
from caef_lib.notebook_params import TracesParams
from caef_lib.params import ParameterError, validate
from caef_lib.paths import KitPaths

SMALL = dict(ops=["all"], min_digits=1, max_digits=3, num_per_class=2, num_per_class_test=1, test_lengths=[4],
             test_num=4, muldiv_test_min=1, muldiv_test_max=3)


@pytest.fixture(scope="module")
def small_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("traces")
    paths = KitPaths.of("t", root)
    cfg = TraceConfig(**SMALL, workers=1)
    cards = build(cfg, paths, log=lambda s: None)
    return cfg, paths, cards


# ----------------------------------------------------------------------------------- hand-checked texts
def test_literal_samples():
    # format.md §2.1, add 345 + 678: training pair 0 and the final text
    p, r = samples.executor_pair("add", 345, 678, 0)
    assert p == "ADD, q0, [HEAD1] |5|4|3[HEAD2] |8|7|6 [C] [OUTPUT]\nCMD: [C] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1\n"
    assert r == ("ADD, q1,  [HEAD1]|5|4|3 [HEAD2]|8|7|6 [C]0 [OUTPUT]\n"
                 "CMD: [C] 1, [OUTPUT] 3, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1\n")
    assert samples.raw_pair("add", 45, 67) == ("45+67=", "112")
    assert samples.raw_pair("greater_than", 123, 45) == ("123>45=", "True")
    (ip, ir), (op, orr) = samples.aligner_pairs("sub", 1000, 999)
    assert (ip, ir) == ("1000-999=", "SUB, q0, [HEAD1]|0|0|0|1 [HEAD2]|9|9|9 \nCMD q1\n")
    assert (op, orr) == ("SUB, qH, [HEAD1]|0|0|0|1 [HEAD2]|9|9|9 |1\nNo command to execute. Halt state.", "1000-999=1")
    # §3.4, mul 4513 * 3, transition 1 (LESS_THAN(1, 3) returned True), both callee_halts modes agree here
    p, r = samples.executor_pair("mul", 4513, 3, 1)
    assert p.endswith("LESS_THAN, qH,  |1[HEAD1] |3[HEAD2] True\nNo command to execute. Halt state.\n")
    assert r.startswith("MUL, q2, [HEAD1]|3|1|5|4 [HEAD2]|3 [COUNT]|1 [OUTPUT]|3|1|5|4\nCMD [CALL] ADD, q3\n")
    # §3.6: a MUL count of 12 is written unreversed only in the reference's fabricated halt lines
    j = 3 * 11 + 1  # q1 with count 12 + LESS_THAN(12, 15) halt
    runtime = samples.executor_pair("mul", 9, 15, j, "runtime")[0]
    fabricated = samples.executor_pair("mul", 9, 15, j, "reference")[0]
    assert "LESS_THAN, qH,  |2|1[HEAD1] |5|1[HEAD2] True" in runtime
    assert "LESS_THAN, qH,  |1|2[HEAD1] |5|1[HEAD2] True" in fabricated
    assert render.final_text("div", 45, 12) == "DIV, qH, [HEAD1]|5|4 [HEAD2]|2|1 [COUNT]|8|4 |3\nNo command to execute. Halt state."


def test_subsampling_rules():
    rng = random.Random(1)
    assert samples.subsample_indices("add", 5, rng) == [0, 1, 2, 3, 4]
    k = samples.subsample_indices("add", 12, rng)
    assert k[:3] == [0, 11, 10] and len(k) == 7 and all(1 <= j <= 9 for j in k[3:])
    k = samples.subsample_indices("equal", 9, rng)
    assert k[:4] == [0, 8, 7, 6] and len(k) == 9 and all(1 <= j <= 5 for j in k[4:])
    k = samples.subsample_indices("greater_than", 8, rng)
    assert k[:2] == [0, 7] and len(k) == 5 and all(1 <= j <= 6 for j in k[2:])
    assert samples.subsample_indices("mul", 10, rng) == list(range(10))
    k = samples.subsample_indices("mul", 3 * 10**40 - 1, rng)  # b = 10**40: huge transition counts are fine
    assert k[:2] == [0, 3 * 10**40 - 2] and len(k) == 5
    assert samples.subsample_indices("sub", 5, rng) == [0, 1, 2, 3, 4]
    # reflection 9999 - 12: n = 4 digits, no leading zeros -> 7 transitions (all kept); 10 nines - 10 nines:
    # 10 + 3 + 10 = 23 transitions, s = 10 -> [0, 22, 10, 11] + 4 before + 3 after the q2 switch
    n = get("reflection").num_calls(10**10 - 1, 10**10 - 1)
    k = samples.subsample_indices("reflection", n, rng, digits=10)
    assert n == 23 and k[:4] == [0, 22, 10, 11] and len(k) == 11
    assert all(1 <= j <= 9 for j in k[4:8]) and all(12 <= j <= 21 for j in k[8:])
    assert len(samples.subsample_indices("add", 12, rng, draws=0)) == 3


def test_class_counts_reproduce_the_reference_totals():
    # README example --min 1 --max 100 --num 20 (format.md §6.4)
    totals = {op: sum(n for _, n in C.class_counts(op, 1, 100, 20))
              for op in ("add", "sub", "mul", "div", "equal", "greater_than", "less_than")}
    assert totals == {"add": 170_400, "sub": 81_520, "mul": 238_000, "div": 40_480, "equal": 57_800,
                      "greater_than": 204_500, "less_than": 204_500}


def test_operand_rules():
    for op in ("sub", "div", "equal", "greater_than", "reflection", "left_mask", "mul_digit", "add"):
        for c, n in C.class_counts(op, 1, 6, 4):
            probs = C.draw_class(op, c, n, C.stream(0, op, "train", c, "operands")).problems
            assert len(probs) == n
            for i, (a, b) in enumerate(probs):
                assert builder.problem_class(op, (a, b)) == c, (op, c, a, b)
                if op == "sub":
                    assert a >= b
                if op == "div":
                    assert b != 0 and a // b < C.DIV_MAX_QUOTIENT
                if op in ("equal", "greater_than") and c[0] == c[1] and i % 2 == 0:
                    assert a == b
                if op == "reflection":
                    assert str(a) == "9" * c[0] and b <= a
                if op == "mul_digit":
                    assert 1 <= b <= 9
            if op == "reflection" and c[0] == c[1]:
                assert sum(str(b).startswith("9") for _, b in probs) >= n // 3
            if op == "left_mask" and c[0] > 2:
                assert all(str(a)[1] == "0" for a, _ in probs[::2])


def test_fast_add_renderer_equals_the_machine():
    m, rng = get("add"), random.Random(3)
    cases = [(0, 0), (9, 1), (9999, 1), (1, 9999), (345, 678), (10**30 - 1, 10**30 - 1)]
    cases += [(rng.randrange(10 ** rng.randint(1, 25)), rng.randrange(10 ** rng.randint(1, 25))) for _ in range(300)]
    for a, b in cases:
        traj = m.trajectory(a, b)
        expected = [json.dumps({"prompt": f"{s0}\n{c0}\n", "response": f"{s1}\n{c1}\n"}) + "\n"
                    for (s0, c0), (s1, c1) in zip(traj, traj[1:])]
        assert render.add_lines(a, b, list(range(len(traj) - 1))) == expected


@pytest.mark.parametrize("op", ["mul", "div"])
@pytest.mark.parametrize("mode", ["runtime", "reference"])
def test_direct_mul_div_renderer_equals_the_machine(op, mode):
    m = get(op)
    for a in list(range(0, 14)) + [99, 100, 4513]:
        for b in range(0 if op == "mul" else 1, 14):
            expected = m.transitions(a, b, callee_halts=mode)
            assert [render.composer_transition(op, a, b, j, mode) for j in range(len(expected))] == expected
            assert render.final_text(op, a, b) == "\n".join(expected[-1][1].split("\n"))


# ----------------------------------------------------------------------------------- JSON lines
@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_json_line_equals_json_dumps(p, r):
    assert writer.json_line(p, r) == json.dumps({"prompt": p, "response": r}) + "\n"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.just("\n"), max_size=60),
       st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.just("\n"), max_size=60))
def test_escape_equals_json_dumps_on_printable_ascii(p, r):
    assert writer.json_line(p, r) == json.dumps({"prompt": p, "response": r}) + "\n"
    assert writer.escape(p) == json.dumps(p)[1:-1]


def test_machine_alphabet_needs_only_newline_escaping():
    rng = random.Random(0)
    for op in MACHINES:
        for c, n in C.class_counts(op, 1, 4, 1)[:6]:
            for a, b in C.draw_class(op, c, n, rng).problems[:2]:
                for j in range(min(render.num_transitions(op, a, b), 6)):
                    p, r = samples.executor_pair(op, a, b, j)
                    assert writer.fast_line(p, r) == json.dumps({"prompt": p, "response": r}) + "\n"
    for op in MACHINES:
        assert samples.preamble(op).isascii() and samples.preamble(op).endswith("\n\n")


# ----------------------------------------------------------------------------------- built files
def test_every_sample_is_what_the_oracle_says(small_build):
    cfg, paths, cards = small_build
    plain = paths.root / "plain.txt"
    plain.write_text("x")  # the mode open() gives under this process's umask, not mkstemp's 0600
    assert {dataset_path(paths, c["op"], c["role"], c["split"]).stat().st_mode & 0o777 for c in cards} == {
        plain.stat().st_mode & 0o777}
    for c in cards:
        op, role, split = c["op"], c["role"], c["split"]
        m = get(op)
        rows = list(read_samples(dataset_path(paths, op, role, split)))
        assert len(rows) == c["lines"] and all(set(r) == {"prompt", "response"} for r in rows)
        for r in rows[:60]:
            p, a = r["prompt"], r["response"]
            if role == "executor":
                assert m.transition(p) == a
            elif role == "executor_stage1":
                pre = samples.preamble(op)
                assert p.startswith(pre) and m.transition(p[len(pre):]) == a
            elif role in ("aligner", "aligner_input", "aligner_output"):
                if p.endswith("="):
                    assert input_to_tm(p, op=op) == a
                else:
                    assert tm_to_output(p) == a and p == render.final_text(op, *_operands(op, a))
            elif role == "raw":
                x, y = _operands(op, p)
                assert python_result(op, x, y) == a
            elif role == "executor_only":
                assert p.startswith(m.name + ", q0, ") and a.startswith(m.name + ", qH, ")
    # stage 1 = the stage-2 lines in the same order behind the preamble
    s2 = list(read_samples(dataset_path(paths, "sub", "executor", "train")))
    s1 = list(read_samples(dataset_path(paths, "sub", "executor_stage1", "train")))
    assert [r["prompt"] for r in s1] == [samples.preamble("sub") + r["prompt"] for r in s2]


def _operands(op, text):
    m = re.fullmatch(r"(\d+)\D+?(\d+)=.*", text, re.S)
    return int(m[1]), int(m[2])


def test_cards_describe_their_files(small_build):
    cfg, paths, cards = small_build
    for c in cards:
        path = dataset_path(paths, c["op"], c["role"], c["split"])
        on_disk = json.loads(card_path(paths, c["op"], c["role"], c["split"]).read_text())
        assert on_disk == c
        assert c["sha256"] == builder.io.sha256_file(path) and c["bytes"] == path.stat().st_size
        assert sum(r["samples"] for r in c["classes"]) == c["lines"]
        assert sum(r["problems"] for r in c["classes"]) == c["problems"]
        assert c["generator_version"] == builder.GENERATOR_VERSION and c["seed"] == cfg.seed
        if c["split"] != "train":
            assert c["overlap_with_train"] == 0
    manifest = json.loads((paths.data / "traces" / "manifest.json").read_text())
    assert len(manifest["cards"]) == len(cards)
    roles = {(c["op"], c["role"], c["split"]) for c in cards}
    assert ("add", "executor_only", "test_4_4") in roles and ("mul", "aligner_input", "test_1_3") in roles
    assert ("reflection", "raw", "train") not in roles  # no aligner, no raw
    assert ("long_mul", "aligner", "train") in roles


def test_train_and_test_are_disjoint(small_build):
    cfg, paths, cards = small_build
    for op in ("add", "mul", "equal", "sub"):
        train = {r["prompt"] for r in read_samples(dataset_path(paths, op, "raw", "train"))}
        for split in ("test", "test_4_4" if op != "mul" else "test_1_3"):
            test = {r["prompt"] for r in read_samples(dataset_path(paths, op, "raw", split))}
            assert test and not (test & train), (op, split)
    for op in MACHINES:  # digests, including the machines without a raw file
        train = builder.read_digests(digests_path(paths, op, "train"))
        assert not (builder.read_digests(digests_path(paths, op, "test")) & train)
    # the reference's weakness: the same seed for both splits would give the same problems
    same = C.draw_class("add", (3, 3), 10, C.stream(0, "add", "train", (3, 3), "operands")).problems
    other = C.draw_class("add", (3, 3), 10, C.stream(0, "add", "test", (3, 3), "operands")).problems
    assert same != other


def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    cfg = dict(SMALL, ops=["add", "sub", "mul", "equal"], max_digits=12, num_per_class=3, shards=5)
    a = build(TraceConfig(**cfg, workers=1), KitPaths.of("x", tmp_path / "a"), log=lambda s: None)
    b = build(TraceConfig(**cfg, workers=2), KitPaths.of("x", tmp_path / "b"), log=lambda s: None)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 40
    for f in files_a:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert [c["sha256"] for c in a] == [c["sha256"] for c in b]
    c = build(TraceConfig(**dict(cfg, seed=1), workers=1), KitPaths.of("x", tmp_path / "c"), log=lambda s: None)
    assert {x["sha256"] for x in c}.isdisjoint({x["sha256"] for x in a if x["lines"] > 3})
    assert not list((tmp_path / "a").rglob(".tmp*"))  # no temporary shards or files left behind


def test_shards_change_the_order_not_the_content(tmp_path):
    cfg = dict(SMALL, ops=["add"], max_digits=6, num_per_class=2, test_lengths=[])
    lines = {}
    for shards in (1, 4):
        paths = KitPaths.of("s", tmp_path / str(shards))
        build(TraceConfig(**cfg, shards=shards), paths, log=lambda s: None)
        lines[shards] = dataset_path(paths, "add", "executor", "train").read_text().splitlines()
    assert lines[1] != lines[4] and sorted(lines[1]) == sorted(lines[4])


def test_reference_callee_halts_only_change_composer_inputs(tmp_path):
    cfg = dict(SMALL, ops=["sub", "mul"], max_digits=2, test_lengths=[])
    out = {}
    for mode in ("runtime", "reference"):
        paths = KitPaths.of("h", tmp_path / mode)
        build(TraceConfig(**cfg, callee_halts=mode), paths, log=lambda s: None)
        out[mode] = [list(read_samples(dataset_path(paths, op, "executor", "train"))) for op in ("sub", "mul")]
    for rt, ref in zip(out["runtime"], out["reference"]):
        assert [r["response"] for r in rt] == [r["response"] for r in ref]
    assert any(r["prompt"] != f["prompt"] for r, f in zip(out["runtime"][0], out["reference"][0]))  # SUB [C]1


def test_parameters(tmp_path):
    P = validate(TracesParams, {"ops": "add,mul", "max_digits": 5})
    assert P.ops == ["add", "mul"]
    for bad, word in [({"min_digits": 6, "max_digits": 5}, "min_digits"), ({"ops": ["nope"]}, "ops"),
                      ({"subsample": False, "ops": ["mul"]}, "subsample"),
                      ({"muldiv_test_min": 9, "muldiv_test_max": 2}, "muldiv_test_min"),
                      ({"subsample_draws": {"add": -1}}, "subsample_draws")]:
        with pytest.raises(ParameterError, match=word):
            validate(TracesParams, bad)
    cfg = TraceConfig.from_params(validate(TracesParams, {"ops": ["all"]}))
    assert cfg.ops[:9] == list(C.REFERENCE_OPS) and "workers" not in cfg.key()


def test_read_samples_limit(small_build):
    _, paths, _ = small_build
    path = dataset_path(paths, "add", "raw", "train")
    assert len(list(read_samples(path, limit=3))) == 3
    assert path == paths.data / "traces" / "add" / "raw.train.jsonl"


# ----------------------------------------------------------------------------------- the reference's files
def test_separate_setting_is_byte_identical_to_the_reference(reference_dir):
    base = reference_dir / "caef" / "datasets"
    for op, names in reference.SEPARATE_FILES.items():
        raws = [[json.loads(line) for line in open(base / "raw" / reference.RAW_DIRS[op] / f"test_{n}.jsonl")]
                for n in names]
        for n, (ex, ai, ao) in zip(names, reference.separate_files(op, raws)):
            for kind, lines in (("executor", ex), ("aligner_input", ai), ("aligner_output", ao)):
                expected = (base / "test" / f"execute_{op}_{n}_{kind}.jsonl").read_text()
                assert "".join(lines) == expected, (op, n, kind)


REFERENCE_TRAIN = {"add": "execute_add_no_prompt.json", "equal": "execute_equal_no_prompt.json",
                   "greater_than": "execute_greater_than_no_prompt.json",
                   "less_than": "execute_less_than_no_prompt_special.json", "reflection": "tm_reflection_no_prompt.json",
                   "left_mask": "left_mask_no_prompt.json", "sub": "execute_sub_no_prompt.json",
                   "mul": "execute_mul_no_prompt.json", "div": "execute_div_no_prompt.json"}


@pytest.mark.parametrize("op", list(REFERENCE_TRAIN))
def test_reference_training_samples_follow_the_same_rules(reference_dir, op):
    """Every sample of the reference's training file is one of the kit's (reference-mode) training pairs, and each
    problem contributes a multiple of what the kit's subsampling keeps (duplicates: 1-digit classes repeat)."""
    data = json.loads((reference_dir / "caef" / "datasets" / "train" / REFERENCE_TRAIN[op]).read_text())
    m = get(op)
    per_problem = collections.defaultdict(list)
    for d in data:
        p, r = d["instruction"], d["output"]
        assert d["input"] == ""
        if m.is_composer:
            head = re.match(rf"{m.name}, q\d, \[HEAD1\]((?:\|\d)+) \[HEAD2\]((?:\|\d)+)", p)
            a, b = (int(x.replace("|", "")[::-1]) for x in head.groups())
            pairs = m.transitions(a, b, callee_halts="reference") if not (op == "mul" and b == 0) else None
            if pairs is None:
                continue  # the reference's MUL b = 0 bug (the kit halts with 0)
            assert (p, r) in pairs
            per_problem[(a, b)].append(pairs.index((p, r)))
        else:
            assert m.transition(p) == r
            a, b, j = m._locate(p.split("\n")[0])
            per_problem[(a, b)].append(j)
    for (a, b), js in per_problem.items():
        n = render.num_transitions(op, a, b)
        rule = samples.subsample_indices(op, n, random.Random(0), digits=len(str(a)))
        assert len(js) % len(rule) == 0, (op, a, b, js)
        fixed = set(rule[:2])  # first and last are always kept
        assert fixed <= set(js)


def test_existing_files_are_reused_until_an_input_changes(tmp_path):
    paths = KitPaths.of("r", tmp_path)
    cfg = dict(SMALL, ops=["add", "sub"], test_lengths=[3])
    logs = []
    build(TraceConfig(**cfg), paths, log=logs.append)
    target = dataset_path(paths, "add", "executor", "train")
    before = target.stat().st_mtime_ns
    logs.clear()
    build(TraceConfig(**cfg), paths, log=logs.append)
    assert target.stat().st_mtime_ns == before and sum("up to date" in s for s in logs) == 6
    logs.clear()
    build(TraceConfig(**dict(cfg, test_num=5)), paths, log=logs.append)  # only the N-digit test sets change
    assert target.stat().st_mtime_ns == before and sum("up to date" in s for s in logs) == 4
    assert json.loads(card_path(paths, "add", "raw", "test_3_3").read_text())["problems"] == 5
    logs.clear()
    build(TraceConfig(**cfg, reuse_existing=False), paths, log=logs.append)
    assert target.stat().st_mtime_ns != before and not any("up to date" in s for s in logs)


def test_export_in_the_reference_layout(small_build, tmp_path):
    _, paths, _ = small_build
    written = reference.export_reference_layout(paths, tmp_path, ops=["add", "mul"])
    names = sorted(p.split("datasets/")[1] for p in written)
    assert names == ["raw/addition/test_4_4.jsonl", "raw/mul/test_1_3.jsonl",
                     "test/execute_add_4_4_aligner_input.jsonl", "test/execute_add_4_4_aligner_output.jsonl",
                     "test/execute_add_4_4_executor.jsonl", "test/execute_mul_1_3_aligner_input.jsonl",
                     "test/execute_mul_1_3_aligner_output.jsonl", "test/execute_mul_1_3_executor.jsonl"]
    ex = [json.loads(line) for line in open(tmp_path / "datasets" / "test" / "execute_mul_1_3_executor.jsonl")]
    mine = {(r["prompt"], r["response"]) for r in read_samples(dataset_path(paths, "mul", "executor_only", "test_1_3"))}
    assert {(r["prompt"], r["response"]) for r in ex} == mine
