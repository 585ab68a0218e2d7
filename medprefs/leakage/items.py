"""Training items the guard accepts: exam questions, or plain passages of text (CPT documents, explanation books)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medprefs.corpus.question import Question
from medprefs.errors import InputError, MedprefsError
from medprefs.leakage.index import question_segments


@dataclass(frozen=True)
class Passage:
    """A training text that is not an exam item; checked by content, and by year only when it has one."""

    pid: str
    text: str
    year: int | None = None


TrainItem = Question | Passage


def item_id(item: TrainItem) -> str:
    return item.qid if isinstance(item, Question) else item.pid


class TrainSet:
    """Training material as the scan sees it. A plain list of strings stays as it is (a million passages must not
    become a million objects); ids are then `p0`, `p1`, ... by position."""

    def __init__(self, train: Sequence[Question | Passage | str]):
        self.raw = train if isinstance(train, list) else list(train)
        self.plain = all(isinstance(item, str) for item in self.raw)
        if not self.plain:
            for position, item in enumerate(self.raw):
                if not isinstance(item, Question | Passage):
                    kind = type(item).__name__
                    raise MedprefsError(f"training item {position}: expected a Question, Passage or str, got {kind}")
            self._check_ids()

    def _check_ids(self) -> None:
        counts = Counter(item_id(item) for item in self.raw)  # type: ignore[arg-type]
        repeated = sorted(i for i, n in counts.items() if n > 1)
        if repeated:
            raise MedprefsError(f"training items: duplicate ids {', '.join(repeated[:5])}")

    def __len__(self) -> int:
        return len(self.raw)

    def item(self, position: int) -> TrainItem:
        raw = self.raw[position]
        return Passage(f"p{position}", raw) if isinstance(raw, str) else raw

    def items(self) -> list[TrainItem]:
        return [self.item(position) for position in range(len(self.raw))]

    def find(self, ids: set[str]) -> dict[str, TrainItem]:
        """The items with these ids."""
        if self.plain:
            return {i: self.item(int(i[1:])) for i in ids}
        return {item_id(item): item for item in self.raw if item_id(item) in ids}  # type: ignore[arg-type]

    def count(self, kind: type) -> int:
        if self.plain:
            return len(self.raw) if kind is Passage else 0
        return sum(isinstance(item, kind) for item in self.raw)

    def chars(self) -> np.ndarray:
        if self.plain:
            return np.fromiter(map(len, self.raw), dtype=np.int64, count=len(self.raw))
        return np.fromiter((sum(map(len, segments(self.item(i)))) for i in range(len(self))), np.int64, len(self))

    def segments(self, start: int, stop: int) -> tuple[list[str], np.ndarray]:
        """Every segment of items [start, stop) and the (range-local) item each belongs to: the matcher's input."""
        if self.plain:
            return list(self.raw[start:stop]), np.arange(stop - start)  # type: ignore[arg-type]
        parts = [segments(self.item(position)) for position in range(start, stop)]
        owner = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
        return [text for part in parts for text in part], owner


def segments(item: TrainItem) -> list[str]:
    """All the text of a training item: a question's stem, choices and explanation (explanations quote questions)."""
    return question_segments(item, with_explanation=True) if isinstance(item, Question) else [item.text]


def read_passages(path: str | Path) -> list[Passage]:
    """Passages from a text file (blank-line separated) or JSONL (`text`, optional `id`/`year` per line)."""
    path = Path(path)
    if not path.is_file():
        raise MedprefsError(f"{path}: file not found")
    data = path.read_bytes()
    try:
        raw = data.decode("utf-8-sig")  # a BOM is allowed, as the corpus readers allow it
    except UnicodeDecodeError as error:
        where = {"file": str(path), "line": data.count(b"\n", 0, error.start) + 1}
        raise InputError(f"not valid UTF-8 ({error.reason} at byte {error.start})", **where) from None
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    if path.suffix.lower() not in (".jsonl", ".json"):
        blocks = [block.strip() for block in raw.split("\n\n")]
        return [Passage(f"{path.name}#{i}", block) for i, block in enumerate(b for b in blocks if b)]
    passages = []
    for number, line in enumerate(raw.split("\n"), start=1):  # not splitlines: U+2028 may sit inside a JSON string
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as error:  # also: a 5000-digit number, nesting 1000 levels deep
            reason = error.msg if isinstance(error, json.JSONDecodeError) else str(error)[:120] or type(error).__name__
            raise InputError(f"invalid JSON: {reason}", file=str(path), line=number) from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise InputError("expected an object with a string 'text'", file=str(path), line=number, field="text")
        year = row.get("year")
        if year is not None and (not isinstance(year, int) or isinstance(year, bool)):
            raise InputError(f"expected an integer year, got {year!r}", file=str(path), line=number, field="year")
        passages.append(Passage(str(row.get("id", f"{path.name}:{number}")), row["text"], year))
    return passages
