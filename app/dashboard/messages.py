"""The message catalogues: every label of the pages, one JSON file per language."""

import json
from enum import StrEnum
from functools import cache
from pathlib import Path

FOLDER = Path(__file__).parent / "messages"


class Lang(StrEnum):
    zh = "zh"
    en = "en"


@cache
def catalogue(lang: Lang) -> dict[str, str]:
    """The labels of `lang`, by key; every catalogue has the same keys (a test checks it)."""
    data: dict[str, str] = json.loads((FOLDER / f"{lang.value}.json").read_text(encoding="utf-8"))
    return data
