"""Formulas over indicators: the one grammar of derived indicators and validation rules.

A formula is decimal numbers, `#{code}` of indicators, `+ - * /`, unary minus and parentheses:
`#{free-seals} / #{new-firms-sealed}`, `(#{a} + #{b}) * 100`. It is parsed by Python's own `ast`
(each `#{code}` first replaced by a placeholder name) and every node of the tree is checked against a
whitelist: nothing is ever `eval`-ed. Evaluation is exact (fractions): `evaluate` gives a `Fraction`,
`round_places` rounds it half away from zero. A missing operand or a division by zero gives no value
(`None`), never an error.

`Arithmetic` lets a caller evaluate the same tree over other numbers (an interval per operand, as the
validation of qualified figures does) without a second evaluator.
"""

import ast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Generic, TypeVar, cast

from app.core.fields import CODE_PATTERN

MAX_LENGTH = 1000
_OPERAND = re.compile(r"#\{([^{}]*)\}")
_CODE = re.compile(CODE_PATTERN)
_NUMBER = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_NAME = "_op{}_"
# Python's grammar takes more than ours: characters outside it are refused before parsing, and what
# they can still spell (`**`, `//`, names, calls, tuples, exponents, `1_000`) by the tree's whitelist.
_ALLOWED = re.compile(r"[0-9.+\-*/()\s_a-z]")

T = TypeVar("T")


class FormulaError(ValueError):
    """What is wrong with a formula, in words a user can act on."""


@dataclass(frozen=True)
class Formula:
    text: str
    operands: tuple[str, ...]  # the codes it reads, each once, in order of first appearance
    tree: ast.expr

    def evaluate(self, values: Mapping[str, Decimal | Fraction | int | None]) -> Fraction | None:
        """The exact value over `values` (code -> figure); None when an operand is missing or a
        division is by zero."""
        return evaluate(self, values, EXACT)

    def value(self, values: Mapping[str, Decimal | Fraction | int | None], places: int = 6) -> Decimal | None:
        exact = self.evaluate(values)
        return None if exact is None else round_places(exact, places)


def parse(text: str) -> Formula:
    """Parse and check a formula; FormulaError says what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise FormulaError("a formula may not be empty")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"a formula has at most {MAX_LENGTH} characters")
    codes: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        code = match.group(1).strip()
        if not _CODE.match(code):
            raise FormulaError(f"#{{{match.group(1)}}} is not an indicator code")
        if code not in codes:
            codes.append(code)
        return " " + _NAME.format(codes.index(code)) + " "

    source = _OPERAND.sub(placeholder, text)
    if "#" in source or "{" in source or "}" in source:
        raise FormulaError("an operand is written #{code}")
    stray = sorted({c for c in source if not _ALLOWED.match(c)})
    if stray:
        raise FormulaError(
            f"unexpected character(s) {' '.join(stray)}: a formula is numbers, #{{code}}, + - * / and ( )"
        )
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as error:
        raise FormulaError(
            "syntax error: an operator without its operand, or parentheses that do not match"
        ) from error
    _check(tree.body, source.strip(), len(codes))
    return Formula(text=text, operands=tuple(codes), tree=tree.body)


def _check(node: ast.expr, source: str, count: int) -> None:
    if isinstance(node, ast.BinOp):
        if not isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
            raise FormulaError("only + - * / combine operands")
        _check(node.left, source, count)
        _check(node.right, source, count)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub | ast.UAdd):
            raise FormulaError("only + and - may stand before an operand")
        _check(node.operand, source, count)
    elif isinstance(node, ast.Constant):
        literal = ast.get_source_segment(source, node) or ""
        if not _NUMBER.match(literal):
            raise FormulaError(f"{literal or node.value!r} is not a decimal number")
        node.value = Fraction(literal)  # type: ignore[assignment]  # exact, from the text: no binary float
    elif isinstance(node, ast.Name):
        if not re.fullmatch(r"_op[0-9]+_", node.id) or int(node.id[3:-1]) >= count:
            raise FormulaError(f"{node.id!r} is not an operand: write indicators as #{{code}}")
    else:
        raise FormulaError("a formula is numbers, #{code}, + - * / and ( )")


@dataclass(frozen=True)
class Arithmetic(Generic[T]):
    """The operations a formula's evaluation needs over numbers of type T; an operation answers None
    where it has no value (a division by zero)."""

    constant: Callable[[Fraction], T]
    add: Callable[[T, T], T | None]
    sub: Callable[[T, T], T | None]
    mul: Callable[[T, T], T | None]
    div: Callable[[T, T], T | None]
    neg: Callable[[T], T]


def _exact_div(a: Fraction, b: Fraction) -> Fraction | None:
    return None if b == 0 else a / b


EXACT: Arithmetic[Fraction] = Arithmetic(
    constant=lambda f: f,
    add=lambda a, b: a + b,
    sub=lambda a, b: a - b,
    mul=lambda a, b: a * b,
    div=_exact_div,
    neg=lambda a: -a,
)


def evaluate(formula: Formula, values: Mapping[str, object], arithmetic: Arithmetic[T]) -> T | None:
    """The formula over `values` (code -> number of the arithmetic; Decimals and ints are taken as exact
    fractions first when the arithmetic is EXACT); None when an operand is None or missing."""
    operands: list[T] = []
    for code in formula.operands:
        value = values.get(code)
        if value is None:
            return None
        if arithmetic is EXACT and not isinstance(value, Fraction):
            value = Fraction(value)  # type: ignore[call-overload]
        operands.append(value)  # type: ignore[arg-type]
    return _eval(formula.tree, operands, arithmetic)


def _eval(node: ast.expr, operands: list[T], arithmetic: Arithmetic[T]) -> T | None:
    if isinstance(node, ast.Name):
        return operands[int(node.id[3:-1])]
    if isinstance(node, ast.Constant):
        return arithmetic.constant(cast(Fraction, node.value))  # made a Fraction by parse
    if isinstance(node, ast.UnaryOp):
        inner = _eval(node.operand, operands, arithmetic)
        if inner is None:
            return None
        return arithmetic.neg(inner) if isinstance(node.op, ast.USub) else inner
    assert isinstance(node, ast.BinOp)
    left = _eval(node.left, operands, arithmetic)
    if left is None:
        return None
    right = _eval(node.right, operands, arithmetic)
    if right is None:
        return None
    match node.op:
        case ast.Add():
            return arithmetic.add(left, right)
        case ast.Sub():
            return arithmetic.sub(left, right)
        case ast.Mult():
            return arithmetic.mul(left, right)
        case _:
            return arithmetic.div(left, right)


def round_places(value: Fraction, places: int = 6) -> Decimal:
    """`value` to `places` decimals, half away from zero, exactly (no binary float on the way)."""
    scaled = value * 10**places
    whole, rest = divmod(abs(scaled.numerator), scaled.denominator)
    if 2 * rest >= scaled.denominator:
        whole += 1
    result = Decimal(-whole if scaled < 0 else whole).scaleb(-places)
    return result.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
