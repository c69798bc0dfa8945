"""The training function: loss falls, resume == uninterrupted, adapters reload exactly, no network, errors."""
import random
import socket

import pytest
import torch
from safetensors.torch import load_file

from caef_lib import adapters as A
from caef_lib import models as M
from caef_lib import tiny_base as TB
from caef_lib import training as TR
from caef_lib.datasets import dataset_path
from caef_lib.training import checkpoints as CK
from caef_lib.training import data as D
from caef_lib.tokenization import caef_tokenizer

HALT = "No command to execute. Halt state."


def add_steps(a: int, b: int) -> list[dict]:
    """The ADD machine's stage-2 step samples (format.md §2.1), written out here so the test stands alone."""
    A = "".join("|" + d for d in reversed(str(a)))
    B = "".join("|" + d for d in reversed(str(b)))
    da, db = str(a)[::-1], str(b)[::-1]
    steps = [(f"ADD, q0, [HEAD1] {A}[HEAD2] {B} [C] [OUTPUT]", "CMD: [C] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1")]
    c, out, i = 0, "", 0
    while True:
        state = f"ADD, q1,  {A[:2 * i]}[HEAD1]{A[2 * i:]} {B[:2 * i]}[HEAD2]{B[2 * i:]} [C]{c} {out}[OUTPUT]"
        if i < max(len(da), len(db)):
            s = (int(da[i]) if i < len(da) else 0) + (int(db[i]) if i < len(db) else 0) + c
            cmd = (f"CMD: [C] {s // 10}, [OUTPUT] {s % 10}, [OUTPUT] RIGHT, " + ("[HEAD1] RIGHT, " if i < len(da) else "")
                   + ("[HEAD2] RIGHT, " if i < len(db) else "") + "q1")
            steps.append((state, cmd))
            out, c, i = out + f"|{s % 10}", s // 10, i + 1
        else:
            steps.append((state, f"CMD: [OUTPUT] {c}, [OUTPUT], [C], qH"))
            steps.append((f"ADD, qH,  {A}[HEAD1] {B}[HEAD2] [C]{c} {out + ('|1' if c else '')}", HALT))
            return [{"prompt": f"{s}\n{c}\n", "response": f"{s2}\n{c2}\n"}
                    for (s, c), (s2, c2) in zip(steps, steps[1:])]


def test_add_steps_match_the_reference():
    steps = add_steps(345, 678)
    assert steps[1]["response"] == ("ADD, q1,  |5[HEAD1]|4|3 |8[HEAD2]|7|6 [C]1 |3[OUTPUT]\n"
                                    "CMD: [C] 1, [OUTPUT] 2, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1\n")
    assert steps[-1]["response"] == f"ADD, qH,  |5|4|3[HEAD1] |8|7|6[HEAD2] [C]1 |3|2|0|1\n{HALT}\n"


def add_data(n_problems: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [s for _ in range(n_problems) for s in add_steps(rng.randint(0, 999), rng.randint(0, 999))]


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    yield


TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=2)


@pytest.fixture(scope="module")
def tok():
    return caef_tokenizer()


@pytest.fixture(scope="module")
def data():
    return add_data(12, seed=1)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, tok):
    """A tiny base after a few steps of the kit's generic pre-training (LoRA on random weights barely moves)."""
    folder = tmp_path_factory.mktemp("models") / "tiny-llama" / "base"
    TB.prepare_tiny_base("tiny-llama", folder, tok, steps=40, lr=1e-2, eval_samples=0, progress=False, arch=TINY)
    return folder


def base(tok):
    return M.build_tiny("tiny-llama", tok, seed=0, **TINY)[0]


def cfg(**kw):
    return TR.preset("tiny_lora", **{"lora_r": 8, "lora_alpha": 16, "batch_size": 8, "max_steps": 6,
                                    "checkpoint_every": 0, "lr": 3e-3, **kw})


def trainable(folder):
    name = "adapter_model.safetensors" if (folder / "adapter_model.safetensors").is_file() else "model.safetensors"
    return load_file(str(folder / name))


def test_prompt_is_masked_and_eos_appended(tok):
    e = D.encode_sample(tok, "45+67=", "112")
    assert e.input_ids[0] == tok.bos_token_id and e.input_ids[-1] == tok.eos_token_id
    assert tok.decode(e.input_ids[:e.n_prompt], skip_special_tokens=True) == "45+67="
    ids, mask, labels = D.collate([e, D.encode_sample(tok, "1+1=", "2")], tok.pad_token_id, "answer")
    assert labels[0].tolist() == [-100] * e.n_prompt + e.input_ids[e.n_prompt:]
    assert tok.decode([t for t in labels[0].tolist() if t != -100]) == "112</s>"
    assert mask[1].sum() < mask[0].sum() and labels[1][mask[1] == 0].eq(-100).all()


def test_length_bucketing_is_deterministic_and_complete():
    lengths = [random.Random(i).randint(5, 200) for i in range(500)]
    a = D.epoch_batches(lengths, 16, seed=0, epoch=3)
    assert a == D.epoch_batches(lengths, 16, seed=0, epoch=3)
    assert a != D.epoch_batches(lengths, 16, seed=0, epoch=4)
    assert sorted(i for b in a for i in b) == list(range(500))
    pad = lambda bs: sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in bs)  # noqa: E731
    assert pad(a) < 0.2 * pad(D.epoch_batches(lengths, 16, seed=0, epoch=3, bucket=False))


def test_generic_pretraining_data():
    import re

    samples = TB.generic_tape_samples(600, seed=0)
    assert samples == TB.generic_tape_samples(600, seed=0) != TB.generic_tape_samples(600, seed=1)
    echo = [s for s in samples if s["prompt"] == s["response"]]
    facts = [s for s in samples if s["prompt"].endswith("=")]
    reads = [s for s in samples if s["response"].count("\n") == 2 and s not in echo]
    peeks = [s for s in samples if s["prompt"].count("\n") == 1 and "CMD" not in s["prompt"] and s not in echo]
    assert 0.2 < len(echo) / 600 < 0.4 and 0.1 < len(facts) / 600 < 0.2 and 0.23 < len(reads) / 600 < 0.37
    assert 0.1 < len(peeks) / 600 < 0.2
    for s in facts:  # single-digit addition facts, right
        assert re.fullmatch(r"\d\+\d(\+[01])?=", s["prompt"]) and int(s["response"]) == eval(s["prompt"][:-1])
    for s in reads:  # the next command copies the digit after the first (READ) / last (SCAN) head
        state, command = s["response"].splitlines()
        heads = re.findall(r"\[HEAD\d?\]", state)
        head = heads[0] if state.startswith("READ") else heads[-1]
        after = re.match(r"\|(\d)", state[state.index(head) + len(head):])
        assert command.startswith(f"CMD [OUTPUT] {after.group(1) if after else 0}, [OUTPUT] RIGHT, {head} RIGHT")
    text = "".join(s["prompt"] + s["response"] for s in samples)
    assert "[OUTPUT]" in text and "RIGHT" in text and "ADD" not in text and "CMD:" not in text
    # ablation mixes (benchmarks/tiny_learning.py): a kind left out never occurs
    no_read = TB.generic_tape_samples(300, seed=0, mix=[(k, w) for k, w in TB.GENERIC_MIX if k != "read"])
    assert not [s for s in no_read if s["response"].count("\n") == 2 and s["prompt"] != s["response"]]
    # "peek": the prompt is a state line, the answer the digit after each of its heads (0 past the tape's end)
    peeks = TB.generic_tape_samples(300, seed=0, mix=[("peek", 1.0)])
    assert all(s["prompt"].count("\n") == 1 and "CMD" not in s["prompt"] for s in peeks)
    assert any(re.search(r"\[HEAD\d?\](?!\|)", s["prompt"]) for s in peeks)  # heads past the tape's end occur
    for s in peeks:
        state, want = s["prompt"].rstrip("\n"), []
        for head in re.findall(r"\[HEAD\d?\]", state):
            after = re.match(r"\|(\d)", state[state.index(head) + len(head):])
            want.append(f"{head} {after.group(1) if after else 0}")
        assert s["response"] == ", ".join(want) + "\n"
    for bad in ([], [("sing", 1.0)], [("echo", -1.0)], [("echo", 0.0)]):
        with pytest.raises(ValueError, match="generic mix"):
            TB.generic_tape_samples(10, mix=bad)


def test_generic_exact_match_per_kind(monkeypatch, tok):
    # a base that knows its addition facts and nothing else: right exactly on the "facts" samples
    def fake(model, tokenizer, samples, **kw):
        answers = [s["response"] if s["prompt"].endswith("=") else "?" for s in samples]
        return sum(a == s["response"] for a, s in zip(answers, samples)) / len(samples), answers

    monkeypatch.setattr(TB, "exact_match", fake)
    table = TB.generic_exact_match_by_kind(None, tok, n=20).set_index("kind")
    assert list(table.index) == [k for k, _ in TB.GENERIC_MIX] and (table["samples"] == 20).all()
    assert table.loc["facts", "exact_match"] == 1.0
    assert (table.drop("facts")["exact_match"] == 0.0).all()


def test_loss_falls_and_adapter_is_standard_peft(tmp_path, tok, data, pretrained):
    model, ptok = M.load_base(str(pretrained), "cpu")
    assert ptok.get_vocab() == tok.get_vocab()
    c = cfg(max_steps=25, lr=1e-2)
    before = TR.evaluate_loss(model, ptok, data, c)
    result = TR.train(c, model, ptok, data, tmp_path / "add", eval_samples=data, progress=False)
    assert len(result.log) == 25 and result.summary["final_eval_loss"] < 0.93 * before
    assert TR.evaluate_loss(model, ptok, data, c) == pytest.approx(before)  # the base is untouched
    assert {"adapter_config.json", "adapter_model.safetensors", "training_log.csv", "train_summary.json"} <= \
        {p.name for p in (tmp_path / "add").iterdir()}
    assert not (tmp_path / "_checkpoints").exists()
    s = result.summary
    assert s["steps"] == 25 and s["tokens"] > 0 and s["tokens_per_s"] > 0 and s["trainable_parameters"] > 0
    # an identical second call reuses the finished run
    again = TR.train(c, model, ptok, data, tmp_path / "add", eval_samples=data, progress=False)
    assert again.skipped and again.summary["fingerprint"] == s["fingerprint"]
    # ... but not on a different base
    other = TR.train(cfg(max_steps=2, lr=1e-2), base(tok), tok, data, tmp_path / "add", progress=False)
    assert not other.skipped


def test_a_run_leaves_the_shared_base_as_it_found_it_and_unload_errors_surface(tmp_path, tok, data, monkeypatch):
    from peft.tuners.tuners_utils import BaseTuner

    from caef_lib.training import wrap as W

    model = base(tok).eval()
    model.config.use_cache = True
    flags = {n: p.requires_grad for n, p in model.named_parameters()}

    def lora_left(m):
        return [n for n, _ in m.named_modules() if "lora_" in n]

    TR.train(cfg(max_steps=1), model, tok, data, tmp_path / "a", progress=False)
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags and not lora_left(model)
    assert model.config.use_cache is True and not model.training and not model.is_activation_checkpointing
    # what a GPU run turns on (activation checkpointing, no KV cache) is turned back off
    state = W.snapshot(model)
    peft_model = W.wrap(model, cfg())
    model.activation_checkpointing_enable()
    model.config.use_cache = False
    model.train()
    assert model.is_activation_checkpointing and lora_left(model)
    W.restore_base(model, state, peft_model=peft_model)
    assert not model.is_activation_checkpointing and model.config.use_cache is True and not model.training
    assert not lora_left(model) and {n: p.requires_grad for n, p in model.named_parameters()} == flags

    # a failing unload is an error, not a base that silently keeps LoRA layers
    def broken(self, *args, **kwargs):
        raise RuntimeError("unload broke")

    # a stage-1 adapter that does not fit is an error before training, and leaves no LoRA layer in the base
    first = TR.train(cfg(max_steps=1), model, tok, data, tmp_path / "first", progress=False)
    other = M.build_tiny("tiny-llama", tok, seed=0, **{**TINY, "hidden_size": 32, "intermediate_size": 64})[0]
    with pytest.raises(M.ModelError, match="does not fit"):
        TR.train(cfg(max_steps=1), other, tok, data, tmp_path / "c", progress=False, init_from=first.out_dir)
    assert not lora_left(other)

    monkeypatch.setattr(BaseTuner, "unload", broken)
    with pytest.raises(RuntimeError, match="unload broke"):
        TR.train(cfg(max_steps=1), base(tok), tok, data, tmp_path / "b", progress=False)


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("method", ["lora", "full"])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, tok, data, method):
    c = cfg(method=method, max_steps=7, checkpoint_every=2, lora_dropout=0.1, grad_accum=2, batch_size=4)
    TR.train(c, base(tok), tok, data, tmp_path / "straight", progress=False)

    def kill_at_5(step, row):
        if step == 5:
            raise Interrupted

    model = base(tok)
    with pytest.raises(Interrupted):
        TR.train(c, model, tok, data, tmp_path / "resumed", on_step=kill_at_5, progress=False)
    ckpts = CK.list_checkpoints(tmp_path / "_checkpoints" / "resumed")
    assert [p.name for p in ckpts] == ["checkpoint-000002", "checkpoint-000004"]
    assert type(model.model.layers[0].self_attn.q_proj) is torch.nn.Linear  # LoRA removed after the crash
    steps_after_resume = []
    resumed = TR.train(c, model, tok, data, tmp_path / "resumed", progress=False,
                       on_step=lambda step, row: steps_after_resume.append(step))
    assert steps_after_resume == [5, 6, 7]  # continued after checkpoint-000004
    assert resumed.log["step"].tolist() == list(range(1, 8))
    a, b = trainable(tmp_path / "straight"), trainable(tmp_path / "resumed")
    assert a.keys() == b.keys() and len(a) > 0
    for name in a:
        assert torch.equal(a[name], b[name]), name



def test_packed_batches_train_like_padded_ones(tmp_path, tok, data):
    """collate_packed: fewer rows for mixed lengths, each sample sees only itself, so the loss and training match."""
    samples = TB.generic_tape_samples(24, seed=3) + data[:8]  # 6-token facts beside long states
    encoded, _ = D.encode_samples(tok, samples, 1024)
    ids, mask, labels = D.collate(encoded, tok.pad_token_id, "answer")
    pids, pmask, positions, plabels = D.collate_packed(encoded, tok.pad_token_id, "answer")
    assert pids.shape[1] == ids.shape[1] and pids.shape[0] < ids.shape[0]
    assert sorted(t for t in plabels.flatten().tolist() if t != -100) == \
        sorted(t for t in labels.flatten().tolist() if t != -100)
    assert (positions == 0).sum() >= len(encoded)  # every sample starts again at position 0
    model = base(tok).eval()
    with torch.no_grad():
        padded = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        packed = model(input_ids=pids, attention_mask=pmask, position_ids=positions, labels=plabels).loss
    assert packed.item() == pytest.approx(padded.item(), rel=1e-5)
    a = TR.train(cfg(max_steps=3), base(tok), tok, samples, tmp_path / "padded", progress=False)
    b = TR.train(cfg(max_steps=3, pack=True), base(tok), tok, samples, tmp_path / "packed", progress=False)
    assert b.log["loss"].tolist() == pytest.approx(a.log["loss"].tolist(), rel=1e-4)
    assert b.log["tokens"].tolist() == a.log["tokens"].tolist()
    wa, wb = trainable(tmp_path / "padded"), trainable(tmp_path / "packed")
    for name in wa:
        assert torch.allclose(wa[name], wb[name], atol=1e-5), name


@pytest.mark.parametrize("method", ["lora", "full"])
def test_init_from_starts_at_the_given_weights(tmp_path, tok, data, method):
    """CAEF's stage 2 starts from the stage-1 result: a run with init_from and lr 0 ends where it began."""
    first = TR.train(cfg(method=method, max_steps=3), base(tok), tok, data, tmp_path / "stage1", progress=False)
    frozen = cfg(method=method, max_steps=2, lr=0.0)
    second = TR.train(frozen, base(tok), tok, data[:8], tmp_path / "stage2", progress=False, init_from=first.out_dir)
    fresh = TR.train(frozen, base(tok), tok, data[:8], tmp_path / "fresh", progress=False)
    a, b, c = trainable(tmp_path / "stage1"), trainable(tmp_path / "stage2"), trainable(tmp_path / "fresh")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert second.summary["fingerprint"] != fresh.summary["fingerprint"]
    other = "full" if method == "lora" else "lora"
    with pytest.raises(M.ModelError, match=f"holds a {method} result but method='{other}'"):
        TR.train(cfg(method=other), base(tok), tok, data, tmp_path / "x", progress=False, init_from=first.out_dir)
    if method == "lora":
        with pytest.raises(M.ModelError, match="its LoRA has"):
            TR.train(cfg(lora_r=4), base(tok), tok, data, tmp_path / "x", progress=False, init_from=first.out_dir)


def test_gradient_accumulation_matches_one_big_batch(tmp_path, tok, data):
    one = cfg(batch_size=8, grad_accum=1, bucket=False, lora_dropout=0.0, max_grad_norm=0.0, max_steps=3)
    acc = cfg(batch_size=4, grad_accum=2, bucket=False, lora_dropout=0.0, max_grad_norm=0.0, max_steps=3)
    TR.train(one, base(tok), tok, data, tmp_path / "one", progress=False)
    TR.train(acc, base(tok), tok, data, tmp_path / "acc", progress=False)
    a, b = trainable(tmp_path / "one"), trainable(tmp_path / "acc")
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-6)


def test_reloaded_adapters_give_identical_logits(tmp_path, tok, data):
    from peft import PeftModel

    shared = base(tok)
    batch = tok([d["prompt"] for d in data[:4]], return_tensors="pt", padding=True)
    trained = {}
    for name, samples in (("add", data), ("add_aligner", [{"prompt": "45+67=", "response": data[0]["prompt"]}] * 8)):
        result = TR.train(cfg(max_steps=3), shared, tok, samples, tmp_path / name, progress=False, keep_model=True)
        with torch.no_grad():
            trained[name] = result.model(**batch).logits
        result.model.unload()
    assert not torch.equal(trained["add"], trained["add_aligner"])

    alone = PeftModel.from_pretrained(base(tok), str(tmp_path / "add"))
    with torch.no_grad():
        assert torch.equal(alone(**batch).logits, trained["add"])
    both = M.load_adapters(shared, {n: tmp_path / n for n in trained})
    for name, expected in trained.items():
        both.set_adapter(name)
        with torch.no_grad():
            assert torch.equal(both(**batch).logits, expected), name


def test_no_network_during_build_train_save_load(tmp_path, monkeypatch, data):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    tok = caef_tokenizer([d["prompt"] for d in data])
    model = base(tok)
    M.save_base(model, tok, tmp_path / "base")
    loaded, ltok = M.load_base(str(tmp_path / "base"), "cpu")
    TR.train(cfg(max_steps=2), loaded, ltok, data, tmp_path / "add", progress=False)
    M.load_adapter(loaded, tmp_path / "add", "add")
    TR.train(cfg(max_steps=2, method="full"), M.load_base(str(tmp_path / "base"), "cpu")[0], ltok, data,
             tmp_path / "add_full", progress=False)
    M.load_base(str(tmp_path / "add_full"), "cpu")


def test_bad_inputs_are_clear_errors(tmp_path, tok, data):
    with pytest.raises(ValueError, match="method"):
        TR.preset("tiny_lora", method="qlora")
    with pytest.raises(KeyError, match="no training preset"):
        TR.preset("llama-70b")
    with pytest.raises(ValueError, match="not a {'prompt'"):
        TR.train(cfg(), base(tok), tok, [{"question": "1+1="}], tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="no training sample fits"):
        TR.train(cfg(max_length=8), base(tok), tok, data, tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="LoRA target modules"):
        TR.train(cfg(lora_targets=["c_attn"]), base(tok), tok, data, tmp_path / "x", progress=False)


def test_two_process_ddp_on_cpu_matches_one_process():
    """benchmarks/ddp_cpu_check.py: torchrun, 2 CPU processes (gloo) vs 1 process with grad_accum=2 (~15 s)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "ddp_cpu_check.py"
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and "OK" in done.stdout, done.stdout[-2000:] + done.stderr[-3000:]
    assert "ranks identical: True" in done.stdout


def test_notebook_parameters_reach_the_train_config_and_stage1_needs_its_data(tmp_path):
    from caef_lib.notebook_params import TrainingParams
    from caef_lib.params import validate
    from caef_lib.paths import KitPaths

    P = validate(TrainingParams, {"bucket": False, "adam_beta2": 0.98, "adapter_steps": {"add": 7},
                                  "stage1": True})
    c = P.train_config("add")
    assert (c.bucket, tuple(c.adam_betas), c.max_steps) == (False, (0.9, 0.98), 7)
    assert P.train_config("add_aligner").max_steps == P.max_steps
    paths = KitPaths.of("t", str(tmp_path))
    plain = dataset_path(paths, "add", "executor", "train")
    plain.parent.mkdir(parents=True)
    plain.write_text('{"prompt": "a", "response": "b"}\n')
    assert A.adapter_jobs(paths, ["add"], ["executor"])[0][0].stage1_file is None
    with pytest.raises(FileNotFoundError, match="executor_stage1.train.jsonl"):
        A.adapter_jobs(paths, ["add"], ["executor"], stage1=True)
    dataset_path(paths, "add", "executor_stage1", "train").write_text('{"prompt": "a", "response": "b"}\n')
    jobs, skipped = A.adapter_jobs(paths, ["add"], ["executor", "aligner"], stage1=True)
    assert [j.name for j in jobs] == ["add"] and jobs[0].stage1_file.name == "executor_stage1.train.jsonl"
    assert skipped and "add_aligner" in skipped[0]


def test_step_kinds_and_exact_match_per_kind(monkeypatch):
    from caef_lib.machines import step_kind

    steps = add_steps(345, 678)  # 3 digit-adding steps, the last carry, the halt
    assert [step_kind(s["response"]) for s in steps] == ["q1->q1"] * 3 + ["q1->qH", "halt"]
    call = ("MUL, q3, [HEAD1]|3 [HEAD2]|7 [COUNT]|3 [OUTPUT]|2\nCMD [CALL] ADD, q1\n"
            "ADD, q0, [HEAD1] |3[HEAD2] |1 [C] [OUTPUT]\n")
    assert step_kind(call) == "q3->q1 CALL"
    assert step_kind("garbage") == step_kind("ADD q1\nCMD: x\n") == step_kind("ADD, q1, |3\nCMD, \n") == "other"
    # a command that only moves to another state (REFLECTION's, LEFT_MASK's) has one field
    assert step_kind("REFLECTION, q1,  |9|9[HEAD1] |6[HEAD2] |3|9[OUTPUT]\nCMD q2\n") == "q1->q2"

    # a model that copies but cannot add: right on the last two steps only
    answers = ["wrong"] * 3 + [s["response"] for s in steps[3:]]
    monkeypatch.setattr(A, "exact_match", lambda model, tok, samples, **kw: (0.4, answers))
    table = A.exact_match_by_kind(None, None, steps).set_index("kind")
    assert table.loc["all", "exact_match"] == pytest.approx(0.4) and table.loc["all", "steps"] == 5
    assert table.loc["q1->q1", "exact_match"] == 0.0 and table.loc["q1->q1", "steps"] == 3
    assert table.loc["halt", "exact_match"] == table.loc["q1->qH", "exact_match"] == 1.0


def test_per_kind_table_of_a_composer_counts_its_calls_and_returns(monkeypatch):
    from caef_lib.engine import run_oracle
    from caef_lib.machines import step_kind

    steps = [{"prompt": c["prompt"], "response": c["answer"]} for c in run_oracle("mul", 12, 3)["calls"]
             if c["executor"] == "mul"]
    kinds = [step_kind(s["response"], s["prompt"]) for s in steps]
    assert kinds[0] == "q1->q2 CALL" and kinds[1] == "q2->q3 CALL (return)"  # CALL LESS_THAN, then ADD
    assert kinds[-1] == "halt (return)"  # the last comparison's result, then the halt
    assert sum(k.endswith("(return)") for k in kinds) == sum("CALL" in k for k in kinds) == 7  # each CALL returns
    wrong = kinds.index("q2->q3 CALL (return)")
    answers = [("wrong" if i == wrong else s["response"]) for i, s in enumerate(steps)]
    monkeypatch.setattr(A, "exact_match", lambda model, tok, samples, **kw: (None, answers))
    table = A.exact_match_by_kind(None, None, steps).set_index("kind")
    assert table.loc["q2->q3 CALL (return)", "exact_match"] < 1.0 and table.loc["q1->q2 CALL", "exact_match"] == 1.0
    assert table.loc["all", "steps"] == len(steps)


def test_aligner_exact_match_per_direction_and_length(monkeypatch):
    from caef_lib.machines import aligner_sample_kind, input_to_tm, tm_to_output

    halt = add_steps(45, 67)[-1]["response"]  # the halt state and halt command of 45+67
    assert tm_to_output(halt) == "45+67=112"
    samples = [{"prompt": e, "response": input_to_tm(e)} for e in ("4+5=", "123+45678=", "98765+1=")]
    samples.append({"prompt": halt, "response": "45+67=112"})
    assert [aligner_sample_kind(s["prompt"], s["response"]) for s in samples] == \
        [("to state", 1), ("to state", 5), ("to state", 5), ("to answer", 2)]
    assert aligner_sample_kind("ADD, q1, x", "CMD: y") == ("other", 0)

    # an aligner right on short operands only
    answers = [samples[0]["response"], "wrong", "wrong", samples[3]["response"]]
    monkeypatch.setattr(A, "exact_match", lambda model, tok, s, **kw: (0.5, answers))
    table = A.aligner_exact_match_by_length(None, None, samples)
    assert table.to_dict("records") == [
        {"direction": "to answer", "digits": 2, "samples": 1, "exact_match": 1.0},
        {"direction": "to state", "digits": 1, "samples": 1, "exact_match": 1.0},
        {"direction": "to state", "digits": 5, "samples": 2, "exact_match": 0.0}]


@pytest.mark.parametrize("launcher", ["python", "accelerate"])
def test_the_command_line_trains_an_adapter_also_under_accelerate_launch(tmp_path, data, launcher):
    """`python -m caef_lib.training` (the package's __main__), plain and under `accelerate launch`."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    train_file = tmp_path / "train.jsonl"
    train_file.write_text("".join(json.dumps(d) + "\n" for d in data))
    args = ["-m", "caef_lib.training", "--base", "tiny-llama", "--data", str(train_file), "--out",
            str(tmp_path / "add"), "--preset", "tiny_lora", "--set", "max_steps=2", "--set", "batch_size=4"]
    if launcher == "python":
        cmd = [sys.executable, *args]
    else:
        cmd = [str(Path(sys.executable).with_name("accelerate")), "launch", "--cpu", "--num_processes", "1",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "2 steps" in done.stdout and (tmp_path / "add" / "adapter_model.safetensors").is_file()
    done = subprocess.run([sys.executable, "-m", "caef_lib.training", "--base", "tiny-llama", "--data",
                           str(train_file), "--out", str(tmp_path / "x"), "--set", "nope=1"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--set 'nope=1'" in done.stderr


def test_adapter_workers_give_the_same_weights_as_one_after_another(tmp_path, data, pretrained, capfd):
    """Two worker processes of one thread each == one job after another on one thread, byte for byte; the
    workers' steps feed one progress bar, and the workers print no bars of their own (capfd: their stderr too)."""
    import json

    from caef_lib.paths import KitPaths

    train_file = tmp_path / "add.train.jsonl"
    train_file.write_text("".join(json.dumps(s) + "\n" for s in data))
    jobs = [A.AdapterJob(name, "add", "executor", train_file, tmp_path / "missing.test.jsonl")
            for name in ("add", "add_aligner", "add_direct")]
    configs = {"add": cfg(max_steps=4), "add_aligner": cfg(max_steps=3, seed=1), "add_direct": cfg(max_steps=2)}
    runs = {}
    for workers in (1, 2):
        paths = KitPaths.of("smoke", tmp_path / f"w{workers}")
        capfd.readouterr()
        pairs = A.train_jobs(jobs, configs, str(pretrained), paths, base_model="tiny-llama", device="cpu",
                             workers=workers, eval_samples=0, progress=workers == 2)
        assert [j.name for j, _ in pairs] == ["add", "add_aligner", "add_direct"]  # the order of `jobs`
        assert [len(r.log) for _, r in pairs] == [4, 3, 2]
        runs[workers] = [r.out_dir for _, r in pairs]
    out = capfd.readouterr()
    assert "add: done, 4 steps" in out.out and "add_direct: done, 2 steps" in out.out
    assert "9/9" in out.err  # the bar: every step of the three jobs
    assert "Loading weights" not in out.err  # transformers' loading bar, once per base a worker loads
    for one, two in zip(runs[1], runs[2]):
        assert one != two
        assert (one / "adapter_model.safetensors").read_bytes() == (two / "adapter_model.safetensors").read_bytes()
    with pytest.raises(ValueError, match="workers"):
        A.train_jobs(jobs, configs, str(pretrained), paths, base_model="tiny-llama", workers=0)
    assert A.train_jobs([], configs, str(pretrained), paths, base_model="tiny-llama", workers=2) == []

    # a warm start: `add` starts from the trained `add_direct`, so add_direct goes first although it has the
    # fewest steps; the same weights with 1 and 2 workers, and not those of a fresh start
    warm = {}
    for workers in (1, 2):
        paths = KitPaths.of("smoke", tmp_path / f"warm{workers}")
        capfd.readouterr()
        pairs = A.train_jobs(jobs, configs, str(pretrained), paths, base_model="tiny-llama", device="cpu",
                             workers=workers, eval_samples=0, inits={"add": "add_direct"}, progress=workers == 2)
        warm[workers] = {j.name: (r.out_dir / "adapter_model.safetensors").read_bytes() for j, r in pairs}
    out = capfd.readouterr().out
    assert out.index("add_direct: done") < out.index("add: done")
    assert warm[1] == warm[2]
    assert warm[1]["add"] != (runs[1][0] / "adapter_model.safetensors").read_bytes()
    assert warm[1]["add_direct"] == (runs[1][2] / "adapter_model.safetensors").read_bytes()
    with pytest.raises(ValueError, match="which this run does not train"):
        A.train_jobs(jobs[:1], configs, str(pretrained), paths, base_model="tiny-llama", inits={"add": "sub"})


def test_job_order_starts_a_job_after_its_source_and_the_longest_chain_first():
    from types import SimpleNamespace

    names = ["add", "add_aligner", "sub", "sub_aligner", "mul_aligner", "add_direct"]
    jobs = [SimpleNamespace(name=n) for n in names]
    steps = {"add": 300, "add_aligner": 600, "sub": 500, "sub_aligner": 100, "mul_aligner": 100, "add_direct": 50}
    configs = {n: SimpleNamespace(max_steps=s) for n, s in steps.items()}
    inits = {"sub_aligner": "add_aligner", "mul_aligner": "sub_aligner"}
    order = [names[i] for i in A.job_order(jobs, configs, inits)]
    assert order == ["add_aligner", "sub", "add", "sub_aligner", "mul_aligner", "add_direct"]
    # no warm starts: the most steps first
    assert [names[i] for i in A.job_order(jobs, configs, {})] == \
        ["add_aligner", "sub", "add", "sub_aligner", "mul_aligner", "add_direct"]
    inits = {"add": "add_direct"}  # add_direct now heads 50 + 300 steps: after sub's 500
    assert [names[i] for i in A.job_order(jobs, configs, inits)][:3] == ["add_aligner", "sub", "add_direct"]
    with pytest.raises(ValueError, match="a cycle"):
        A.job_order(jobs, configs, {"add": "sub", "sub": "add"})


def test_training_stops_at_the_first_evaluation_that_reaches_its_exact_match(tmp_path, tok, data, pretrained,
                                                                             monkeypatch):
    import caef_lib.generation as G

    model, ptok = M.load_base(str(pretrained), "cpu")
    scores = iter([0.5, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    monkeypatch.setattr(G, "exact_match", lambda *a, **k: (next(scores), []))
    c = cfg(max_steps=40, eval_every=5, stop_at_exact=0.95)
    result = TR.train(c, model, ptok, data, tmp_path / "add", eval_samples=data[:4], eval_exact=4, progress=False)
    assert result.summary["steps"] == 15 and result.summary["max_steps"] == 40 and result.summary["stopped_early"]
    assert result.log["eval_exact_match"].dropna().tolist() == [0.5, 0.9, 1.0]
    assert (tmp_path / "add" / "adapter_model.safetensors").is_file()
    assert A.summary_row(result)["evaluated_on"] == "validation"  # the target's samples, not the held-out ones
    assert TR.train(c, model, ptok, data, tmp_path / "add", eval_samples=data[:4], eval_exact=4,
                    progress=False).skipped  # a finished early stop is a finished run
    with pytest.raises(ValueError, match="eval_every"):
        cfg(stop_at_exact=0.9).check()
    with pytest.raises(ValueError, match="stop_at_exact"):
        cfg(stop_at_exact=1.5, eval_every=5).check()


def test_the_validation_split_is_drawn_from_the_training_samples():
    samples = [{"prompt": str(i), "response": ""} for i in range(250)]
    train, validation = A.validation_split(samples, 100, seed=3)
    assert len(validation) == 25 and len(train) == 225  # at most a tenth
    assert {s["prompt"] for s in train}.isdisjoint(s["prompt"] for s in validation)
    assert A.validation_split(samples, 100, seed=3) == (train, validation)
    assert A.validation_split(samples, 10, seed=4)[1] != A.validation_split(samples, 10, seed=3)[1]
    with pytest.raises(ValueError, match="too few"):
        A.validation_split(samples[:9], 5)


def test_loss_curves_are_grouped_by_operator_and_coloured_by_role():
    assert A.adapter_role("add_aligner", "aligner") == ("add", "aligner")
    assert A.adapter_role("greater_than_direct", "direct") == ("greater_than", "direct")
    assert A.adapter_role("mul_stage1", "executor") == ("mul", "executor stage 1")
    assert A.adapter_role("left_mask", "executor") == ("left_mask", "executor")
    assert A.adapter_role("base", "base") == ("base", "base")
