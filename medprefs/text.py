"""Text normalisation shared by every stage: NFKC and consistent whitespace."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"[ \t\u3000]+")
# Circled numbers (①②...) are the answer slots of numeric questions ("解答: ①.②"); NFKC would turn them into plain
# digits and the template would read "解答: 1.2", so they are kept as they are.
ANSWER_SLOTS = re.compile(r"[\u2460-\u24FF]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """NFKC (full-width ASCII and digits to half width, compatibility forms folded) except answer slots (①),
    spaces collapsed, lines trimmed."""
    text = _nfkc_keeping_answer_slots(text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _nfkc_keeping_answer_slots(text: str) -> str:
    if not ANSWER_SLOTS.search(text):
        return unicodedata.normalize("NFKC", text)
    parts = ANSWER_SLOTS.split(text)
    slots = ANSWER_SLOTS.findall(text)
    pieces = [unicodedata.normalize("NFKC", parts[0])]
    for slot, part in zip(slots, parts[1:], strict=True):
        pieces += [slot, unicodedata.normalize("NFKC", part)]
    return "".join(pieces)
