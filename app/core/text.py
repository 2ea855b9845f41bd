"""Free text (names, notes, sources, reasons): what the service accepts and how it writes it out.

Control characters other than tab and line breaks are refused on the way in, because CSV readers and
workbooks (openpyxl raises IllegalCharacterError) cannot carry them; text stored before that rule
comes out with each of them replaced by U+FFFD, so that no stored text makes an export fail.
"""

import re

# C0 controls but tab, line feed and carriage return; DEL; C1 controls.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
CONTROL_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
REPLACEMENT = "\ufffd"
CONTROL_MSG = "must not hold control characters other than tab and line breaks"


def has_control(text: str) -> bool:
    return CONTROL.search(text) is not None


def printable(text: str) -> str:
    """The text with every refused control character replaced by U+FFFD (for exports)."""
    return CONTROL.sub(REPLACEMENT, text) if CONTROL.search(text) else text
