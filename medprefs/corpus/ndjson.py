"""Bulk JSONL reading: polars parses blocks of lines under a strict schema, and cheap per-line checks prove which rows
hold exactly what Python's json would read; the fast path takes those, every other line is read again one by one."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl

BLOCK_BYTES = 8 << 20  # lines are read a block at a time: memory holds a block, not the file
RETRY_LINES = 512  # a block polars cannot parse is retried in pieces this long, so one bad line costs only its piece
_BOM = b"\xef\xbb\xbf"
Block = tuple[Sequence[int], list[bytes], bytes]  # line numbers, lines without their newline, lines joined by "\n"

# Under String, polars reads a number or a list as its JSON text, so text fields are checked by _NOT_TEXT below;
# list items are read as Categorical, which refuses anything but a string. Int64 and Boolean refuse other types.
_SCHEMA = {
    "qid": pl.String,
    "year": pl.Int64,
    "exam": pl.Int64,
    "stem": pl.String,
    "choices": pl.List(pl.Categorical),
    "answer": pl.List(pl.Categorical),
    "points": pl.Int64,
    "explanation": pl.String,
    "has_image": pl.Boolean,
}
# A real key: a quote after `{`, `,` or whitespace (inside a string every quote follows a backslash), the name, a
# quote and a colon. `source` is a canonical field no reader looks at.
_NAMES = [*_SCHEMA, "source"]
_KEY = r'[{,\s]"(?:' + "|".join(_NAMES) + r')"\s*:'
_ANY_KEY_END = r'"\s*:'  # matches wherever a key ends, and perhaps inside a string too
_REPEATED = "|".join(rf'[{{,\s]"{name}"\s*:.*[{{,\s]"{name}"\s*:' for name in _NAMES)
_NOT_TEXT = r'[{,\s]"(?:qid|stem|explanation)"\s*:\s*[^"n\s]'  # a text field holding neither a string nor null
_SURROGATE = r"\\u[dD][89a-fA-F]"  # polars reads an unpaired one as NUL; Python keeps it (and rejects the row)
_DOUBTFUL = f"{_REPEATED}|{_NOT_TEXT}|{_SURROGATE}"
_SPACE = b"\n \t\r\x0b\x0c"  # what bytes.isspace() counts; a blank line starts with one of these
_SPACE_AFTER_NEWLINE = re.compile(b"\n[" + re.escape(_SPACE) + b"]")


def line_blocks(path: Path) -> Iterator[Block]:
    """(line numbers, lines without their newline, the lines joined by newlines) of the non-blank lines of `path`,
    a block at a time."""
    number, rest = 1, b""
    with open(path, "rb") as handle:
        chunk = handle.read(BLOCK_BYTES).removeprefix(_BOM)
        while chunk:
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            if cut:
                yield _non_blank(number, data[: cut - 1])
                number += data.count(b"\n", 0, cut)
            chunk = handle.read(BLOCK_BYTES)
    if rest:
        yield _non_blank(number, rest)


def _may_have_blank_lines(block: bytes) -> bool:
    return not block or block[0] in _SPACE or _SPACE_AFTER_NEWLINE.search(block) is not None


def _non_blank(first: int, block: bytes) -> Block:
    lines = block.split(b"\n")
    if not _may_have_blank_lines(block):  # the usual case, known without a Python loop over the lines
        return range(first, first + len(lines)), lines, block
    kept = [(number, line) for number, line in enumerate(lines, first) if line and not line.isspace()]
    lines = [line for _, line in kept]
    return [number for number, _ in kept], lines, b"\n".join(lines)


def _proven(lines: pl.Series) -> pl.Series:
    """Lines whose keys are all plain fields, each once and spelled without escapes, whose text fields hold strings
    (or null) and which have no surrogate escape: for these, polars' values are exactly json.loads' values.

    `_ANY_KEY_END` counts every key and perhaps more, `_KEY` only keys with a plain name spelled out, so equal
    counts leave no room for another key (an unknown one, or a plain name written with an escape, which polars
    decodes). A repeated key is refused because polars keeps the first copy and json the last."""
    return (lines.str.count_matches(_ANY_KEY_END) == lines.str.count_matches(_KEY)) & ~lines.str.contains(_DOUBTFUL)


def _plain_values() -> pl.Expr:
    """Values the column-wise path can take: required fields given, no null list items, integers int64 can hold
    after arithmetic (anything else goes to the validator, which words the reject)."""
    required = pl.any_horizontal(pl.col("qid", "year", "stem", "choices", "answer").is_null())
    null_items = pl.any_horizontal(pl.col("choices", "answer").list.eval(pl.element().is_null()).list.any())
    too_big = pl.any_horizontal(pl.col("year", "exam", "points").abs() >= 2**62)
    return ~(required | null_items.fill_null(False) | too_big.fill_null(False))


def _parse(lines: list[bytes], data: bytes, first: int) -> pl.DataFrame | None:
    """The lines (`data`: joined by newlines) as typed columns, `__pos` (first = the position of lines[0]) and `__ok`;
    None when polars cannot read every line (malformed JSON or UTF-8, a wrong type, a non-object)."""
    try:
        frame = pl.read_ndjson(data, schema=_SCHEMA)
        text = pl.Series(lines, dtype=pl.Binary).cast(pl.String)
    except Exception:  # polars raises several error types for one bad line; the per-line reader words it
        return None
    if frame.height != len(lines):  # a line polars skipped or split differently: positions would not match
        return None
    return frame.select(
        pl.exclude("choices", "answer"),
        pl.col("choices", "answer").cast(pl.List(pl.String)),
        __pos=pl.int_range(first, first + len(lines), dtype=pl.Int64),
        __ok=_plain_values() & _proven(text),
    )


def tabulate_lines(lines: list[bytes], data: bytes) -> tuple[pl.DataFrame, set[int]]:
    """Like `fastpath.tabulate` for raw JSONL lines (`data`: joined by newlines): (typed plain columns with `__pos`,
    positions not proven plain)."""
    frame = _parse(lines, data, 0)
    if frame is None:
        frame = _parse_pieces(lines)
    unread = set(range(len(lines))).difference(frame["__pos"].to_list()) if frame.height < len(lines) else set()
    return frame.drop("__ok"), unread | set(frame.filter(~pl.col("__ok")).get_column("__pos").to_list())


def _parse_pieces(lines: list[bytes]) -> pl.DataFrame:
    """The pieces of `lines` polars can read, so one bad line sends only its piece to the per-line reader."""
    pieces = (lines[start : start + RETRY_LINES] for start in range(0, len(lines), RETRY_LINES))
    parsed = (_parse(piece, b"\n".join(piece), n * RETRY_LINES) for n, piece in enumerate(pieces))
    frames = [frame for frame in parsed if frame is not None]
    lists = {"choices": pl.List(pl.String), "answer": pl.List(pl.String)}
    schema = {**_SCHEMA, **lists, "__pos": pl.Int64(), "__ok": pl.Boolean()}
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)
