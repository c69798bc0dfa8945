"""Task tokenizers for the built-in tiny models.

Real base models (Llama, GPT-2 from a local folder) bring their own tokenizer. The tiny models the kit trains
from scratch get a small task tokenizer instead, built here with the `tokenizers` library and wrapped as a
`transformers.PreTrainedTokenizerFast`, so it is saved next to the model (`save_pretrained`) and loaded back
with `AutoTokenizer.from_pretrained` like any Hugging Face tokenizer.

How a text is cut into tokens (the same recipe for the three schemes):

1. A pre-tokenizer regex splits the text into pieces:
       [HEAD1] [C] [OUTPUT] [CALL] ...   a bracket marker            -> one piece
       ADD  CMD:  RIGHT  q1  qH  True     a word (optionally with ':') -> one piece
       5  |  ,  ' '  '\\n'                any other single character   -> one piece
   (`number` scheme: a run of digits is one piece; `caef` and `digit`: every digit is its own piece.)
2. The model is a BPE without merges and with `ignore_merges=True`: a piece that is in the vocabulary is ONE
   token; a piece that is not (a word first seen after the tokenizer was built, a number above 520 in the
   `number` scheme) falls back to its characters, and a character outside the vocabulary falls back to its
   UTF-8 bytes (`<0x..>` tokens, as in Llama's tokenizer). Nothing is ever mapped to `<unk>`, so
   `decode(encode(text)) == text` holds for EVERY string: double spaces, trailing spaces, newlines, unicode.
   (A plain WordLevel model would turn an unseen word into `<unk>` and break the round trip.)
3. The vocabulary = special tokens + a fixed base set (printable ASCII, every digit, `|`, the CAEF markers,
   keywords, state and machine names, the words of the halt sentence) + every multi-character piece found in
   the texts the tokenizer is built from. A machine added later (say LONG_MUL with a `[CARRY]` marker) just
   works: its names enter the vocabulary when the tokenizer is built from its texts, and even before that they
   round-trip through the character fallback.

Schemes:
    caef    every digit, `|`, marker, keyword, state name, punctuation mark, space and newline is one token
    number  Leave-Square-Out: every integer 0..520 is one token (as with GPT-2's BPE), larger ones digit by digit
    digit   Leave-Square-Out ablation: every digit is one token

The tokenizer prepends `<s>` (BOS) like Llama's; training appends `</s>` (EOS) after every answer.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)

SCHEMES = ("caef", "number", "digit")

MARKER = r"\[[A-Za-z0-9_]+\]"
WORD = r"[A-Za-z_][A-Za-z0-9_]*:?"
PATTERNS = {
    "caef": rf"{MARKER}|{WORD}|[\s\S]",
    "digit": rf"{MARKER}|{WORD}|[\s\S]",
    "number": rf"{MARKER}|{WORD}|[0-9]+|[\s\S]",
}

# Fixed base set: every character a CAEF or Leave-Square-Out text uses, plus the CAEF words, so the
# tokenizer of a profile does not depend on which operators happened to be generated.
BASE_CHARS = tuple(chr(i) for i in range(32, 127)) + ("\n", "\t")
CAEF_MARKERS = ("[HEAD]", "[HEAD1]", "[HEAD2]", "[C]", "[OUTPUT]", "[COUNT]", "[CALL]")
CAEF_MACHINES = ("ADD", "SUB", "MUL", "DIV", "EQUAL", "GREATER_THAN", "LESS_THAN", "REFLECTION", "LEFT_MASK")
CAEF_STATES = tuple(f"q{i}" for i in range(10)) + ("qH",)
CAEF_KEYWORDS = ("CMD", "CMD:", "RIGHT", "LEFT", "True", "False",
                 "No", "command", "to", "execute", "Halt", "state")  # `No command to execute. Halt state.`
CAEF_WORDS = CAEF_MARKERS + CAEF_MACHINES + CAEF_STATES + CAEF_KEYWORDS
MAX_NUMBER = 520  # GPT-2's BPE has every integer 0..520 as one token


def pieces(text: str, scheme: str = "caef", phrases: Iterable[str] = ()) -> list[str]:
    """The pre-tokenizer's pieces of `text` (what becomes one token when it is in the vocabulary)."""
    return [p for p, _ in _pre_tokenizer(scheme, phrases).pre_tokenize_str(text)]


def _pre_tokenizer(scheme: str, phrases: Iterable[str] = ()):
    if scheme not in PATTERNS:
        raise ValueError(f"tokenizer scheme {scheme!r}: use one of {', '.join(SCHEMES)}")
    fixed = sorted({p for p in phrases if p}, key=lambda p: (-len(p), p))  # longest first: regex picks the first
    pattern = "|".join([*(re.escape(p) for p in fixed), PATTERNS[scheme]])
    return pre_tokenizers.Split(Regex(pattern), behavior="isolated")


def build_tokenizer(texts: Iterable[str] = (), scheme: str = "caef", *, max_number: int = MAX_NUMBER,
                    phrases: Iterable[str] = (), model_max_length: int = 4096):
    """A `PreTrainedTokenizerFast` for `scheme`, with the base set plus the multi-character pieces of `texts`.

    `phrases`: fixed strings (newlines and spaces allowed) that are cut out as one piece wherever they occur,
    before the scheme's own rules; the long constant lines of a trace format become one token each this way.
    The vocabulary order is deterministic (specials, base characters, sorted words, bytes), so the same texts
    always give the same token ids.
    """
    from transformers import PreTrainedTokenizerFast

    phrases = tuple(phrases)
    pre = _pre_tokenizer(scheme, phrases)
    words: set[str] = set(CAEF_WORDS) | {p for p in phrases if len(p) > 1}
    if scheme == "number":
        words.update(str(i) for i in range(max_number + 1))
    for text in texts:
        for piece, _ in pre.pre_tokenize_str(text):
            if len(piece) > 1 and (scheme != "number" or not piece.isdigit() or int(piece) <= max_number
                                   and str(int(piece)) == piece):
                words.add(piece)
    vocab: dict[str, int] = {}
    for token in (*SPECIAL_TOKENS, *BASE_CHARS, *sorted(words - set(BASE_CHARS)),
                  *(f"<0x{b:02X}>" for b in range(256))):
        vocab.setdefault(token, len(vocab))

    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK, byte_fallback=True, ignore_merges=True))
    tok.pre_tokenizer = pre
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])])
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        clean_up_tokenization_spaces=False, model_max_length=model_max_length)


def caef_tokenizer(texts: Iterable[str] = ()):
    """CAEF texts: digits, markers, keywords, states, punctuation, space and newline are one token each."""
    return build_tokenizer(texts, "caef")


def number_tokenizer(texts: Iterable[str] = (), max_number: int = MAX_NUMBER):
    """Leave-Square-Out with a number-level vocabulary: every integer 0..max_number is one token."""
    return build_tokenizer(texts, "number", max_number=max_number)


def digit_tokenizer(texts: Iterable[str] = ()):
    """Leave-Square-Out with a digit-level vocabulary: every digit is one token."""
    return build_tokenizer(texts, "digit")


class RoundTripError(ValueError):
    pass


def check_round_trip(tokenizer, texts: Iterable[str]) -> int:
    """Raise RoundTripError on the first text with decode(encode(text)) != text; return the number checked."""
    n = 0
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        back = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if back != text:
            raise RoundTripError(f"tokenizer round trip changes the text:\n  in:  {text!r}\n  out: {back!r}")
        n += 1
    return n


def load_tokenizer(path: str | os.PathLike):
    """A tokenizer saved with `save_pretrained` (task tokenizers and local Hugging Face models alike)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(Path(path), local_files_only=True, trust_remote_code=False)


def llama3_like_tokenizer(texts: Iterable[str] | None = None, vocab_size: int = 400):
    """A byte-level BPE trained on `texts` that cuts digit runs into groups of up to three and has BOS/EOS but no
    pad token, as Llama-3's tokenizer does. For tests and benchmarks of what a user's real checkpoint brings
    (a tokenizer whose token boundaries do not follow the CAEF markers), without a model hub. Default texts: every
    prompt and answer of four additions' CAEF runs (1 to 8 digits)."""
    from tokenizers import trainers
    from transformers import PreTrainedTokenizerFast

    if texts is None:
        from .engine import run_oracle

        texts = [t for a, b in [(45, 67), (12345, 678), (9, 99999999), (31415926, 27182818)]
                 for c in run_oracle("add", a, b)["calls"] for t in (c["prompt"], c["answer"])]

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\d{1,3}"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(list(texts) * 5, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|begin_of_text|>", "<|end_of_text|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", tok.token_to_id("<|begin_of_text|>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>")
