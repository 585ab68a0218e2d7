"""The column-wise ingest path: rows that are already plain are checked and normalised by polars in bulk; any other
row goes to the per-row validator (validate.py), which stays the reference. The fast path never rejects a row."""

from __future__ import annotations

import itertools
from operator import itemgetter
from typing import Any

import polars as pl
import pyarrow as pa

from medprefs.corpus.content import CONTENT_FIELDS, string_lists
from medprefs.corpus.normalize import normalize_list_series, normalize_series
from medprefs.corpus.question import FIRST_EXAM_YEAR_OFFSET, LETTERS
from medprefs.corpus.validate import MAX_CHOICES, MAX_POINTS, YEARS

# Field -> the Python types a plain row has there. Anything else (a digit string for a year, a null stem) is left to
# the validator, which accepts it with the same result or rejects it with a reason.
_SCALARS: dict[str, tuple[type, ...]] = {
    "qid": (str,),
    "year": (int,),
    "exam": (int, type(None)),
    "stem": (str,),
    "points": (int, type(None)),
    "explanation": (str, type(None)),
    "has_image": (bool, type(None)),
}
_LISTS = ("choices", "answer")
# Fields a plain row leaves out; where any is given, the validator decides what it means.
_ELSEWHERE = (
    "answer_kind",
    "accepted",
    "category",
    "prohibited",
    "original_stem",
    "original_choices",
    "original_explanation",
)
_DTYPES = {"qid": pl.String, "stem": pl.String, "explanation": pl.String}
_DTYPES |= {"year": pl.Int64, "exam": pl.Int64, "points": pl.Int64, "has_image": pl.Boolean}
_PLAIN_QID = r"^[0-9A-Za-z][0-9A-Za-z_.\-]*$"  # nothing for NFKC or strip to change
_JMLE_QID = r"^(\d{2,3})[A-Za-z]+\d+$"


def _odd_rows(values: list[Any], allowed: tuple[type, ...]) -> set[int]:
    if set(map(type, values)) <= set(allowed):  # one C-level pass; the row loop below runs only when needed
        return set()
    return {position for position, value in enumerate(values) if type(value) not in allowed}


def _odd_lists(values: list[Any]) -> set[int]:
    odd = _odd_rows(values, (list,))
    items = itertools.chain.from_iterable(value for value in values if type(value) is list)
    if set(map(type, items)) <= {str}:
        return odd
    return odd | {i for i, value in enumerate(values) if type(value) is list and set(map(type, value)) - {str}}


def _column(rows: list[dict[str, Any]], name: str) -> list[Any]:
    try:
        return list(map(itemgetter(name), rows))  # C-level when every row has the key, the usual case
    except KeyError:
        return [row.get(name) for row in rows]


def _keys(rows: list[dict[str, Any]]) -> set[str]:
    return set(itertools.chain.from_iterable(rows))


def tabulate(rows: list[dict[str, Any]]) -> tuple[pl.DataFrame, set[int]]:
    """The plain fields of `rows` as typed columns (with `__pos`), and the positions of rows that are not plain."""
    keys = _keys(rows)
    columns = {name: _column(rows, name) if name in keys else [None] * len(rows) for name in [*_SCALARS, *_LISTS]}
    odd: set[int] = set()
    for name, allowed in _SCALARS.items():
        odd |= _odd_rows(columns[name], allowed)
    for name in _LISTS:
        odd |= _odd_lists(columns[name])
    for name in keys.intersection(_ELSEWHERE):
        odd |= {position for position, row in enumerate(rows) if row.get(name) is not None}
    for name in ("year", "exam", "points"):  # beyond int64 cannot be stored; the validator rejects such values
        odd |= {i for i, value in enumerate(columns[name]) if type(value) is int and not -(2**62) < value < 2**62}
    series = []
    for name, values in columns.items():
        if odd:
            values = [None if position in odd else value for position, value in enumerate(values)]
        if name in _LISTS:
            series.append(string_lists([value or [] for value in values], name))
        else:
            series.append(pl.Series(name, values, dtype=_DTYPES[name]))
    return pl.DataFrame(series).with_row_index("__pos").with_columns(pl.col("__pos").cast(pl.Int64)), odd


def _plain(n_choices: pl.Expr, exam: pl.Expr) -> pl.Expr:
    """Rows whose validation is a no-op apart from text normalisation (mirrors validate.parse_row's checks)."""
    answer = pl.col("answer")
    letters_ok = (
        answer.list.eval(pl.element().str.contains("^[a-z]$")).list.all()
        & (answer == answer.list.sort())
        & (answer.list.n_unique() == answer.list.len())
        & (answer.list.max() < pl.lit(LETTERS + "{").str.slice(n_choices, 1))
    )
    numeric_ok = (answer.list.len() == 1) & answer.list.first().str.contains("^[0-9]+$")
    qid_exam = pl.col("qid").str.extract(_JMLE_QID, 1).cast(pl.Int64)
    return (
        pl.col("qid").str.contains(_PLAIN_QID)
        & pl.col("year").is_between(YEARS.start, YEARS.stop - 1)
        & (pl.col("exam").is_null() | qid_exam.is_null() | (pl.col("exam") == qid_exam))
        & (exam + FIRST_EXAM_YEAR_OFFSET == pl.col("year"))
        & ((n_choices == 0) | n_choices.is_between(2, MAX_CHOICES))
        & (answer.list.len() >= 1)
        & pl.when(n_choices == 0).then(numeric_ok).otherwise(letters_ok)
        & (pl.col("points").is_null() | pl.col("points").is_between(0, MAX_POINTS))
    )


def _wrap(lists: pl.Series) -> pl.Series:
    """[["a"], ["b", "c"]] -> [[["a"]], [["b", "c"]]]: each answer as the only accepted option."""
    array = lists.rechunk().to_arrow().cast(pa.large_list(pa.large_string()))
    offsets = pl.int_range(len(array) + 1, dtype=pl.Int64, eager=True).to_arrow()
    return pl.Series("accepted", pa.LargeListArray.from_arrays(offsets, array)).cast(pl.List(pl.List(pl.String)))


def _filtered(frame: pl.DataFrame, predicate: pl.Expr) -> pl.DataFrame:
    """`frame.filter(predicate)`, without copying every column when every row passes (the usual case)."""
    mask = frame.select(predicate).to_series()
    return frame if mask.all() else frame.filter(mask)


def accept_plain(rows: list[dict[str, Any]]) -> tuple[pl.DataFrame, list[int]]:
    """(normalised CONTENT_FIELDS rows with `__pos`, positions left for the validator) for canonical-keyed dicts."""
    frame, odd = tabulate(rows)
    return accept_table(frame, odd, len(rows))


def accept_table(frame: pl.DataFrame, odd: set[int], n_rows: int) -> tuple[pl.DataFrame, list[int]]:
    """`accept_plain` after `tabulate`: polars work only, which releases the GIL (it can overlap with parsing)."""
    n_choices = pl.col("choices").list.len()
    exam = pl.coalesce(
        pl.col("exam"),
        pl.col("qid").str.extract(_JMLE_QID, 1).cast(pl.Int64),
        pl.col("year") - FIRST_EXAM_YEAR_OFFSET,
    )
    plain = frame.with_columns(exam=exam)
    wanted = _plain(n_choices, pl.col("exam")).fill_null(False)
    plain = _filtered(plain, (~pl.col("__pos").is_in(sorted(odd)) & wanted) if odd else wanted)
    stem = normalize_series(plain.get_column("stem"))
    choices = normalize_list_series(plain.get_column("choices"))
    explanation = normalize_series(plain.get_column("explanation"))
    result = plain.select(
        "__pos",
        "qid",
        "year",
        stem=stem,
        choices=choices,
        answer="answer",
        answer_kind=pl.when(n_choices == 0).then(pl.lit("numeric")).otherwise(pl.lit("choice")),
        accepted=_wrap(plain.get_column("answer")),
        points=pl.col("points").fill_null(1),
        explanation=pl.when(explanation == "").then(None).otherwise(explanation),
        exam="exam",
        has_image=pl.col("has_image").fill_null(False),
        category=pl.lit(None, pl.String),
        prohibited=pl.lit([], pl.List(pl.String)),
        original_stem="stem",
        original_choices="choices",
        original_explanation="explanation",
    )
    # Text that normalises to nothing is rejected by the validator, with its reason.
    result = _filtered(result, (pl.col("stem") != "") & ~pl.col("choices").list.contains(""))
    slow = sorted(set(range(n_rows)) - set(result.get_column("__pos").to_list()))
    return result.select("__pos", *CONTENT_FIELDS), slow
