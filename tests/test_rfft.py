"""Notebook 04's library: the three formats (byte-exact to the released generators), scoring, the problems, the
experiment's tokenizer, evaluation on a real tiny model, and `python -m caef_lib format`."""
import json
import re
import subprocess
import sys

import pytest

from caef_lib.rfft import experiment as rx
from caef_lib.rfft.formats import FORMATS, INSTRUCTION, RULE, get_format, rfft_trace

# 7 + 5, checked line by line against the rule by hand: one iteration with a carry, the carry block's `True` branch.
SEVEN_PLUS_FIVE = """
num1=[7]
num2=[5]
1. Initialize Result and Carry
result=[]
carry=0

2. Loop Through Each Digit
```
while num1 or num2:
```
2.1 check the stop criterion
num1=[7]
num2=[5]
bool(num1)=True
bool(num2)=True
num1 or num2=True
enter the loop
2.2 one iteration
```
digit1=num1.pop() if num1 else 0
```
num1=[7]
bool(num1)=True
num1.pop()
num1=[]
digit1=7
```
digit2=num2.pop() if num2 else 0
```
num2=[5]
bool(num2)=True
num2.pop()
num2=[]
digit2=5
```
total=digit1+digit2+carry
```
total=digit1+digit2+carry=7+5+0=12
```
result.insert(0,total%10)
```
result=[]
total%10=12%10=2
result=[2]
```
carry=total//10
```
carry=12//10=1
2.3 back to the start of the loop
```
while num1 or num2:
```
2.1 check the stop criterion
num1=[]
num2=[]
bool(num1)=False
bool(num2)=False
num1 or num2=False
end the loop
3. Check Remaining Carry
```
if carry:
    result.insert(0, carry)
```
result=[2]
carry=1
bool(carry)=True
result=[1, 2]
4. Return Result
```
return result
```
result=[1, 2]

[1, 2]"""


def test_rfft_trace_matches_a_hand_checked_example():
    assert rfft_trace(7, 5) == SEVEN_PLUS_FIVE


def test_rfft_trace_empty_list_branch_and_no_carry():
    """95 + 8 (spec d.3): the second iteration pops nothing from num2; 12 + 3 ends with `pass`."""
    t = rfft_trace(95, 8)
    assert "num2=[]\nbool(num2)=False\nnum2=[]\ndigit2=0\n" in t
    assert t.endswith("result=[0, 3]\ncarry=1\nbool(carry)=True\nresult=[1, 0, 3]\n4. Return Result\n```\n"
                      "return result\n```\nresult=[1, 0, 3]\n\n[1, 0, 3]")
    assert "carry=0\nbool(carry)=False\npass\nresult=[1, 5]\n" in rfft_trace(12, 3)
    assert t.count("2.2 one iteration") == 2 and t.startswith("\nnum1=[9, 5]\nnum2=[8]\n")


def test_rfft_trace_matches_the_spec_example(reference_dir):
    spec = (reference_dir / "case_or_rule" / "spec.md").read_text()
    example = spec.split("~~~text\n", 1)[1].split("~~~", 1)[0]
    assert rfft_trace(59, 13) + "\n" == example  # the fenced block ends with a newline of its own


def test_prompts_and_rule():
    assert FORMATS["direct"].prompt(59, 13) == "59+13=" and FORMATS["direct"].target(59, 13) == "72"
    prompt = FORMATS["rfft"].prompt(59, 13)
    assert prompt == f"{INSTRUCTION}\n59+13={RULE}" and RULE.startswith("\ndef sum_digit_by_digit(num1, num2):\n")
    assert "        result.insert(0,total%10)\n" in RULE and "        result.insert(0, carry)\n" in RULE
    assert RULE.endswith("\n    return result")


def test_scratchpad_is_the_released_cot_trace():
    from caef_lib.lso.tasks import get_task

    task = get_task("addition")
    for a, b in [(0, 0), (5, 7), (40, 41), (99, 99), (9, 91)]:
        assert FORMATS["scratchpad"].target(a, b) == task.scratchpad(a, b)
    assert FORMATS["scratchpad"].target(123, 45) == "123+45,,C:0\n12+4,8,C:0\n1+,68,C:0\n+,168,C:0\n168"


def test_scratchpad_matches_released_files(reference_dir):
    folder = reference_dir / "case_or_rule" / "datasets" / "addition"
    files = sorted(folder.glob("*_cot/test.json"))
    assert files, f"no _cot split under {folder}"
    records = json.loads(files[0].read_text())[:200]
    for r in records:
        assert FORMATS["scratchpad"].target(r["a"], r["b"]) == r["answers"][0]


@pytest.mark.parametrize("fmt,text,value", [
    ("rfft", rfft_trace(95, 8), "103"),
    ("rfft", rfft_trace(95, 8).rsplit("\n", 1)[0] + "\n[0, 3]", "3"),  # the leading carry is read, not dropped
    ("rfft", "garbage", None),
    ("rfft", rfft_trace(59, 13).split("3. Check Remaining Carry")[0], None),  # cut before its last list: wrong
    ("rfft", rfft_trace(59, 13) + "\n\n", "72"),
    ("rfft", "num1=[5, 9", None),
    ("scratchpad", "59+13,,C:0\n5+1,2,C:1\n+,72,C:0\n72", "72"),
    ("scratchpad", "59+13,,C:0\n5+1,2,C:1\n+,72,C:0", None),  # a trace cut before its answer line is wrong
    ("direct", "72", "72"),
    ("direct", "", None),
])
def test_each_format_is_scored_by_its_final_value(fmt, text, value):
    assert get_format(fmt).extract(text) == value


def test_bad_operands_and_formats():
    with pytest.raises(ValueError, match="non-negative"):
        FORMATS["rfft"].target(-1, 3)
    with pytest.raises(ValueError, match="non-negative"):
        FORMATS["direct"].prompt(1.5, 3)
    with pytest.raises(ValueError, match="unknown format"):
        get_format("cot")


def test_cli_prints_one_json_object_and_rejects_bad_operands():
    run = lambda *a: subprocess.run([sys.executable, "-m", "caef_lib", "format", *a], capture_output=True, text=True)
    ok = run("rfft", "59", "13")
    assert ok.returncode == 0
    assert json.loads(ok.stdout) == {"prompt": FORMATS["rfft"].prompt(59, 13), "target": rfft_trace(59, 13)}
    assert json.loads(run("scratchpad", "123", "45").stdout)["target"].endswith("\n168")
    for bad in (["direct", "-3", "4"], ["rfft", "1.5", "2"], ["scratchpad", "12", "x"]):
        r = run(*bad)
        assert r.returncode == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, bad


def test_problems_have_their_length_and_never_overlap_the_tests():
    tests = rx.test_problems([1, 3, 12], 40, seed=0)
    assert tests == rx.test_problems([12, 3, 1], 40, seed=0)  # one generator per length
    assert tests[3] == rx.test_problems([3], 40, seed=0)[3]
    for n, pairs in tests.items():
        assert len(pairs) == len(set(pairs)) == 40
        assert all(max(len(str(a)), len(str(b))) == n for a, b in pairs)
    assert len(rx.test_problems([1], 500)[1]) == 50  # at most half of a length's problems: training keeps the rest
    assert rx.problems_of_length(1) == 100 and rx.problems_of_length(2) == 9900
    train = rx.train_problems(1, 5, 3000, seed=0, exclude=tests)
    assert not set(train) & {p for ps in tests.values() for p in ps}
    assert {max(len(str(a)), len(str(b))) for a, b in train} == {1, 2, 3, 4, 5}
    assert train == rx.train_problems(1, 5, 3000, seed=0, exclude=tests)
    assert train != rx.train_problems(1, 5, 3000, seed=1, exclude=tests)
    with pytest.raises(ValueError):
        rx.train_problems(3, 2, 10)


def test_tokenizer_round_trips_and_is_two_tokens_a_digit_in_lists():
    from caef_lib.tokenization import check_round_trip

    tok = rx.length_tokenizer()
    texts = [f.prompt(a, b) + f.target(a, b) for f in FORMATS.values()
             for a, b in [(0, 0), (95, 8), (10 ** 14 + 7, 99999999999999)]]
    assert check_round_trip(tok, texts + ["copy [1, 2]=", "weird text ~ \u00e9\n\n  "]) == len(texts) + 2
    ids = lambda s: tok(s, add_special_tokens=False)["input_ids"]
    assert len(ids("[1, 2, 3]")) == 5 and len(ids("[7]")) == 3  # one-element lists are cut the same way
    assert len(ids(rfft_trace(12345, 67890))) < 600
    assert len(ids(FORMATS["rfft"].prompt(12345, 67890))) < 40


def test_first_wrong_line_iteration_and_list_length():
    target = rfft_trace(59, 13)
    assert rx.first_wrong_line(target, target) is None
    broken = target.replace("digit1=9", "digit1=8")
    line = rx.first_wrong_line(broken, target)
    assert target.split("\n")[line] == "digit1=9" and rx.iteration_of_line(target, line) == 1
    assert rx.iteration_of_line(target, 1) == 0  # num1=[5, 9]: copying the operands
    assert rx.iteration_of_line(target, target.split("\n").index("3. Check Remaining Carry")) == 3  # after the loop
    assert rx.first_wrong_line(target + "\nmore", target) == target.count("\n") + 1
    assert rx.first_list_length("\nnum1=[1, 2, 3, 4, 5]\nnum2=[7]") == 5
    assert rx.first_list_length("no list") is None


def test_evaluation_on_a_tiny_model_never_crashes_and_counts_every_problem(one_thread):
    """A random tiny model writes garbage; every problem still gets a row, scored wrong, and the table adds up."""
    from caef_lib.models import build_tiny

    tok = rx.length_tokenizer()
    model, tok = build_tiny("tiny-llama", tok, seed=0, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                            num_attention_heads=4, num_key_value_heads=4)
    tests = rx.test_problems([1, 2], 3, seed=0)
    stats = {}
    rows = rx.evaluate_format(model, tok, "rfft", tests, slack=2, batch_size=4, stats=stats)
    assert len(rows) == 6 and stats["prompts"] == 6 and stats["new_tokens"] > 0
    table = rx.accuracy_by_length(rows)
    assert list(table.columns) == ["method", "digits", "n", "correct", "accuracy", "ci_low", "ci_high"]
    assert table["n"].sum() == 6 and (table["correct"] <= table["n"]).all()
    # an answer that is the target is right, whatever the model: scoring is checked apart from generation
    assert rx.get_format("rfft").extract(rfft_trace(5, 5)) == "10"


def test_generic_samples_are_lists_and_numbers_without_sums():
    from caef_lib.rfft.generic import KINDS, generic_samples

    s = generic_samples(400, 16, seed=0)
    assert {x["kind"] for x in s} == set(KINDS) and s == generic_samples(400, 16, seed=0)
    assert all("+" not in x["prompt"] + x["response"] for x in s)
    lengths = {len(re.sub(r"\D", "", x["prompt"])) for x in s}
    assert max(lengths) == 16 and min(lengths) == 1


def test_a_local_base_folder_is_trained_with_lora_and_loaded_back(tmp_path, one_thread):
    """The paper profile's path (a local Hugging Face folder, LoRA), on a Llama-shaped folder the test builds."""
    from caef_lib.models import build_tiny, save_base
    from caef_lib.training import TrainConfig

    model, tok = build_tiny("tiny-llama", rx.length_tokenizer(), seed=0, hidden_size=32, intermediate_size=64,
                            num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=4)
    save_base(model, tok, tmp_path / "base")
    cfg = TrainConfig(method="lora", lora_r=4, lora_alpha=8, lr=1e-3, batch_size=2, max_steps=2, max_length=1024)
    result = rx.train_format("scratchpad", cfg, [(12, 34), (5, 6), (70, 8)], tmp_path / "scratchpad",
                             base_folder=str(tmp_path / "base"), device="cpu", progress=False)
    assert result.summary["steps"] == 2 and (tmp_path / "scratchpad" / "adapter_model.safetensors").is_file()
    peft_model, tok2 = rx.load_contestant(tmp_path / "scratchpad", "lora", str(tmp_path / "base"), "cpu")
    rows = rx.evaluate_format(peft_model, tok2, "scratchpad", {2: [(12, 34)]}, batch_size=1)
    assert len(rows) == 1 and rows["method"].tolist() == ["scratchpad"]


def test_tables_of_the_notebook():
    import pandas as pd

    rows = pd.DataFrame([
        {"method": "rfft", "digits": 6, "a": 123456, "b": 7, "correct": False, "first_list_len": 5},
        {"method": "rfft", "digits": 6, "a": 123456, "b": 7, "correct": False, "first_list_len": 6},
        {"method": "rfft", "digits": 6, "a": 7, "b": 123456, "correct": False, "first_list_len": 1},
        {"method": "rfft", "digits": 7, "a": 1234567, "b": 7, "correct": True, "first_list_len": 7},
        {"method": "direct", "digits": 7, "a": 1234567, "b": 7, "correct": False, "first_list_len": None}])
    ev = rx.list_length_evidence(rows, 5)
    assert ev.to_dict("records") == [
        {"digits": 6, "problems": 2, "right": 0, "first_list_right_length": 1, "first_list_at_most_trained": 1},
        {"digits": 7, "problems": 1, "right": 1, "first_list_right_length": 1, "first_list_at_most_trained": 0},
        {"digits": "all", "problems": 3, "right": 1, "first_list_right_length": 2, "first_list_at_most_trained": 1}]
    table = rx.accuracy_by_length(rows)
    assert table[["method", "digits", "n", "correct"]].values.tolist() == [
        ["direct", 7, 1, 0], ["rfft", 6, 3, 0], ["rfft", 7, 1, 1]]
    who = rx.contestants_table(["rfft"], "tiny", [1, 5], ("base + LoRA", [1, 8]))
    assert who.to_dict("records")[-1] == {"method": "caef", "model": "base + LoRA", "train_min_digits": 1,
                                          "train_max_digits": 8}
    assert rx.generation_row("rfft", {"prompts": 2, "new_tokens": 10, "seconds": 2.0})["tokens_per_s"] == 5.0


@pytest.mark.parametrize("values,message", [
    ({"rfft_model": "tiny-gpt2"}, "tiny-llama"),
    ({"method": "lora"}, "method=lora"),
    ({"formats": ["rfft", "rfft"]}, "twice"),
    ({"test_lengths": []}, "test_lengths"),
    ({"train_digits": [5, 1]}, "train_digits"),
    ({"steps": {"rfft": 10}}, "steps"),
    ({"generic_replay": 0.1}, "generic_steps"),
    ({"formats": [], "caef": False}, "nothing to compare"),
])
def test_bad_notebook_parameters_are_refused_before_any_work(values, message):
    from caef_lib.notebook_params import RfftParams
    from caef_lib.params import ParameterError, validate

    with pytest.raises(ParameterError, match=message):
        validate(RfftParams, values, notebook="04_rfft")
    assert validate(RfftParams, {}, notebook="04_rfft").train_config("rfft").adam_betas == (0.9, 0.98)


def test_the_paper_profile_is_the_released_lora_recipe(tmp_path):
    from caef_lib import runner
    from caef_lib.notebook_params import RfftParams
    from caef_lib.params import validate

    folders = {}
    for name in ("llama3", "gpt2", "llama2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
        folders[name] = tmp_path / name
    runs = {r.name: r for r in runner.plan("paper", overrides=[
        f"base_model={folders['llama3']}", f"lso_model={folders['gpt2']}", f"rfft_model={folders['llama2']}"])}
    P = validate(RfftParams, runs["04_rfft"].params)
    cfg = P.train_config("rfft")
    assert (cfg.method, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lr, cfg.epochs, cfg.max_steps) == \
        ("lora", 8, 16, 0.05, 2e-5, 1, 0)
    assert cfg.lora_targets == "default" and cfg.adam_betas == (0.9, 0.999) and cfg.loss_on == "answer"
