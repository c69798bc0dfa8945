"""Prompt-lookup decoding (caef_lib.lookup_decoding): the greedy answer, in fewer forward passes when the answer
copies its prompt."""
import pytest
import torch

from caef_lib.engine import run_oracle
from caef_lib.lookup_decoding import lookup_generate, propose


def test_propose_continues_the_copy_from_the_prompt():
    prompt = [5, 6, 7, 8, 6, 7, 9]
    assert propose(prompt, prompt + [6, 7], 0, 3) == ([8, 6, 7], 3)  # the longest tail, first match
    assert propose(prompt, prompt + [6, 7], 4, 3) == ([9], 6)        # the first match ending at or after `start`
    assert propose(prompt, prompt + [1, 2], 5, 3) == ([], 5)         # nothing to copy
    assert propose(prompt, prompt + [7], 0, 0) == ([], 3)


class TableModel(torch.nn.Module):
    """A stand-in causal LM whose next token depends only on the current one (`table`), with transformers'
    calling convention: greedy decoding of it is easy to write down, and the prompt holds its chains."""

    def __init__(self, table: dict[int, int], vocab: int = 16):
        super().__init__()
        self.table, self.vocab = table, vocab
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    def forward(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None, use_cache=True):
        self.calls += 1
        logits = torch.zeros(*input_ids.shape, self.vocab)
        nxt = torch.tensor([[self.table.get(int(t), 3) for t in row] for row in input_ids])
        logits.scatter_(2, nxt[..., None], 1.0)
        return type("Out", (), {"logits": logits})()


class Tok:
    eos_token_id, pad_token_id = 2, 0

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": [int(c) for c in text.split()]}

    def decode(self, ids, skip_special_tokens=True, clean_up_tokenization_spaces=False):
        return " ".join(str(i) for i in ids if not (skip_special_tokens and i == 2))


def test_lookup_gives_the_greedy_answer_with_fewer_passes_when_the_prompt_holds_it():
    table = {5: 6, 6: 7, 7: 8, 8: 9, 9: 10, 10: 11, 11: 2, 4: 4, 12: 5}
    model, tok = TableModel(table), Tok()
    prompts = ["5 6 7 8 9 10 11 12", "4 4 4", "12", "1 5 6 7 8 9 10 11 12"]
    limits = [20, 5, 20, 3]
    stats: dict = {}
    out = lookup_generate(model, tok, prompts, max_new_tokens=limits, draft=4, batch_size=4, stats=stats)
    # greedy, by hand: from the last prompt token follow the table to EOS (2) or the limit
    assert out == ["5 6 7 8 9 10 11", "4 4 4 4 4", "5 6 7 8 9 10 11", "5 6 7"]
    assert stats["new_tokens"] == 8 + 5 + 8 + 3
    assert stats["forward_passes"] == 8  # the row whose prompt holds no chain goes token by token
    alone: dict = {}
    assert lookup_generate(model, tok, prompts[:1], max_new_tokens=20, draft=4, stats=alone) == out[:1]
    assert alone["forward_passes"] == 3 and alone["greedy_passes"] == 8  # 4 guesses kept + 1, then 1 + EOS
    plain = lookup_generate(TableModel(table), tok, prompts, max_new_tokens=limits, draft=0, batch_size=2)
    assert plain == out
    with pytest.raises(ValueError, match="max_new_tokens"):
        lookup_generate(model, tok, prompts, max_new_tokens=[1, 2])


def test_lookup_matches_transformers_generate_on_a_real_model(one_thread):
    """A random tiny Llama, CAEF prompts of different lengths, left padding: every rejected guess stays in the
    cache as a masked hole, kept guesses move the positions on, and the answers must still be transformers' greedy
    ones, token for token."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from caef_lib.generation import generate
    from caef_lib.tokenization import build_tokenizer

    tok = build_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, max_position_embeddings=1024)
    model = LlamaForCausalLM(config)
    calls = run_oracle("add", 4513, 87)["calls"] + run_oracle("add", 9, 1)["calls"]
    prompts = [c["prompt"] for c in calls]
    loops = generate(model, tok, prompts, max_new_tokens=40, batch_size=len(prompts))
    prompts = [p + a for p, a in zip(prompts, loops)]  # a random model loops: with its loop in the prompt, some
    limits = [5 + 7 * (i % 4) for i in range(len(prompts))]  # guesses are right and kept
    expected = generate(model, tok, prompts, max_new_tokens=limits, batch_size=len(prompts))
    stats: dict = {}
    assert lookup_generate(model, tok, prompts, max_new_tokens=limits, draft=6, batch_size=4,
                           stats=stats) == expected
    assert stats["accepted"] > 0 and stats["forward_passes"] <= stats["greedy_passes"]


def test_hfmodel_rejects_bad_decoding_settings():
    from caef_lib import batched_engine as be

    with pytest.raises(ValueError, match="grouping='adapter'"):
        be.HFModel(None, None, grouping="mixed", decoding="lookup")
    with pytest.raises(ValueError, match="decoding"):
        be.HFModel(None, None, decoding="beam")
