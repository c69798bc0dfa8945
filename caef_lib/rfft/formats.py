"""The three formats of the length-generalisation experiment of Hu et al. (ICML 2024): direct, scratchpad, RFFT.

    fmt = FORMATS["rfft"]
    fmt.prompt(59, 13)              # the instruction line, "59+13=", the rule's code
    fmt.target(59, 13)              # the line-by-line execution of the rule, ending "\\n[7, 2]"
    fmt.extract(generated_text)     # the value a generated text is scored by: "72", or None

Texts (../shared/reference/case_or_rule/spec.md, section d):
    direct      `a+b=` -> the sum.
    scratchpad  the Leave-Square-Out `_cot` trace (spec a.6): `<rest of a>+<rest of b>,<partial>,C:<carry>`
                lines, then the plain sum; exactly what the released `answers[0]` holds.
    rfft        input: the instruction line, `a+b=`, then the rule (`sum_digit_by_digit`, spec d.2, with the
                comment lines of the released ICL prompt file); target: the trace of the released
                `gen_rf_rationale` (spec d.3), byte for byte.

How question and code are joined in the RFFT input is not released (spec d.5). The kit's choice: the question
line, then the code starting on the next line (the released code template begins with a newline), nothing else.

Scoring by value. RFFT: the last line of the text, when it is a digit list, leading carry included, read as an
integer. The released
Llama parser keeps only the text before the first "end", i.e. the result list *before* the final-carry step, so
a wrong or missing leading carry digit would go unnoticed; the kit scores the whole sum instead.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from ..lso.tasks import addition_trace

INSTRUCTION = "Follow the code step by step to answer the question:"

# The rule as the paper gives it (spec d.2): 4-space indents, no spaces around `=`, a space after the comma only
# in the final insert; comment lines as in the released ICL prompt file.
RULE = """
def sum_digit_by_digit(num1, num2):
    # Initialize the result list and carry
    result=[]
    carry=0
    # Loop through each digit
    while num1 or num2:
        # Get the current digits, defaulting to 0 if one number is shorter
        digit1=num1.pop() if num1 else 0
        digit2=num2.pop() if num2 else 0
        # Calculate the sum of the current digits and the carry
        total=digit1+digit2+carry
        # Insert the last digit of total to the beginning of the result and update carry
        result.insert(0,total%10)
        carry=total//10
    # If there's a remaining carry, insert it to the beginning of the result
    if carry:
        result.insert(0, carry)
    # Return the result
    return result"""

FENCE = "```"


def check_operands(a, b) -> None:
    """Operands are non-negative integers (bool is not an integer here)."""
    for name, v in (("a", a), ("b", b)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"operand {name}={v!r}: must be a non-negative integer")


def digits(n: int) -> list[int]:
    return [int(c) for c in str(n)]


def _stop_check(num1: list[int], num2: list[int]) -> list[str]:
    going = bool(num1 or num2)
    return [FENCE, "while num1 or num2:", FENCE, "2.1 check the stop criterion",
            f"num1={num1}", f"num2={num2}", f"bool(num1)={bool(num1)}", f"bool(num2)={bool(num2)}",
            f"num1 or num2={going}", "enter the loop" if going else "end the loop"]


def _pop(k: int, num: list[int]) -> tuple[list[str], int]:
    lines = [FENCE, f"digit{k}=num{k}.pop() if num{k} else 0", FENCE]
    if not num:
        return lines + [f"num{k}=[]", f"bool(num{k})=False", f"num{k}=[]", f"digit{k}=0"], 0
    before = list(num)
    d = num.pop()
    return lines + [f"num{k}={before}", f"bool(num{k})=True", f"num{k}.pop()", f"num{k}={num}",
                    f"digit{k}={d}"], d


def rfft_trace(a: int, b: int) -> str:
    """The rule-following trace of `a+b` (spec d.3): it starts with a newline and ends with the result list."""
    check_operands(a, b)
    num1, num2 = digits(a), digits(b)
    lines = ["", f"num1={num1}", f"num2={num2}",
             "1. Initialize Result and Carry", "result=[]", "carry=0", "", "2. Loop Through Each Digit"]
    result: list[int] = []
    carry = 0
    while num1 or num2:
        lines += _stop_check(num1, num2) + ["2.2 one iteration"]
        pop1, d1 = _pop(1, num1)
        pop2, d2 = _pop(2, num2)
        total = d1 + d2 + carry
        old = list(result)
        result.insert(0, total % 10)
        lines += pop1 + pop2 + [
            FENCE, "total=digit1+digit2+carry", FENCE, f"total=digit1+digit2+carry={d1}+{d2}+{carry}={total}",
            FENCE, "result.insert(0,total%10)", FENCE, f"result={old}", f"total%10={total}%10={total % 10}",
            f"result={result}",
            FENCE, "carry=total//10", FENCE, f"carry={total}//10={total // 10}",
            "2.3 back to the start of the loop"]
        carry = total // 10
    lines += _stop_check(num1, num2)
    lines += ["3. Check Remaining Carry", FENCE, "if carry:", "    result.insert(0, carry)", FENCE,
              f"result={result}", f"carry={carry}", f"bool(carry)={bool(carry)}"]
    if carry:
        result.insert(0, carry)
        lines += [f"result={result}"]
    else:
        lines += ["pass", f"result={result}"]
    lines += ["4. Return Result", FENCE, "return result", FENCE, f"result={result}", "", f"{result}"]
    return "\n".join(lines)


LIST = re.compile(r"\[(\d(?:, \d)*)\]")
NUMBER = re.compile(r"\d+")


def _last_list(text: str) -> str | None:
    """An RFFT answer's value: its last non-empty line, when that line is a digit list (a trace cut before its
    final list is wrong, even if an earlier list holds the sum)."""
    lines = [x for x in str(text).split("\n") if x.strip()]
    m = LIST.fullmatch(lines[-1].strip()) if lines else None
    return str(int(m.group(1).replace(", ", ""))) if m else None


def _last_number(text: str) -> str | None:
    found = NUMBER.findall(str(text))
    return str(int(found[-1])) if found else None


def _last_line_number(text: str) -> str | None:
    """A scratchpad's value: its last line, when that line is a plain number (a half-written trace is wrong)."""
    last = str(text).rstrip("\n").rsplit("\n", 1)[-1].strip()
    return str(int(last)) if last.isdigit() else None


@dataclass(frozen=True)
class Format:
    name: str
    prompt: Callable[[int, int], str]
    target: Callable[[int, int], str]
    extract: Callable[[str], str | None]

    def sample(self, a: int, b: int) -> dict:
        """{"prompt", "response"}: one training sample (the kit's training data calls the target `response`)."""
        return {"prompt": self.prompt(a, b), "response": self.target(a, b)}


def _question(a: int, b: int) -> str:
    check_operands(a, b)
    return f"{a}+{b}="


def _direct_target(a: int, b: int) -> str:
    check_operands(a, b)
    return str(a + b)


def _scratchpad_target(a: int, b: int) -> str:
    check_operands(a, b)
    return "\n".join(addition_trace(str(a), str(b)))


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("direct", _question, _direct_target, _last_number),
    Format("scratchpad", _question, _scratchpad_target, _last_line_number),
    Format("rfft", lambda a, b: f"{INSTRUCTION}\n{_question(a, b)}{RULE}", rfft_trace, _last_list),
)}


def get_format(name: str) -> Format:
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}; formats: {', '.join(FORMATS)}")
    return FORMATS[name]
