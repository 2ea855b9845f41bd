"""The words people write in files for a figure's qualifier and a target's operator.

A file may give the code (`at_least`) or the Chinese word (`至少`); the Chinese template offers the
words in its drop-down list, the English one the codes. Operators also take the signs and the
words of the report (不低于 is at_least, 不高于 at_most, 等于 exactly, 介于 between).
"""

from typing import Final

from app.observations.models import Qualifier
from app.targets.models import Operator

QUALIFIER_ZH: Final = {
    Qualifier.exact: "精确",
    Qualifier.at_least: "至少",
    Qualifier.more_than: "超过",
    Qualifier.approximately: "约",
}
OPERATOR_ZH: Final = {
    Operator.at_least: "不低于",
    Operator.at_most: "不高于",
    Operator.exactly: "等于",
    Operator.between: "介于",
}
# Every way of writing each, to its code.
QUALIFIERS: Final[dict[str, str]] = {
    **{q.value: q.value for q in Qualifier},
    **{word: q.value for q, word in QUALIFIER_ZH.items()},
}
OPERATORS: Final[dict[str, str]] = {
    **{o.value: o.value for o in Operator},
    **{word: o.value for o, word in OPERATOR_ZH.items()},
    "至少": "at_least",
    "≥": "at_least",
    ">=": "at_least",
    "至多": "at_most",
    "不超过": "at_most",
    "≤": "at_most",
    "<=": "at_most",
    "=": "exactly",
    "区间": "between",
}


def qualifier_words(lang: str) -> list[str]:
    """The qualifiers as a template's drop-down offers them."""
    return list(QUALIFIER_ZH.values()) if lang == "zh" else [q.value for q in Qualifier]


def operator_words(lang: str) -> list[str]:
    return list(OPERATOR_ZH.values()) if lang == "zh" else [o.value for o in Operator]
