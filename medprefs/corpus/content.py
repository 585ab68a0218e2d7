"""The content of a corpus version: frames built from Python columns, the canonical row key, the content hash, counts."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

import polars as pl
import pyarrow as pa

from medprefs.corpus.question import QUESTION_SCHEMA
from medprefs.corpus.threads import ordered_map

# Bump when the canonical form below changes; a manifest records the spec its id was computed with.
HASH_SPEC = "medprefs-corpus/1"
_HASH_SLICE = 16384
ID_LENGTH = 16  # hex digits of the sha256 used as the version id (64 bits: no collisions at corpus-history scale)

# Every stored column except `source`: where a row was read from is provenance, not content, so another file layout
# with the same questions gives the same id. The original (pre-normalisation) text IS content: a version id must
# name exactly one stored table, and two inputs that normalise alike but differ in their originals store differently.
CONTENT_FIELDS = (
    "qid",
    "year",
    "stem",
    "choices",
    "answer",
    "answer_kind",
    "accepted",
    "points",
    "explanation",
    "exam",
    "has_image",
    "category",
    "prohibited",
    "original_stem",
    "original_choices",
    "original_explanation",
)
LIST_FIELDS = ("choices", "answer", "prohibited", "original_choices")
CONTENT_SCHEMA = {name: QUESTION_SCHEMA[name] for name in CONTENT_FIELDS}


def encode_value(value: Any) -> str:
    """The canonical, self-delimiting text of one value (the reference spec for `frame_keys`):
    None `n`, bool `t`/`f`, int `i<digits>;`, str `s<length in code points>:<text>`, list `l<count>:<items>`."""
    if value is None:
        return "n"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return f"i{value};"
    if isinstance(value, str):
        return f"s{len(value)}:{value}"
    return f"l{len(value)}:" + "".join(encode_value(item) for item in value)


def row_key(values: tuple[Any, ...] | list[Any]) -> str:
    """One question's content (values in CONTENT_FIELDS order) as its canonical key."""
    return "".join(encode_value(value) for value in values)


def _text_key(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.is_null()).then(pl.lit("n")).otherwise(pl.format("s{}:{}", expr.str.len_chars(), expr))


def _key_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if dtype == pl.String():
        return _text_key(column)
    if dtype == pl.Int64():
        return pl.when(column.is_null()).then(pl.lit("n")).otherwise(pl.format("i{};", column))
    if dtype == pl.Boolean():
        return pl.when(column.is_null()).then(pl.lit("n")).when(column).then(pl.lit("t")).otherwise(pl.lit("f"))
    if dtype == pl.List(pl.String()):
        items = column.list.eval(_text_key(pl.element())).list.join("")
        return pl.format("l{}:{}", column.list.len(), items)
    inner = pl.format("l{}:{}", pl.element().list.len(), pl.element().list.eval(_text_key(pl.element())).list.join(""))
    return pl.format("l{}:{}", column.list.len(), column.list.eval(inner).list.join(""))


def frame_keys(frame: pl.DataFrame) -> pl.Series:
    """`row_key` of every row, computed by polars (tests hold the two equal)."""
    exprs = [_key_expr(name, dtype) for name, dtype in CONTENT_SCHEMA.items()]
    return frame.select(pl.concat_str(exprs).alias("key")).get_column("key")


def _hash_keys(digest: Any, keys: pl.Series) -> None:
    """Feed the keys' UTF-8 to `digest` from arrow's contiguous buffer: no Python string per key."""
    if keys.len():
        array = keys.rechunk().to_arrow().cast(pa.large_string())
        offsets = memoryview(array.buffers()[1]).cast("q")
        start, end = offsets[array.offset], offsets[array.offset + len(array)]
        digest.update(memoryview(array.buffers()[2])[start:end])


def frame_sha256(frame: pl.DataFrame) -> str:
    """sha256 of HASH_SPEC and the row keys in qid order (keys are self-delimiting), so input order and layout do
    not matter: `sha256(f"{HASH_SPEC}\\n" + "".join(row_key(row) for row in rows sorted by qid))`. Keys are made a
    slice at a time (all at once they take as much memory as the corpus itself), slices in parallel."""
    ordered = frame if frame.get_column("qid").is_sorted() else frame.sort("qid")
    digest = hashlib.sha256(f"{HASH_SPEC}\n".encode())
    slices = (ordered.slice(offset, _HASH_SLICE) for offset in range(0, ordered.height, _HASH_SLICE))
    for keys in ordered_map(frame_keys, slices):
        _hash_keys(digest, keys)
    return digest.hexdigest()


def version_id(sha256: str) -> str:
    return sha256[:ID_LENGTH]


def _offsets(lengths: list[int]) -> pa.Array:
    return pl.Series(list(itertools.accumulate(lengths, initial=0)), dtype=pl.Int64).to_arrow()


def _string_list_array(values: list[list[str]]) -> pa.Array:
    flat = pl.Series(list(itertools.chain.from_iterable(values)), dtype=pl.String).to_arrow()
    return pa.LargeListArray.from_arrays(_offsets(list(map(len, values))), flat.cast(pa.large_string()))


# Columns are built through polars Series and arrow offsets: polars builds nested columns from Python objects ~10x
# slower, and pyarrow's own converter imports pandas (~1 s) on first use.
def string_lists(values: list[list[str]], name: str = "") -> pl.Series:
    """A list<string> Series from Python lists of strings."""
    return pl.Series(name, _string_list_array(values)).cast(pl.List(pl.String))


def nested_string_lists(values: list[list[list[str]]], name: str = "") -> pl.Series:
    inner = _string_list_array(list(itertools.chain.from_iterable(values)))
    outer = pa.LargeListArray.from_arrays(_offsets(list(map(len, values))), inner)
    return pl.Series(name, outer).cast(pl.List(pl.List(pl.String)))


def build_frame(columns: dict[str, list[Any]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """A frame with `schema` from one Python list per column."""
    series = []
    for name, dtype in schema.items():
        if dtype == pl.List(pl.String()):
            series.append(string_lists(columns[name], name))
        elif dtype == pl.List(pl.List(pl.String())):
            series.append(nested_string_lists(columns[name], name))
        else:
            series.append(pl.Series(name, columns[name], dtype=dtype))
    return pl.DataFrame(series)


def counts(frame: pl.DataFrame) -> dict[str, Any]:
    """What a manifest says about a version: rows per year, per answer kind and per answer shape."""
    per_year = {str(year): n for year, n in sorted(frame.group_by("year").len().iter_rows())}
    per_kind = {kind: n for kind, n in sorted(frame.group_by("answer_kind").len().iter_rows())}
    shapes = frame.select(
        single=((pl.col("answer_kind") == "choice") & (pl.col("answer").list.len() == 1)).sum(),
        multiple=((pl.col("answer_kind") == "choice") & (pl.col("answer").list.len() > 1)).sum(),
        alternatives=(pl.col("accepted").list.len() > 1).sum(),
        excluded=(pl.col("points") == 0).sum(),
        with_image=pl.col("has_image").sum(),
        with_explanation=pl.col("explanation").is_not_null().sum(),
    ).row(0, named=True)
    shapes = {name: int(value or 0) for name, value in shapes.items()}
    return {"rows": frame.height, "per_year": per_year, "per_answer_kind": per_kind, **shapes}
