"""Final-answer extraction and grading, shared by labeling and evaluation."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from medprefs.corpus.question import Question

Status = Literal["ok", "unparseable", "ambiguous"]
Kind = Literal["choice", "numeric"]

# Two line selections on the raw text; each pattern also runs inside polars, so it must stay in the syntax Python's
# `re` and Rust's `regex` share. Each match is a line plus the next one, where an answer written under an empty
# `答え:` sits. LABELLED_LINES: lines starting with an answer keyword (after decoration), candidates for "答え: c";
# ANSWER_LINES: any line holding a keyword (`答` covers 答え, 解答, 正答 and 回答), for prose like "正解はcである".
_RAW_KEYWORD = r"答|正解|(?i:answer|ａｎｓｗｅｒ)"
_RAW_LINE_START = r"[ \t\u3000*#>_\-・•\[【(「＊＃＞＿－［（｢･]*(?:最終的な|最終|(?i:the final|final|the))?[ \t\u3000]*"
LABELLED_LINES = rf"(?m)^{_RAW_LINE_START}(?:{_RAW_KEYWORD}|解答|正答)[^\n]*(?:\n[^\n]*)?"
ANSWER_LINES = rf"[^\n]*(?:{_RAW_KEYWORD})[^\n]*(?:\n[^\n]*)?"
_HAS_KEYWORD = re.compile(_RAW_KEYWORD)
BARE_MAX_CHARS = 64  # a response that is only the answer is short; longer keyword-free text is never read as one
_STARTS_WITH_KEYWORD = re.compile(rf"{_RAW_LINE_START}(?:{_RAW_KEYWORD}|解答|正答)")

# Everything below runs on NFKC-normalised, lower-cased lines.
_KEYWORD = r"(?:(?<!誤)答え|(?<!誤)答|(?<!不)正解|正答|解答|(?<![a-z])answer)"  # not 誤答/不正解 (wrong answer)
_CLOSE = r"[\]】」』)*_]*"
_SEPARATOR = rf"\s*{_CLOSE}\s*(?:(?:は|is)\s*[:、,]?|[:=]|(?<=[\]】」』]))\s*"
_STATEMENT = re.compile(_KEYWORD + _SEPARATOR)
# A labelled answer line ("答え: c", "**Answer:** c", "【正解】c") as opposed to prose ("正解はcである").
_LABELLED = re.compile(
    rf"^[\s*#>_\-・•\[【(「]*(?:最終的な|最終|the final|final|the)?\s*{_KEYWORD}\s*{_CLOSE}\s*(?:(?:は|is)?\s*:|(?<=[\]】」』]))"
)
_DECORATION_CHARS = "*_`\"'()[]{}「」『』【】〔〕<>《》〈〉 \t"
_DECORATION = re.compile("[" + re.escape(_DECORATION_CHARS) + "]")
_PREFIX = re.compile(r"^\s*(?:選択肢|options?|choices?|option|choice)\s*[:：]?\s*")
# A letter glued to katakana or a kanji is part of a term ("B型肝炎", "X線", "Tリンパ球"), not an option; the kanji
# that start a join or an alternative ("及び", "又は") are the exception.
_WORD_END = r"(?![a-z]|[\u30a1-\u30fa\u30fc]|(?![及又或若])[\u4e00-\u9fff])"
_LETTER = rf"[a-z]{_WORD_END}"
# a comma may precede a joining word ("a, c, and e", "a、およびc"); without it the list would stop at "a,c"
_JOIN = r"(?:\s*[,、]?\s*(?:&|と|および|及び)\s*|\s*[,、]?\s+and\s+|\s*(?:,|、|・)\s*|\s+)"
_ALTERNATIVE = r"(?:\s*[,、]?\s*(?:/|\||または|又は|もしくは|若しくは|あるいは|或いは|か)\s*|\s*[,、]?\s+or\s+)"
_LETTER_LIST = re.compile(rf"{_LETTER}(?:(?:{_ALTERNATIVE}|{_JOIN}){_LETTER})*")
_LETTER_RUN = re.compile(rf"(?=[a-e]{{2}})a?b?c?d?e?{_WORD_END}")  # "ac": options written together, in order
_SINGLE_LETTER = re.compile(rf"(?<![a-z]){_LETTER}")
_HEDGED = re.compile(rf"{_LETTER}{_ALTERNATIVE}{_LETTER}")
_SLOTS = re.compile(r"([\u2460-\u2473]+)(?:\s*[.．]\s*([\u2460-\u2473]+))?")  # answer boxes: ①②.③
# An answer box (①..⑳) NFKC would turn into a digit: "答え: ①②.③ = 52.9" would read 12.3. Boxes become this mark.
_BOX = "\ue000"
_CIRCLED = re.compile("[\u2460-\u2473]")
_BOX_TEMPLATE = re.compile(rf"^{_BOX}+(?:\s*\.\s*{_BOX}+)?\s*(?:[=:]|→|->|は)?\s*")  # the boxes restated first
_BOX_DIGITS = re.compile(rf"^(?:{_BOX}\s*[=:]?\s*[0-9](?![0-9.])\s*[,、]?\s*)+")  # "①5 ②2 ③9": a digit per box
# LaTeX's answer box, as instruction-tuned models write it ("答え: $\\boxed{c}$"): read as its content
_BOXED = re.compile(r"\$*\\boxed\s*\{([^{}\n]*)\}\$*")
_NUMBER = re.compile(r"(?:[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+)(?:\.[0-9]+)*")  # "1,200" is one number
_UNIT = re.compile(r"\s*(?!(?:or|and|to|is|are)(?![a-z]))[a-zμ]+(?:/[a-zμ0-9]+)*")  # "12 ml", "1.5mg/dl"
_NEXT_NUMBER = re.compile(rf"(?:{_ALTERNATIVE}|{_JOIN}|\s*[~〜\-]\s*)(?=[0-9])")  # "12と13", "12 or 13", "12~13"
_TRAILING_LETTERS = re.compile(rf"\(\s*({_LETTER}(?:(?:{_ALTERNATIVE}|{_JOIN}){_LETTER})*)\s*\)\s*(?:です|である)?\s*[。.]?\s*$")
_BAD_TAIL = re.compile(r"^\s*(?!(?:is|are)\b)[a-z]")
_ONLY_TAIL = re.compile(r"^\s*(?:です|である|だ)?\s*[。.!]?\s*$")
# "c ではなく d" names c only to deny it ("c ではないか", a guess that it is c, is not a denial)
_NEGATED = re.compile(r"^\s*(?:では|じゃ)な(?:く|い(?!か))")
_EITHER = re.compile(r"^\s*の?\s*(?:いずれか|どちらか|どれか)")  # "c, d のいずれか": one of them, a hedge


@dataclass(frozen=True)
class Extraction:
    """The final answer read from a response: `value` is normalised ("a,c", "21") and set only when status is ok."""

    value: str | None
    letters: tuple[str, ...]
    status: Status

    @property
    def ok(self) -> bool:
        return self.status == "ok"


UNPARSEABLE = Extraction(None, (), "unparseable")


@dataclass(frozen=True)
class _Reading:
    value: str
    letters: tuple[str, ...]
    hedged: bool


def extract_answer(text: str, question: Question | None = None) -> Extraction:
    """Read the final answer of `text`: the last labelled answer line ("答え: c"); failing that the last answer
    statement in prose ("正解はcである"); failing that a response that is nothing but the answer ("c")."""
    kind: Kind | None = question.answer_kind if question is not None else None
    candidates = _select(text, _STARTS_WITH_KEYWORD.match)
    labelled = read_labelled(candidates, kind) if candidates else None
    if labelled is not None:
        return labelled
    lines = _select(text, _HAS_KEYWORD.search)
    return read_prose(lines, kind) if lines else read_bare(text, kind)


def labelled_lines(text: str) -> str:
    """Joined matches of LABELLED_LINES in `text` (what polars extracts for `read_labelled`)."""
    return _select(text, _STARTS_WITH_KEYWORD.match)


def answer_lines(text: str) -> str:
    """Joined matches of ANSWER_LINES in `text` (what polars extracts for `read_prose`)."""
    return _select(text, _HAS_KEYWORD.search)


def _select(text: str, test) -> str:
    """Each line passing `test` with its next line, joined: the same as joining `re.findall` of the patterns above,
    without the quadratic backtracking of `[^\n]*` in Python's engine."""
    lines = text.split("\n")
    chunks = []
    index = 0
    while index < len(lines):
        if test(lines[index]):
            chunks.append("\n".join(lines[index : index + 2]))
            index += 2
        else:
            index += 1
    return "\n".join(chunks)


@lru_cache(maxsize=1 << 16)
def read_labelled(candidates: str, kind: Kind | None) -> Extraction | None:
    """The answer from labelled lines among `labelled_lines(text)`; None when none is labelled (a prose line that
    merely starts with a keyword, "正解はcである"). Two labelled lines naming different answers are ambiguous."""
    raw = candidates.split("\n")
    rows = _normalise(candidates).split("\n")
    readings = [
        _read_line(line, rows[i + 1] if i + 1 < len(rows) else "", kind)
        for i, line in enumerate(rows)
        if _STARTS_WITH_KEYWORD.match(raw[i]) and _LABELLED.match(line)
    ]
    if not readings:
        return None
    return _final(readings[-1], {r.value for r in readings if r is not None})


@lru_cache(maxsize=1 << 16)
def read_prose(lines: str, kind: Kind | None) -> Extraction:
    """The last answer statement in `answer_lines(text)` of a text without labelled lines."""
    rows = _normalise(lines).split("\n")
    for i in range(len(rows) - 1, -1, -1):
        reading = _read_line(rows[i], rows[i + 1] if i + 1 < len(rows) else "", kind)
        if reading is not None:
            return _final(reading, {reading.value})
    return UNPARSEABLE


@lru_cache(maxsize=1 << 12)
def read_bare(text: str, kind: Kind | None) -> Extraction:
    """A response with no answer keyword counts only if it is nothing but the answer ("c", "**a, c**")."""
    if len(text) > BARE_MAX_CHARS:
        return UNPARSEABLE
    reading = _read_body(_normalise(text).strip(), kind, whole=True)
    return _final(reading, {reading.value}) if reading is not None else UNPARSEABLE


def _final(reading: _Reading | None, values: set[str]) -> Extraction:
    if reading is None:
        return UNPARSEABLE
    if reading.hedged or len(values) > 1:
        return Extraction(None, reading.letters, "ambiguous")
    return Extraction(reading.value, reading.letters, "ok")


def _normalise(text: str) -> str:
    # "\r" becomes a space, not a line break: line i of the result must be line i of the raw text
    text = unicodedata.normalize("NFKC", _CIRCLED.sub(_BOX, text)).replace("\r", " ").lower()
    return _BOXED.sub(r"\1", text)


def _read_line(line: str, following: str, kind: Kind | None) -> _Reading | None:
    """The last statement in the line whose body reads as an answer ("Answer: the answer is c" gives c)."""
    result = None
    for match in _STATEMENT.finditer(line):
        body = line[match.end() :].split("。", 1)[0]  # a statement ends with its sentence
        if not body.strip(_DECORATION_CHARS):
            body = following.split("。", 1)[0]  # "答え:" with the answer on the next line
        reading = _read_body(body, kind, whole=False)
        if reading is not None:
            result = reading
    return result


def _read_body(body: str, kind: Kind | None, *, whole: bool) -> _Reading | None:
    """Parse what follows an answer keyword; `whole` requires nothing but the answer (bare responses)."""
    text = _PREFIX.sub("", _DECORATION.sub(" ", body)).strip()
    if kind != "numeric":
        match = _LETTER_LIST.match(text) or _LETTER_RUN.match(text)
        if match:
            rest = text[match.end() :]
            if _NEGATED.match(rest) or not _tail_ok(rest, whole):
                return None
            reading = _letters(match.group(0))
            return _Reading(reading.value, reading.letters, True) if _EITHER.match(rest) else reading
        trailing = None if whole else _TRAILING_LETTERS.search(body)  # "答え: 肺炎球菌 (c)"
        if trailing:
            return _letters(trailing.group(1))
    if kind != "choice":
        return _number(text, whole)
    return None


def _number(text: str, whole: bool) -> _Reading | None:
    """A number with an optional unit ("12 ml"); several different numbers ("12と13", "12 or 13") are a hedge."""
    boxes = _BOX_DIGITS.match(text)
    if boxes:  # the boxes' digits in order are the slot digits
        digits = re.sub(r"[^0-9]", "", boxes.group(0))
        return _Reading(str(int(digits)), (), False) if _tail_ok(_skip_unit(text[boxes.end() :]), whole) else None
    text = _BOX_TEMPLATE.sub("", text)
    match = _NUMBER.match(text)
    if not match:
        return None
    values = [canonical_number(match.group(0))]
    rest = _skip_unit(text[match.end() :])
    while (separator := _NEXT_NUMBER.match(rest)) and (match := _NUMBER.match(rest, separator.end())):
        values.append(canonical_number(match.group(0)))
        rest = _skip_unit(rest[match.end() :])
    if values[0] is None or _NEGATED.match(rest) or not _tail_ok(rest, whole):
        return None
    return _Reading(values[0], (), len(set(values)) > 1 or bool(_EITHER.match(rest)))


def canonical_number(written: str) -> str | None:
    """A written number as compared: thousands commas and leading zeros dropped, trailing decimal zeros dropped
    ("52.90" -> "52.9"), but a written decimal point kept ("6.0" stays "6.0": it is not the slot digits "60")."""
    plain = written.replace(",", "")
    if plain.count(".") > 1:
        return None  # "1.2.3" is not a number
    value = Decimal(plain)
    if value == value.to_integral_value():
        return f"{int(value)}.0" if "." in plain else str(int(value))
    return format(value.normalize(), "f")


def slot_layout(stem: str) -> tuple[int, int] | None:
    """(integer slots, decimal slots) of a numeric question's answer boxes, from its stem: "解答: ①②.③" -> (2, 1)."""
    found = _SLOTS.findall(stem)
    if not found:
        return None
    whole, decimals = found[-1]
    return len(whole), len(decimals)


def numeric_accepted(digits: str, layout: tuple[int, int] | None) -> list[str]:
    """The canonical numbers graded correct for slot digits `digits` ("529") in boxes `layout` ((2, 1): 52.9):
    the slot digits themselves (how the exam asks for it) and the number they make, written with or without its
    decimal part when that is zero. Without a decimal box the digits are a whole number ("60", or "60.0")."""
    values = [canonical_number(digits)]
    if layout and layout[1] and len(digits) == sum(layout):
        number = f"{digits[: layout[0]]}.{digits[layout[0] :]}"
        values.append(canonical_number(number))
        value = Decimal(number)
        if value == value.to_integral_value():
            values.append(str(int(value)))  # 3.0 written as 3
    else:
        values.append(canonical_number(f"{digits}.0"))
    return [value for value in dict.fromkeys(values) if value is not None]


def _skip_unit(rest: str) -> str:
    unit = _UNIT.match(rest)
    return rest[unit.end() :] if unit else rest


def _tail_ok(rest: str, whole: bool) -> bool:
    return bool(_ONLY_TAIL.match(rest)) if whole else not _BAD_TAIL.match(rest)


def _letters(span: str) -> _Reading:
    letters = tuple(sorted(set(_SINGLE_LETTER.findall(span)))) or tuple(span)  # nothing single in a run ("ac")
    return _Reading(",".join(letters), letters, bool(_HEDGED.search(span)))


def normalize_value(value: str, kind: Kind | None = None) -> str | None:
    """A written answer ("C, A", "ｃ", "2.10") in normalised form ("a,c", "c", "2.1"); None if it is not one answer."""
    reading = _read_body(_normalise(value).strip(), kind, whole=True)
    return None if reading is None or reading.hedged else reading.value


def accepted_values(question: Question) -> list[str]:
    """Every normalised answer graded correct for `question` (per accepted answer set; a numeric one in each of the
    forms `numeric_accepted` allows)."""
    values = []
    layout = slot_layout(question.stem) if question.answer_kind == "numeric" else None
    for option in question.accepted:
        if question.answer_kind == "numeric":
            digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", "".join(option)))
            values.extend(numeric_accepted(digits, layout) if digits else [])
        else:
            values.append(",".join(sorted({unicodedata.normalize("NFKC", x).strip().lower() for x in option})))
    return values


def grade(extraction_or_value: Extraction | str | None, question: Question) -> bool:
    """True when the answer equals one accepted answer set exactly (no more, no fewer letters); never when unread."""
    if isinstance(extraction_or_value, Extraction):
        value = extraction_or_value.value if extraction_or_value.ok else None
    elif extraction_or_value is not None:
        value = normalize_value(extraction_or_value, question.answer_kind)
    else:
        value = None
    return value is not None and value in accepted_values(question)
