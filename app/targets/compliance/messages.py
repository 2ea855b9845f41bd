"""The sentences a compliance item's `reason` is made of, one catalogue per language (`?lang=`).

Only text lives here; app.targets.compliance.reasons puts the numbers in. Each catalogue has the same
keys: `target` by operator, `figure` by qualifier (how the reported figure reads), and one sentence
per case (`met`, `not_met`, `open_both` for an approximate figure, `open_above` for a figure given
only as a lower bound, `no_data`).
"""

from typing import Literal

Lang = Literal["zh", "en"]

ZH: dict[str, dict[str, str]] = {
    "target": {
        "at_least": "不低于{value}",
        "at_most": "不高于{value}",
        "exactly": "等于{value}",
        "between": "在{value}至{upper}之间",
    },
    "figure": {
        "exact": "{actual}",
        "at_least": "不少于{actual}",
        "more_than": "多于{actual}",
        "approximately": "约{actual}",
    },
    "sentence": {
        "met": "已达标：实际值{figure}，目标{target}，余量{gap}。",
        "not_met": "未达标：实际值{figure}，目标{target}，相差{shortfall}。",
        "open_both": "无法判定：实际值{figure}是约数，上下界都不确定，无法判断是否{target}。",
        "open_above": "无法判定：实际值{figure}只给出下界，上界未定，无法判断是否{target}。",
        "no_data": "无数据：未报告实际值，无法判断是否{target}。",
    },
}

EN: dict[str, dict[str, str]] = {
    "target": {
        "at_least": "at least {value}",
        "at_most": "at most {value}",
        "exactly": "exactly {value}",
        "between": "between {value} and {upper}",
    },
    "figure": {
        "exact": "{actual}",
        "at_least": "at least {actual}",
        "more_than": "more than {actual}",
        "approximately": "approximately {actual}",
    },
    "sentence": {
        "met": "Met: the figure {figure} is within the target of {target}, with a margin of {gap}.",
        "not_met": "Not met: the figure {figure} misses the target of {target} by {shortfall}.",
        "open_both": "Indeterminate: the figure {figure} is an estimate that leaves both bounds open, "
        "so whether it is {target} cannot be told.",
        "open_above": "Indeterminate: the figure {figure} gives only a lower bound and leaves the upper "
        "bound open, so whether it is {target} cannot be told.",
        "no_data": "No data: no figure was reported, so whether it is {target} cannot be told.",
    },
}

CATALOGUES: dict[str, dict[str, dict[str, str]]] = {"zh": ZH, "en": EN}
