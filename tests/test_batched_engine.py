"""The batched CAEF engine: the oracle in every mode, fault injection, batching changes nothing, the error kinds,
and `python -m caef_lib eval` (oracle, noisy oracle, a model folder with an adapter map)."""
import json
import subprocess
import sys

import pytest

from caef_lib import batched_engine as be
from caef_lib.call_errors import KINDS, classify
from caef_lib.engine import run_oracle


@pytest.mark.parametrize("mode", be.MODES)
def test_the_oracle_is_right_on_every_operator_in_every_mode(mode):
    for op in be.ALL:
        for digits in (1, 7, 20):
            if op == "long_div" and digits == 20:
                digits = 12  # a 24-digit dividend: the 40-digit one is slow and proves nothing more
            rows = be.run(be.draw_problems(op, digits, 3, seed=1), be.oracle_model, mode=mode, batch_size=2)
            assert all(r["correct"] for r in rows), (op, digits, mode, rows)
            assert all(r["first_wrong_kind"] is None for r in rows)


def test_problems_are_drawn_as_the_reference_test_sets():
    assert all(len(str(a)) == len(str(b)) == 6 for _, a, b in be.draw_problems("add", 6, 20))
    assert all(a >= b for _, a, b in be.draw_problems("sub", 6, 20))
    assert all(len(str(a)) == 6 and 1 <= b <= 15 for _, a, b in be.draw_problems("mul", 6, 20))
    assert all(len(str(b)) == 6 and 2 <= a // b <= 3 for _, a, b in be.draw_problems("div", 6, 20))
    assert all(len(str(a)) == 12 and len(str(b)) == 6 for _, a, b in be.draw_problems("long_div", 6, 20))
    assert be.draw_problems("add", 6, 20, seed=3) == be.draw_problems("add", 6, 20, seed=3)
    assert be.draw_problems("add", 6, 20, seed=3) != be.draw_problems("add", 6, 20, seed=4)


ALLOWED = {  # corruption -> the kinds it may be classified as (aligner calls are classified by direction)
    "digit": {"state", "command", "call", "return"},
    "drop_line": {"malformed"}, "duplicate_line": {"malformed"}, "empty": {"malformed"}, "random_text": {"malformed"},
    "truncate": {"malformed", "command", "call", "state"},
    "call_unknown": {"call"}, "call_wrong": {"call"},
}


def test_ten_thousand_corrupted_answers_end_every_problem_and_are_classified():
    noisy = be.NoisyOracle(0.5, seed=7)
    problems = [p for op in be.ALL for d in (1, 2, 4) for p in be.draw_problems(op, d, 400, seed=d)]
    rows = be.run(problems, noisy, batch_size=512)
    assert sum(noisy.injected.values()) >= 10_000 and set(noisy.injected) == set(be.CORRUPTIONS)
    assert len(rows) == len(problems) and all(r is not None for r in rows)
    for row in be.summarise(rows):
        assert row["correct"] + sum(row["errors"].values()) == row["n"]
        assert set(row["errors"]) <= set(KINDS)
    for k, r in enumerate(rows):
        if r["first_wrong_call"] is None:
            continue
        corruption = noisy.log[(k, r["first_wrong_call"])]  # a wrong call is always an injected one
        if r["first_wrong_adapter"].endswith("_aligner"):
            assert r["first_wrong_kind"] in ("aligner_input", "aligner_output")
        else:
            assert r["first_wrong_kind"] in ALLOWED[corruption], (corruption, r)


def test_noise_is_drawn_afresh_for_every_problem_not_every_index():
    """Problem k of one run and problem k of another (another operator or length) get independent faults; the
    same problems get the same faults."""
    def faulted(op):
        noisy = be.NoisyOracle(0.3, seed=1)
        be.run(be.draw_problems(op, 3, 200, seed=0), noisy)
        return {key for key, call in noisy.log if call == 0}

    assert faulted("add") != faulted("sub") and faulted("add") == faulted("add")
    assert 30 < len(faulted("add")) < 90


def test_the_adapters_a_run_needs():
    from caef_lib.eval_cmd import needed_adapters

    reflection = be.draw_problems("reflection", 3, 3, seed=0)
    assert needed_adapters(reflection, "full") == needed_adapters(reflection, "executor") == ["reflection"]
    assert needed_adapters(reflection, ["direct", "aligner_input"]) == []  # it has neither
    assert needed_adapters(be.draw_problems("sub", 3, 3, seed=0), "full") == [
        "add", "left_mask", "reflection", "sub", "sub_aligner"]


def test_a_wrong_direct_answer_is_its_own_kind():
    rows = be.run(be.draw_problems("add", 3, 20, seed=0), be.NoisyOracle(1.0, seed=0), mode="direct")
    assert {r["first_wrong_kind"] for r in rows} == {"direct"} and not any(r["correct"] for r in rows)
    assert be.summarise(rows)[0]["errors"] == {"direct": 20}


def test_batching_changes_no_answer():
    """Each problem driven alone (batch of one) and 300 problems in flight with refills give the same rows."""
    problems = [p for op in ("add", "sub", "mul", "long_mul") for p in be.draw_problems(op, 3, 30, seed=2)]
    alone = be.run(problems, be.NoisyOracle(0.05, seed=1), batch_size=1)
    together = be.run(problems, be.NoisyOracle(0.05, seed=1), batch_size=37)
    assert alone == together
    assert 0 < sum(r["correct"] for r in alone) < len(problems)


def test_the_problems_with_the_highest_step_limit_start_first():
    problems = [("add", 12, 34), ("mul", 31415, 9), ("add", 5, 6), ("div", 98765, 43)]
    started = []

    def recording(requests):
        started.extend(r.key for r in requests if r.call == 0 and r.key not in started)
        return be.oracle_model(requests)

    rows = be.run(problems, recording, batch_size=1)
    limits = [be.step_limit(*p, "full") for p in problems]
    assert started == sorted(range(4), key=lambda k: -limits[k]) and limits[1] > limits[0]
    assert [(r["op"], int(r["a"])) for r in rows] == [(op, a) for op, a, _ in problems]
    assert all(r["correct"] for r in rows)


def test_stop_at_first_error_ends_a_problem_at_its_first_wrong_call():
    problems = be.draw_problems("mul", 3, 50, seed=0)
    full = be.run(problems, be.NoisyOracle(0.1, seed=3))
    stopped = be.run(problems, be.NoisyOracle(0.1, seed=3), stop_at_first_error=True)
    for f, s in zip(full, stopped):
        assert (f["first_wrong_call"], f["first_wrong_kind"]) == (s["first_wrong_call"], s["first_wrong_kind"])
        if s["first_wrong_call"] is not None:
            assert s["calls"] == s["first_wrong_call"] + 1 and not s["correct"]
    assert sum(s["calls"] for s in stopped) < sum(f["calls"] for f in full)


def test_error_kinds_name_the_wrong_part():
    calls = run_oracle("add", 45, 67)["calls"]
    step = calls[2]
    want = step["answer"]
    assert classify("add", step["prompt"], want.replace("[C]1", "[C]0"), want) == ("state", "carry")
    assert classify("add", step["prompt"], want.replace("|2[OUTPUT]", "|3[OUTPUT]"), want) == ("state", "output")
    assert classify("add", step["prompt"], want.replace("|5[HEAD1]|4", "|5|4[HEAD1]"), want) == ("state", "head")
    assert classify("add", step["prompt"], want.replace("q1,", "q2,", 1), want) == ("state", "name")
    assert classify("add", step["prompt"], want.replace("|7[HEAD2]|6", "|7[HEAD2]|5"), want) == ("state", "tape")
    assert classify("add", step["prompt"], want.split("\n")[0] + "\nCMD: x\n", want) == ("command", None)
    assert classify("add", step["prompt"], "nonsense", want) == ("malformed", None)
    assert classify("add_aligner", "45+67=", "x", calls[0]["answer"]) == ("aligner_input", None)
    assert classify("add_aligner", calls[-1]["prompt"], "45+67=113", "45+67=112") == ("aligner_output", None)
    mul = next(c for c in run_oracle("mul", 45, 3)["calls"] if "[CALL]" in c["answer"])
    assert classify("mul", mul["prompt"], mul["answer"].replace("LESS_THAN", "GREATER_THAN", 1),
                    mul["answer"]) == ("call", None)
    # a CALLed machine halting with a wrong state hands a wrong value back
    halt = next(c for c in run_oracle("sub", 47, 12)["calls"]
                if c["executor"] == "reflection" and "Halt" in c["answer"])
    state, rest = halt["answer"].split("\n", 1)
    i = max(j for j, ch in enumerate(state) if ch.isdigit())
    wrong = state[:i] + str((int(state[i]) + 1) % 10) + state[i + 1:] + "\n" + rest
    assert classify("reflection", halt["prompt"], wrong, halt["answer"], depth=1) == ("return", None)
    assert classify("reflection", halt["prompt"], wrong, halt["answer"], depth=0)[0] == "state"


def _eval(*args):
    return subprocess.run([sys.executable, "-m", "caef_lib", "eval", *args], capture_output=True, text=True)


def test_cli_json_counts_add_up():
    r = _eval("--model", "noisy-oracle", "--noise", "0.2", "--ops", "add,long_mul", "--digits", "2,5", "--n", "40",
              "--json", "--seed", "3")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert [(x["op"], x["digits"]) for x in rows] == [("add", 2), ("add", 5), ("long_mul", 2), ("long_mul", 5)]
    for x in rows:
        assert set(x) == {"op", "digits", "mode", "n", "correct", "accuracy", "ci_low", "ci_high", "errors", "calls",
                          "seconds"}
        assert x["n"] == 40 and x["correct"] + sum(x["errors"].values()) == 40
    oracle = json.loads(_eval("--model", "oracle", "--ops", "all", "--digits", "3", "--n", "4", "--json").stdout)
    assert len(oracle["rows"]) == len(be.ALL) and all(x["accuracy"] == 1.0 for x in oracle["rows"])


@pytest.mark.parametrize("args,message", [
    (["--model", "oracle", "--ops", "nope", "--digits", "3", "--n", "2"], "unknown operator"),
    (["--model", "oracle", "--ops", "add", "--digits", "x", "--n", "2"], "--digits"),
    (["--model", "oracle", "--ops", "add", "--digits", "3", "--n", "0"], "--n"),
    (["--model", "oracle", "--ops", "add", "--digits", "3", "--n", "2", "--noise", "0.1"], "noisy-oracle"),
    (["--model", "/no/such/folder", "--ops", "add", "--digits", "3", "--n", "2"], "model"),
    (["--model", "oracle", "--ops", "reflection", "--digits", "3", "--n", "2", "--mode", "aligner_input"], "no aligner"),
    (["--ops", "add"], "required"),
    (["--model", "oracle", "--ops", "add", "--digits", "4400", "--n", "1"], "--digits"),  # past Python's int limit
    (["--model", "oracle", "--ops", "left_mask", "--digits", "3", "--n", "2", "--mode", "direct"], "no direct"),
    (["--model", "oracle", "--ops", "add", "--digits", "3", "--n", "2", "--adapters", "/no/such"], "not --model"),
    (["--model", "oracle", "--ops", "add", "--digits", "3", "--n", "2", "--out", "table.json"], "a .csv file"),
    (["--model", "oracle", "--ops", "add", "--digits", "3", "--n", "2", "--device", "tpu"], "--device"),
    (["--model", "tiny-llama", "--profile", "no-such-profile", "--ops", "add", "--digits", "3", "--n", "2",
      "--adapters", "."], "missing adapter"),
])
def test_cli_bad_arguments_exit_2_with_one_line(args, message):
    r = _eval(*args)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr


def test_a_model_folder_with_an_adapter_map(tmp_path, one_thread):
    """A local base folder and adapters anywhere on disk, named by a YAML map; a missing one is named."""
    from caef_lib.models import build_tiny, save_base
    from caef_lib.training import TrainConfig, train

    model, tok = build_tiny("tiny-llama", None, seed=0, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                            num_attention_heads=4, num_key_value_heads=4)
    save_base(model, tok, tmp_path / "base")
    cfg = TrainConfig(method="lora", lora_r=2, lora_alpha=4, lora_targets="all-linear", batch_size=2, max_steps=1,
                      max_length=512)
    samples = [{"prompt": c["prompt"], "response": c["answer"]} for c in run_oracle("add", 12, 34)["calls"]]
    for name in ("add", "add_aligner"):
        train(cfg, model, tok, samples, tmp_path / "elsewhere" / f"my_{name}", progress=False)
    (tmp_path / "map.yaml").write_text("add: elsewhere/my_add\n")
    r = _eval("--model", str(tmp_path / "base"), "--adapter-map", str(tmp_path / "map.yaml"), "--ops", "add",
              "--digits", "1", "--n", "2", "--json")
    assert r.returncode == 2 and "add_aligner" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    (tmp_path / "map.yaml").write_text("add: elsewhere/my_add\nadd_aligner: elsewhere/my_add_aligner\n")
    r = _eval("--model", str(tmp_path / "base"), "--adapter-map", str(tmp_path / "map.yaml"), "--ops", "add",
              "--digits", "1", "--n", "2", "--json", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)["rows"][0]
    assert row["n"] == 2 and row["correct"] + sum(row["errors"].values()) == 2


def test_a_llama3_shaped_folder_runs_through_the_engine_and_the_cli(tmp_path, one_thread):
    """Random weights, a digit-grouping byte-level BPE without a pad token: padding, BOS and EOS handling must
    not change any answer, every problem ends, and the CLI reads the folder and its adapters."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from caef_lib.generation import generate, pad_id_of
    from caef_lib.models import load_base, load_trained
    from caef_lib.training import TrainConfig, train

    from caef_lib.tokenization import llama3_like_tokenizer

    tok = llama3_like_tokenizer()
    assert tok.pad_token is None and pad_id_of(tok) == tok.eos_token_id
    assert tok.convert_ids_to_tokens(tok("12345678+9=")["input_ids"])[1] == "123"
    import torch

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, max_position_embeddings=1024)
    LlamaForCausalLM(config).save_pretrained(tmp_path / "base")
    tok.save_pretrained(tmp_path / "base")
    model, tok = load_base(str(tmp_path / "base"), "cpu")
    cfg = TrainConfig(method="lora", lora_r=2, lora_alpha=4, batch_size=2, max_steps=1, max_length=512)
    samples = [{"prompt": c["prompt"], "response": c["answer"]} for c in run_oracle("add", 12, 34)["calls"]]
    for name in ("add", "add_aligner"):
        train(cfg, model, tok, samples, tmp_path / "adapters" / name, progress=False)
    for name in ("add", "add_aligner"):
        model = load_trained(model, tmp_path / "adapters" / name, name, "cpu")
    calls = run_oracle("add", 4513, 87)["calls"]
    prompts, names = [c["prompt"] for c in calls], [c["executor"] for c in calls]
    together = generate(model, tok, prompts, max_new_tokens=12, batch_size=len(prompts), adapter_names=names)
    alone = [generate(model, tok, [p], max_new_tokens=12, adapter_names=[n])[0] for p, n in zip(prompts, names)]
    assert together == alone  # left padding with EOS as pad, mixed adapters: the same answers
    merged = be.HFModel(model, tok, batch_size=3)
    assert merged.merge  # float32 and small: each adapter answers from a merged copy of the base
    rows = be.run(be.draw_problems("add", 3, 5), merged, batch_size=3)
    assert len(rows) == 5 and all(r["first_wrong_kind"] in KINDS for r in rows if not r["correct"])
    assert "add_aligner" in merged._merged and sorted(model.peft_config) == ["add", "add_aligner"]
    assert be.run(be.draw_problems("add", 3, 5), be.HFModel(model, tok, batch_size=3, merge=False), batch_size=3) \
        == rows  # peft's unmerged LoRA layers give the same answers
    lookup = be.HFModel(model, tok, batch_size=3, decoding="lookup")  # no pad token, digits grouped by three
    assert be.run(be.draw_problems("add", 3, 5), lookup, batch_size=3) == rows
    r = _eval("--model", str(tmp_path / "base"), "--adapters", str(tmp_path / "adapters"), "--ops", "add",
              "--digits", "2", "--n", "3", "--json", "--device", "cpu", "--decoding", "lookup")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)["rows"][0]
    assert row["correct"] + sum(row["errors"].values()) == 3


def test_merging_is_used_only_where_it_is_safe_and_leaves_the_peft_model_as_it_was(monkeypatch):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2)
    lora = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = get_peft_model(LlamaForCausalLM(config), lora, adapter_name="add")
    model.add_adapter("add_aligner", lora)
    before = {n: p.clone() for n, p in model.named_parameters()}
    ids = torch.tensor([[1, 5, 9, 3]])
    copy = be.merged_copy(model, "add")
    model.set_adapter("add")
    with torch.no_grad():
        torch.testing.assert_close(copy(ids).logits, model(ids).logits)
    assert not any("lora_" in n for n, _ in copy.named_parameters())
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())  # the peft model is untouched
    assert be.should_merge(model, "adapter", "auto") and not be.should_merge(model, "mixed", "auto")
    assert not be.should_merge(model, "adapter", False)
    assert not be.should_merge(model.get_base_model(), "adapter", "auto")  # not a peft model
    with pytest.raises(ValueError, match="grouping='adapter'"):
        be.should_merge(model, "mixed", True)
    with pytest.raises(ValueError, match="merge"):
        be.HFModel(model, None, merge="yes")
    with pytest.raises(ValueError, match="'sub' is not loaded"):
        be.HFModel(model, None).model_for("sub")
    with monkeypatch.context() as patch:
        patch.setattr(be, "MERGE_MAX_PARAMETERS", 10)  # a base too large for a copy per adapter
        assert not be.should_merge(model, "adapter", "auto") and be.should_merge(model, "adapter", True)
    model.to(torch.bfloat16)  # merging would round part of the LoRA update away
    assert not be.should_merge(model, "adapter", "auto")


def test_step_mode_scores_single_transitions_from_a_file(tmp_path):
    calls = [c for a, b in [(45, 67), (999, 1), (12345, 678)] for c in run_oracle("add", a, b)["calls"]
             if c["executor"] == "add"]
    path = tmp_path / "steps.jsonl"
    path.write_text("".join(json.dumps({"prompt": c["prompt"], "response": c["answer"]}) + "\n" for c in calls))
    steps = [json.loads(line) for line in path.read_text().splitlines()]
    assert all(r["correct"] for r in be.run_steps("add", steps, be.oracle_model, batch_size=4))
    noisy = be.run_steps("add", steps, be.NoisyOracle(0.5, seed=2), batch_size=4)
    row = be.summarise(noisy, keys=("op", "mode"))[0]
    assert 0 < row["correct"] < len(steps) and row["correct"] + sum(row["errors"].values()) == len(steps)
    r = _eval("--model", "oracle", "--mode", "step", "--steps-file", str(path), "--ops", "add", "--n", "5", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows"][0]["n"] == 5 and json.loads(r.stdout)["rows"][0]["accuracy"] == 1.0
    bad = _eval("--model", "oracle", "--mode", "step", "--ops", "add", "--n", "5")
    assert bad.returncode == 2 and "--steps-file" in bad.stderr
    text = _eval("--model", "oracle", "--mode", "step", "--steps-file", str(path), "--ops", "add", "--n", "5")
    assert text.returncode == 0 and "5/5" in text.stdout, text.stderr  # the readable table has no digits column
    aligner_q0 = run_oracle("add", 45, 67)["calls"][0]  # aligner(I): "45+67=" -> the first state (two lines)
    (tmp_path / "aligner.jsonl").write_text(json.dumps({"prompt": "45+67=", "response": aligner_q0["answer"]}) + "\n")
    sub = next(c for c in run_oracle("sub", 45, 12)["calls"] if c["executor"] == "sub")
    (tmp_path / "sub.jsonl").write_text(json.dumps({"prompt": sub["prompt"], "response": sub["answer"]}) + "\n")
    (tmp_path / "latin1.jsonl").write_bytes(b"\xff\xfe\n")
    (tmp_path / "late.jsonl").write_bytes(path.read_bytes()[:10_000].rsplit(b"\n", 1)[0] + b"\n\n\xff\n")
    late = _eval("--model", "oracle", "--mode", "step", "--steps-file", str(tmp_path / "late.jsonl"), "--ops", "add",
                 "--n", "2")
    assert late.returncode == 0, late.stderr  # a bad byte after the lines asked for (and a blank line) is no matter
    for name, message in (("aligner.jsonl", "not a step of the add executor"), ("sub.jsonl", "not a step of the add"),
                          ("latin1.jsonl", "not UTF-8")):
        bad = _eval("--model", "oracle", "--mode", "step", "--steps-file", str(tmp_path / name), "--ops", "add",
                    "--n", "5")
        assert bad.returncode == 2 and message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
