"""Base models and adapter folders: built-in tiny architectures, offline loading, clear errors."""
import json

import pytest
import torch

from caef_lib import models as M
from caef_lib.params import BUILTIN_MODELS, ParameterError
from caef_lib.tokenization import caef_tokenizer

TEXT = "ADD, q1,  |5[HEAD1]|4|3 |8[HEAD2]|7|6 [C]1 |3[OUTPUT]\nCMD: [C] 1, [OUTPUT] 2, [OUTPUT] RIGHT, q1\n"


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    yield


@pytest.fixture(scope="module")
def tok():
    return caef_tokenizer([TEXT])


def logits(model, tok, text=TEXT):
    with torch.no_grad():
        return model(**tok(text, return_tensors="pt")).logits


def test_builtin_names_in_sync():
    assert set(M.TINY_ARCHS) == set(BUILTIN_MODELS)


@pytest.mark.parametrize("name,cls", [("tiny-llama", "LlamaForCausalLM"), ("tiny-gpt2", "GPT2LMHeadModel")])
def test_builtin_architectures_are_real_transformers_classes(name, cls, tok):
    model, t = M.load_base(name, "cpu", tokenizer=tok)
    assert type(model).__name__ == cls and t is tok
    assert model.config.vocab_size == len(tok)
    assert model.dtype == torch.float32 and not model.training
    n = M.count_parameters(model)["parameters"]
    assert 300_000 < n < 3_000_000, n
    assert logits(model, tok).shape[-1] == len(tok)


def test_builtin_init_is_seeded(tok):
    a, _ = M.build_tiny("tiny-llama", tok, seed=3)
    b, _ = M.build_tiny("tiny-llama", tok, seed=3)
    c, _ = M.build_tiny("tiny-llama", tok, seed=4)
    assert torch.equal(logits(a, tok), logits(b, tok))
    assert not torch.equal(logits(a, tok), logits(c, tok))


def test_saved_base_loads_as_a_local_folder(tmp_path, tok):
    model, _ = M.build_tiny("tiny-llama", tok, seed=1)
    folder = M.save_base(model, tok, tmp_path / "base")
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    loaded, ltok = M.load_base(str(folder), "cpu")
    assert ltok(TEXT)["input_ids"] == tok(TEXT)["input_ids"]
    assert torch.equal(logits(model, tok), logits(loaded, ltok))


def test_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(ParameterError, match="neither a built-in model .* nor an existing local directory"):
        M.load_base(str(tmp_path / "Meta-Llama-3.1-8B"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError, match="no config.json"):
        M.load_base(str(tmp_path / "empty"))
    (tmp_path / "nobin").mkdir()
    (tmp_path / "nobin" / "config.json").write_text("{}")
    with pytest.raises(M.ModelError, match="safetensors"):
        M.load_base(str(tmp_path / "nobin"))


def test_tiny_base_must_exist_before_use(tmp_path):
    from caef_lib.paths import KitPaths

    paths = KitPaths.of("smoke", tmp_path)
    with pytest.raises(M.ModelError, match="run notebook 02_training first"):
        M.resolve_base(paths, "tiny-llama")
    assert M.model_root(paths, "tiny-llama") == tmp_path / "data" / "models" / "smoke" / "tiny-llama"
    assert M.base_label("/models/Meta-Llama-3.1-8B") == "Meta-Llama-3.1-8B"


def _random_adapter(base, folder, seed):
    """An untrained adapter with random (non-zero) B matrices, saved the standard peft way."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False, task_type="CAUSAL_LM"))
    peft_model.save_pretrained(folder)
    peft_model.unload()


def test_several_adapters_on_one_shared_base(tmp_path, tok):
    base, _ = M.build_tiny("tiny-llama", tok, seed=0)
    plain = logits(base, tok)
    _random_adapter(base, tmp_path / "add", 1)
    _random_adapter(base, tmp_path / "add_aligner", 2)
    assert torch.equal(logits(base, tok), plain)  # unload() gave the base back

    model = M.load_adapters(base, {"add": tmp_path / "add", "add_aligner": tmp_path / "add_aligner"})
    model.set_adapter("add")
    add = logits(model, tok)
    model.set_adapter("add_aligner")
    aligner = logits(model, tok)
    assert not torch.equal(add, plain) and not torch.equal(add, aligner)
    with model.disable_adapter():
        assert torch.equal(logits(model, tok), plain)

    # the same adapter loaded alone, the transformers way, gives the same logits
    other, _ = M.build_tiny("tiny-llama", tok, seed=0)
    other.load_adapter(str(tmp_path / "add"), adapter_name="add")
    assert torch.equal(logits(other, tok), add)


@pytest.mark.parametrize("damage,message", [
    ("absent", "does not exist"),
    ("empty", "is not an adapter folder"),
    ("bad_json", "not valid JSON"),
    ("no_peft_type", "lacks peft_type"),
    ("no_weights", "adapter_model.safetensors is missing"),
    ("truncated", "not a readable safetensors file"),
])
def test_malformed_adapter_folder_is_a_clear_error(tmp_path, tok, damage, message):
    base, _ = M.build_tiny("tiny-llama", tok)
    folder = tmp_path / "add"
    _random_adapter(base, folder, 0)
    cfg = folder / "adapter_config.json"
    weights = folder / "adapter_model.safetensors"
    if damage == "absent":
        folder = tmp_path / "missing"
    elif damage == "empty":
        cfg.unlink(), weights.unlink()
    elif damage == "bad_json":
        cfg.write_text("{not json")
    elif damage == "no_peft_type":
        cfg.write_text(json.dumps({"r": 4}))
    elif damage == "no_weights":
        weights.unlink()
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:50])
    with pytest.raises(M.ModelError, match=message):
        M.load_adapter(base, folder, "add")


def test_adapter_for_another_architecture_is_rejected(tmp_path, tok):
    base, _ = M.build_tiny("tiny-llama", tok)
    _random_adapter(base, tmp_path / "add", 0)
    gpt2, _ = M.build_tiny("tiny-gpt2", tok)
    with pytest.raises(M.ModelError, match="does not fit this base model"):
        M.load_adapter(gpt2, tmp_path / "add", "add")
