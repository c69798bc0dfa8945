"""Task tokenizers: one token per CAEF symbol, exact round trips, number-level vocabulary for Leave-Square-Out."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caef_lib import tokenization as T

# Verbatim texts of the reference machines (format.md §2-4), with their easy-to-miss spaces and quirks.
TEXTS = [
    # ADD step pair: q0 one space, q1 two spaces after the state's comma
    "ADD, q0, [HEAD1] |5|4|3[HEAD2] |8|7|6 [C] [OUTPUT]\nCMD: [C] 0, [HEAD1] RIGHT, [HEAD2] RIGHT, q1\n",
    "ADD, q1,  |5[HEAD1]|4|3 |8[HEAD2]|7|6 [C]1 |3[OUTPUT]\n"
    "CMD: [C] 1, [OUTPUT] 2, [OUTPUT] RIGHT, [HEAD1] RIGHT, [HEAD2] RIGHT, q1\n",
    "ADD, qH,  |5|4|3[HEAD1] |8|7|6[HEAD2] [C]1 |3|2|0|1\nNo command to execute. Halt state.\n",
    # REFLECTION's lone '|' and LEFT_MASK's bare 0
    "REFLECTION, q2,  |9|9[HEAD1] |9|9[HEAD2] |[OUTPUT]\nCMD [OUTPUT], qH\n",
    "LEFT_MASK, qH,  |0|0|0|1[HEAD] 0\nNo command to execute. Halt state.\n",
    "EQUAL, q1,  [HEAD1]|5|3|2|1 [HEAD2]|3|4|2|1 [OUTPUT]True\nCMD [OUTPUT] False, [OUTPUT], qH\n",
    "GREATER_THAN, q1,  |5[HEAD1]|3|2|1 |3[HEAD2]|4|2|1 [OUTPUT]True\n"
    "CMD [HEAD1] RIGHT, [HEAD2] RIGHT, [OUTPUT] False, q1\n",
    # SUB: trailing space on the state line, 4-line composer prompt, answer without final newline
    "SUB, q1, [HEAD1]|9|1|8|7|4 [HEAD2]|5|4|3|2|1 \nCMD [CALL] REFLECTION, q2\n"
    "REFLECTION, qH,  |9|9|9|9|9[HEAD1] |5|4|3|2|1[HEAD2] |4|5|6|7|8\nNo command to execute. Halt state.\n",
    "SUB, qH, [HEAD1]|9|1|8|7|4 [HEAD2]|5|4|3|2|1 |4|7|4|5|3\nNo command to execute. Halt state.",
    "MUL, q0, [HEAD1]|3|1|5|4 [HEAD2]|3 [COUNT] [OUTPUT]\nCMD [COUNT] 1, [OUTPUT]|3|1|5|4, q1\n",
    "DIV, q0, [HEAD1]|5|4 [HEAD2]|2|1 [COUNT] [OUTPUT]\nCMD [COUNT]|2|1, [OUTPUT] 0, q1\n",
    # aligners and direct answers
    "45+67=", "45+67=112", "12==12=True", "45//12=3", "1000-999=1",
    # whitespace edge cases
    "  double  spaces  ", "trailing \n\n", "\n", " ", "",
]


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip_of_machine_texts(text):
    tok = T.caef_tokenizer(TEXTS)
    assert T.check_round_trip(tok, [text]) == 1


def test_every_caef_symbol_is_one_token():
    tok = T.caef_tokenizer()
    text = "ADD, q1,  |5[HEAD1]|4|3 |8[HEAD2]|7|6 [C]1 |3[OUTPUT]\nCMD: [C] 1, [OUTPUT] 2, [OUTPUT] RIGHT, q1\n"
    tokens = tok.convert_ids_to_tokens(tok(text, add_special_tokens=False)["input_ids"])
    assert tokens[:12] == ["ADD", ",", " ", "q1", ",", " ", " ", "|", "5", "[HEAD1]", "|", "4"]
    assert "".join(tokens) == text
    for word in ("CMD:", "RIGHT", "[OUTPUT]", "[C]", "q1", "\n"):
        assert word in tokens
    halt = tok.convert_ids_to_tokens(tok("No command to execute. Halt state.", add_special_tokens=False)["input_ids"])
    assert halt == ["No", " ", "command", " ", "to", " ", "execute", ".", " ", "Halt", " ", "state", "."]
    for word in ("GREATER_THAN", "LEFT_MASK", "[CALL]", "[COUNT]", "[HEAD]", "qH", "True", "False", "LEFT"):
        assert len(tok(word, add_special_tokens=False)["input_ids"]) == 1, word


def test_new_machine_words_enter_the_vocabulary_from_texts():
    text = "LONG_MUL, q7,  |3[HEAD1]|2 [CARRY]4 [OUTPUT]\nCMD [CARRY] 1, q8\n"
    plain = T.caef_tokenizer()
    grown = T.caef_tokenizer([text])
    assert T.check_round_trip(plain, [text]) == 1          # before: character fallback, still exact
    assert len(grown(text)["input_ids"]) < len(plain(text)["input_ids"])
    for word in ("LONG_MUL", "[CARRY]", "q7", "q8"):
        assert len(grown(word, add_special_tokens=False)["input_ids"]) == 1


def test_vocabulary_is_deterministic():
    a = T.caef_tokenizer(TEXTS[::-1]).get_vocab()
    b = T.caef_tokenizer(TEXTS).get_vocab()
    assert a == b


def test_special_tokens_bos_and_eos(tmp_path):
    tok = T.caef_tokenizer()
    ids = tok("45+67=")["input_ids"]
    assert ids[0] == tok.bos_token_id and tok.eos_token_id not in ids
    assert {tok.pad_token, tok.bos_token, tok.eos_token, tok.unk_token} == set(T.SPECIAL_TOKENS)
    tok.save_pretrained(tmp_path)
    back = T.load_tokenizer(tmp_path)
    text = TEXTS[1]
    assert back(text)["input_ids"] == tok(text)["input_ids"]
    assert back.decode(back(text)["input_ids"], skip_special_tokens=True) == text


def test_number_level_vocabulary_for_leave_square_out():
    tok = T.number_tokenizer(["40+41=81", "(40,41)=125"])
    for n in (0, 7, 99, 198, 520):
        assert len(tok(str(n), add_special_tokens=False)["input_ids"]) == 1
    assert tok.convert_ids_to_tokens(tok("40+41=81", add_special_tokens=False)["input_ids"]) == \
        ["40", "+", "41", "=", "81"]
    # above 520 and with leading zeros: digit by digit, still exact
    assert len(tok("521", add_special_tokens=False)["input_ids"]) == 3
    assert len(tok("007", add_special_tokens=False)["input_ids"]) == 3
    T.check_round_trip(tok, ["520+521=1041", "007", "There are 20 rabbits and 20 chickens."])


def test_digit_level_vocabulary():
    tok = T.digit_tokenizer()
    assert tok.convert_ids_to_tokens(tok("40+41=81", add_special_tokens=False)["input_ids"]) == \
        ["4", "0", "+", "4", "1", "=", "8", "1"]


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_round_trip_any_text(text):
    for tok in (_CAEF, _NUMBER):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids, skip_special_tokens=False) == text


_CAEF = T.caef_tokenizer(TEXTS)
_NUMBER = T.number_tokenizer()


def test_round_trip_of_golden_traces(reference_dir):
    """Every text of the reference repository's 450 golden problems (all nine machines)."""
    texts = []
    for path in sorted((reference_dir / "caef" / "traces").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            texts += [f"{s['state']}\n{s['command']}\n" for s in r["steps"]]
            for t in r.get("transitions") or []:
                texts += [t["input"], t["output"]]
            for key in ("aligner_input", "aligner_output"):
                if r.get(key):
                    texts += [r[key]["prompt"], r[key]["response"]]
    tok = T.caef_tokenizer(texts)
    assert T.check_round_trip(tok, texts) == len(texts) > 10_000
    # no character fallback: every piece of a golden text is one vocabulary token
    vocab = tok.get_vocab()
    assert all(p in vocab for t in texts[:2000] for p in T.pieces(t))


def test_round_trip_error_names_the_text():
    class Lossy:
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [1]}

        def decode(self, ids, **kw):
            return "x"

    with pytest.raises(T.RoundTripError, match="round trip"):
        T.check_round_trip(Lossy(), ["abc"])
