"""The words people write in files: a figure's qualifier, a target's operator, and names for codes.

A file may give the code (`at_least`) or the Chinese word (`至少`); the Chinese template offers the
words in its drop-down list, the English one the codes. Operators also take the signs and the
words of the report (不低于 is at_least, 不高于 at_most, 等于 exactly, 介于 between).
"""

from collections.abc import Iterable
from typing import Any, Final

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


def names(
    codes: dict[str, Any], named: Iterable[tuple[Any, str | None, str | None]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Codes, Chinese and English names, each to what it names, for files that write names; and the
    names two entries share, which name neither."""
    found = dict(codes)
    shared: dict[str, str] = {}
    for target, name, name_en in named:
        for text in {name and name.strip(), name_en and name_en.strip()}:
            if not text or text in codes:
                continue  # a code is what it says, whatever another entry is called
            if text in found and found[text] != target:
                shared[text] = text
            else:
                found[text] = target
    for text in shared:
        found.pop(text, None)
    return found, shared
