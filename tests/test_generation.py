"""caef_lib.generation on real tiny models (no mocks): batching, padding, KV cache, adapters, sampling, limits."""
import pytest
import torch

from caef_lib import generation as G
from caef_lib import models as M
from caef_lib.tokenization import caef_tokenizer

# Wide initial weights give sharp, varied next-token distributions, so that greedy answers differ from prompt to
# prompt and from token to token: a test of "the same answers" then compares something.
ARCH = {"tiny-llama": dict(num_hidden_layers=1, initializer_range=0.6),
        "tiny-gpt2": dict(n_layer=1, initializer_range=0.6)}
PROMPTS = ["45+67=", "1+1=", "12345+678=", "9=", "ADD, q0, [HEAD1]|1|2 [HEAD2]|3 [C]0 [OUTPUT]\n",
           "CMD [OUTPUT] 7, [OUTPUT] RIGHT, q1\n", "3<4=", "99999999+1="]


@pytest.fixture(scope="module")
def tok():
    return caef_tokenizer()


def tiny(name, tok, seed=0):
    """A random tiny model that never writes a byte-fallback token (their rows of the tied embedding are zero, so
    their logits are 0 against the clearly positive best ones): a text cut after n tokens is then exactly the
    decoded first n tokens, which the tests compare."""
    model, t = M.build_tiny(name, tok, seed=seed, **ARCH[name])
    byte_ids = [i for tok_, i in t.get_vocab().items() if tok_.startswith("<0x") and tok_.endswith(">")]
    with torch.no_grad():
        model.get_input_embeddings().weight[byte_ids] = 0.0
    assert model.config.tie_word_embeddings
    return model.eval(), t


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
def test_batched_left_padded_greedy_equals_one_at_a_time_and_the_kv_cache_changes_nothing(name, tok, one_thread):
    model, t = tiny(name, tok)
    batched = G.generate(model, t, PROMPTS, max_new_tokens=16, batch_size=8)
    assert len(set(batched)) == len(PROMPTS) and all(len(a) > 4 for a in batched)  # varied, non-trivial answers
    alone = [G.generate(model, t, [p], max_new_tokens=16)[0] for p in PROMPTS]
    assert batched == alone
    assert G.generate(model, t, PROMPTS, max_new_tokens=16, batch_size=3, use_cache=False) == batched


def test_sampling_is_seeded_reproducible_and_leaves_the_global_rng_alone(tok, one_thread):
    model, t = tiny("tiny-llama", tok)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    kw = dict(max_new_tokens=12, do_sample=True, temperature=1.0, top_k=50)
    first = G.generate(model, t, PROMPTS * 2, seed=7, **kw)
    assert torch.equal(torch.get_rng_state(), state)
    assert G.generate(model, t, PROMPTS * 2, seed=7, **kw) == first
    assert G.generate(model, t, PROMPTS * 2, seed=8, **kw) != first
    assert first != G.generate(model, t, PROMPTS * 2, max_new_tokens=12)  # it does sample
    with pytest.raises(ValueError, match="temperature"):
        G.generate(model, t, PROMPTS, do_sample=True, temperature=0.0)


def test_limits_per_prompt_and_stop_strings_cut_the_greedy_answer(tok, one_thread):
    model, t = tiny("tiny-llama", tok)
    full = G.generate(model, t, PROMPTS, max_new_tokens=24)
    limits = [1 + i % 5 for i in range(len(PROMPTS))]
    short = G.generate(model, t, PROMPTS, max_new_tokens=limits)
    for prompt, answer, whole, n in zip(PROMPTS, short, full, limits):
        ids = torch.tensor([t(prompt)["input_ids"]])
        hf = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False,
                            pad_token_id=t.pad_token_id, eos_token_id=t.eos_token_id)[0, ids.shape[1]:]
        assert answer == t.decode(hf, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        assert whole.startswith(answer) and len(answer) < len(whole)
    # a stop string that occurs in some answers: they end right after it, the others are unchanged
    stop = next(ch for ch in sorted({c for a in full for c in a}) if 1 <= sum(ch in a[1:] for a in full) < len(full))
    stopped = G.generate(model, t, PROMPTS, max_new_tokens=24, stop=stop)
    for answer, whole in zip(stopped, full):
        assert answer == (whole[:whole.index(stop) + len(stop)] if stop in whole else whole)
    with pytest.raises(ValueError, match="max_new_tokens"):
        G.generate(model, t, PROMPTS, max_new_tokens=[3])
    assert G.generate(model, t, PROMPTS, max_new_tokens=24, stop="") == full  # an empty stop string stops nothing


def _two_adapters(model):
    """A peft model with two random (non-zero) LoRA adapters, `first` and `second`, on `model`."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"],
                        init_lora_weights=False, task_type="CAUSAL_LM")
    torch.manual_seed(1)
    peft_model = get_peft_model(model, config, adapter_name="first")
    peft_model.add_adapter("second", config)
    return peft_model.eval()


def test_mixed_adapter_batches_equal_per_adapter_batches(tok, one_thread):
    model, t = tiny("tiny-llama", tok)
    plain = G.generate(model, t, PROMPTS, max_new_tokens=12)
    peft_model = _two_adapters(model)
    names = ["first", "second", "__base__", "second", "first", "first", "__base__", "second"]
    mixed = G.generate(peft_model, t, PROMPTS, max_new_tokens=12, adapter_names=names, batch_size=8)
    per_adapter = {}
    for name in ("first", "second"):
        peft_model.set_adapter(name)
        per_adapter[name] = G.generate(peft_model, t, PROMPTS, max_new_tokens=12)
    with peft_model.disable_adapter():
        per_adapter["__base__"] = G.generate(peft_model, t, PROMPTS, max_new_tokens=12)
    assert per_adapter["__base__"] == plain
    assert per_adapter["first"] != plain and per_adapter["second"] != per_adapter["first"]  # the adapters matter
    assert mixed == [per_adapter[n][i] for i, n in enumerate(names)]
    with pytest.raises(ValueError, match="not loaded"):
        G.generate(peft_model, t, PROMPTS[:1], adapter_names=["third"])
    with pytest.raises(ValueError, match="peft model"):
        G.generate(model.get_base_model() if hasattr(model, "get_base_model") else M.build_tiny("tiny-llama", tok)[0],
                   t, PROMPTS[:1], adapter_names=["first"])


def test_score_by_extracted_value_never_crashes_on_malformed_answers():
    def last_number(text):
        digits = [w for w in text.replace("\n", " ").split() if w.isdigit()]
        return int(digits[-1]) if digits else None

    answers = ["work\n112", "112", "garbage", "", "work\n113"]
    expected = ["lines\n112"] * 5
    assert G.score(answers, expected, last_number) == [True, True, False, False, False]
    assert G.score(answers, expected) == [False] * 5
    assert G.score(["a"], ["a"]) == [True]

    def fragile(text):
        return int(text.split("=")[1])

    assert G.score(["no equals sign", "x=5"], ["x=5", "x=5"], fragile) == [False, True]
    with pytest.raises(ValueError, match="expected answer"):
        G.score(["1"], ["nothing"], last_number)


def test_exact_match_bounds_each_answer_by_its_response_and_scores_by_value(tok, one_thread):
    model, t = tiny("tiny-llama", tok)
    responses = G.generate(model, t, PROMPTS, max_new_tokens=6)
    samples = [{"prompt": p, "response": r} for p, r in zip(PROMPTS, responses)]
    stats = {}
    accuracy, answers = G.exact_match(model, t, samples, stats=stats)
    limits = G.answer_limits(t, PROMPTS, responses)
    assert all(a.startswith(r) and len(a) > len(r) for a, r in zip(answers, responses))  # longer: no EOS
    assert accuracy == 0.0  # a random model that never ends (no EOS) is wrong on every sample
    assert stats["prompts"] == len(samples) and stats["new_tokens"] == sum(limits)
    # scored by value (here: the first four characters) the model's own answers are all right, others not
    assert G.exact_match(model, t, samples, extract=lambda s: s[:4])[0] == 1.0
    shifted = [{"prompt": p, "response": r} for p, r in zip(PROMPTS, responses[1:] + responses[:1])]
    assert G.exact_match(model, t, shifted, extract=lambda s: s[:4])[0] < 1.0
