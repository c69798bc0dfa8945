"""The symbolic CAEF machines (arXiv 2410.07896): texts, oracles and call counts.

Registry keyed by adapter name (the LoRA adapter that executes the machine)::

    from caef_lib.machines import MACHINES, get, OP_SYMBOLS, python_result
    add = get("add")
    add.init(45, 67)            # ('ADD, q0, [HEAD1] |5|4[HEAD2] |7|6 [C] [OUTPUT]', 'CMD: [C] 0, ...')
    add.transition(prompt)      # oracle answer of a perfect model
    add.step(45, 67, 2)         # step 2 of the trajectory, rendered directly

Basic machines: ``add``, ``reflection``, ``left_mask``, ``equal``, ``greater_than``, ``less_than``.
Composers (CALL other machines): ``sub``, ``mul``, ``div``.
Long arithmetic (docs/long-arithmetic.md; calls grow with the operands' lengths, not values): composers
``long_mul`` (calls ``mul_digit`` and ``add``) and ``long_div`` (calls ``sub_borrow``).
"""

from .add import Add
from .aligner import aligner_sample_kind, expression, input_to_tm, parse_expression, tm_to_output
from .base import BasicMachine, Composer, Machine, call_target, step_kind
from .compare import Equal, GreaterThan, LessThan
from .div import Div
from .left_mask import LeftMask
from .mul import Mul
from .reflection import Reflection
from .registry import BY_NAME, MACHINES, OP_SYMBOLS, get, has_aligner, python_result, register
from .sub import Sub
from .tape import HALT, MalformedText

for _machine in (Add(), Sub(), Mul(), Div(), Equal(), GreaterThan(), LessThan(), Reflection(), LeftMask()):
    register(_machine)
del _machine

# Long arithmetic (docs/long-arithmetic.md): registered after MUL/DIV so that the raw symbols
# "*" and "//" still parse as MUL/DIV; the long_mul/long_div aligners pick these machines.
from .long_div import LongDiv  # noqa: E402
from .long_mul import LongMul  # noqa: E402
from .mul_digit import MulDigit  # noqa: E402
from .sub_borrow import SubBorrow  # noqa: E402

for _machine in (MulDigit(), SubBorrow(), LongMul(), LongDiv()):
    register(_machine)
del _machine

__all__ = [
    "HALT", "MalformedText", "Machine", "BasicMachine", "Composer", "MACHINES", "OP_SYMBOLS", "BY_NAME",
    "get", "has_aligner", "register", "python_result", "call_target", "step_kind", "input_to_tm", "tm_to_output", "parse_expression",
    "expression", "aligner_sample_kind", "Add", "Sub", "Mul", "Div", "Equal", "GreaterThan", "LessThan", "Reflection",
    "LeftMask", "MulDigit", "SubBorrow", "LongMul", "LongDiv",
]
