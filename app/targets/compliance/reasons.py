"""A compliance item's `reason`: one sentence saying why it has its status, from the catalogue of
the language asked for (app.targets.compliance.messages).

Met: by what margin; not met: by how much; indeterminate: which bounds the figure's qualifier leaves
open (an approximate figure both, an `at_least`/`more_than` figure the upper one); no data: that no
figure was reported. Built only for the items answered (a page, or the rows of a file).
"""

from decimal import Decimal
from typing import Any

from app.core.json import decimal_text
from app.targets.compliance.messages import CATALOGUES, Lang
from app.targets.rules import Status


def _text(value: Decimal | None) -> str:
    return "" if value is None else decimal_text(value)


def explain(item: dict[str, Any], lang: Lang) -> str:
    """The reason of one item (a dict as the report gives it) in `lang`."""
    catalogue = CATALOGUES[lang]
    bounds = item["target"]
    target = catalogue["target"][bounds["operator"]].format(
        value=_text(bounds["value"]), upper=_text(bounds["upper"])
    )
    status = item["status"]
    sentences = catalogue["sentence"]
    if status == Status.no_data:
        return sentences["no_data"].format(target=target)
    qualifier = item["qualifier"] or "exact"
    figure = catalogue["figure"][qualifier].format(actual=_text(item["actual"]))
    gap = item["gap"]
    if status == Status.met:
        return sentences["met"].format(figure=figure, target=target, gap=_text(gap))
    if status == Status.not_met:
        return sentences["not_met"].format(figure=figure, target=target, shortfall=_text(-gap))
    case = "open_both" if qualifier == "approximately" else "open_above"
    return sentences[case].format(figure=figure, target=target)


def add_reasons(items: list[dict[str, Any]], lang: Lang) -> None:
    """Give each item its `reason` (in place)."""
    for item in items:
        item["reason"] = explain(item, lang)
