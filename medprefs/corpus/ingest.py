"""The corpus stage's entry points: ingest files into a stored version, and load questions from a ref or a path."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medprefs.console import announce
from medprefs.corpus.question import Question
from medprefs.corpus.readers import FORMATS
from medprefs.corpus.reading import read_questions
from medprefs.corpus.store import CorpusStore, check_name, load_corpus
from medprefs.corpus.validate import CANONICAL_FIELDS
from medprefs.corpus.versions import save_version, write_rejects
from medprefs.errors import MedprefsError, require

IngestFormat = Literal["auto", "igakuqa", "jsonl", "csv", "parquet"]
_MAPPABLE = sorted(CANONICAL_FIELDS - {"source"})


@dataclass
class IngestConfig:
    """The `[corpus]` section of a pipeline: what to read and where to store it."""

    paths: list[str] = field(default_factory=list)  # files or folders; empty = the embedded sample corpus
    format: IngestFormat = "auto"
    name: str = "jmle"
    tag: str | None = None
    store: str = "corpora"
    strict: bool = False  # any rejected row is an error and nothing is stored
    column_map: dict[str, str] = field(default_factory=dict)  # source column -> canonical field

    def __post_init__(self) -> None:
        require(self.format in FORMATS, f"corpus.format {self.format!r}: choose one of {', '.join(FORMATS)}")
        check_name(self.name, "corpus.name")
        if self.tag is not None:
            check_name(self.tag, "corpus.tag")
        require(bool(self.store), "corpus.store: give a folder")
        require(all(isinstance(path, str) and path for path in self.paths), "corpus.paths: expected file/folder paths")
        for source, target in self.column_map.items():
            require(
                isinstance(source, str) and target in _MAPPABLE,
                f"corpus.column_map {source!r} -> {target!r}: the target must be one of {', '.join(_MAPPABLE)}",
            )
        targets = list(self.column_map.values())
        duplicated = sorted({target for target in targets if targets.count(target) > 1})
        require(not duplicated, f"corpus.column_map: several columns map onto {', '.join(duplicated)}")


@dataclass(frozen=True)
class IngestOutcome:
    version_id: str
    name: str
    created: bool  # False when this exact content was already stored
    parent: str | None
    tag: str | None
    read: int
    accepted: int
    rejected: int
    per_year: dict[int, int]
    rejects_file: Path | None
    version_dir: Path

    def to_dict(self) -> dict[str, Any]:
        """The `--json` shape."""
        return {
            "version": self.version_id,
            "name": self.name,
            "created": self.created,
            "parent": self.parent,
            "tag": self.tag,
            "read": self.read,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "per_year": {str(year): n for year, n in self.per_year.items()},
            "rejects_file": str(self.rejects_file) if self.rejects_file else None,
            "version_dir": str(self.version_dir),
        }


def _input_paths(config: IngestConfig) -> list[str | Path]:
    if config.paths:
        return list(config.paths)
    from medprefs.sample_data import sample_corpus_path

    return [sample_corpus_path()]


def ingest(config: IngestConfig) -> IngestOutcome:
    """Read and validate `config.paths`, write the rejects file, store the version (or find it stored), tag it."""
    result = read_questions(_input_paths(config), config.format, config.column_map)
    store = CorpusStore(config.store)
    rejects_file = write_rejects(store, config.name, result.rejects) if result.rejects else None
    if result.rejects and config.strict:
        raise MedprefsError(
            f"strict: {result.rejected} of {result.read} rows rejected (first: {result.rejects[0]}); "
            f"all reasons in {rejects_file}; nothing stored"
        )
    if not result.read:
        raise MedprefsError(f"no question rows found in {', '.join(map(str, _input_paths(config)))}")
    if not result.accepted:
        raise MedprefsError(f"none of the {result.read} rows was accepted; reasons in {rejects_file}")
    saved = save_version(store, config.name, result, tag=config.tag, rejects_file=rejects_file)
    return IngestOutcome(
        version_id=saved.version_id,
        name=config.name,
        created=saved.created,
        parent=saved.parent,
        tag=config.tag,
        read=result.read,
        accepted=result.accepted,
        rejected=result.rejected,
        per_year=result.per_year,
        rejects_file=rejects_file,
        version_dir=saved.path,
    )


def load_questions_any(
    ref_or_path: str | Path, store: str | Path | None = None
) -> tuple[list[Question], dict[str, Any]]:
    """Questions from a corpus ref (`NAME@TAG`, `NAME@ID`, `NAME`) or from files/folders in any ingestible format,
    with a provenance record for manifests. Rows a file path rejects are announced, never silently dropped."""
    path = Path(ref_or_path)
    if path.exists():
        result = read_questions([path])
        if result.rejects:
            announce(
                f"{path}: {result.rejected} of {result.read} rows rejected and left out (first: {result.rejects[0]})"
            )
        provenance = {
            "kind": "files",
            "path": str(path),
            "content_sha256": result.content_sha256,
            "version": result.version_id,
            "read": result.read,
            "accepted": result.accepted,
            "rejected": result.rejected,
            "inputs": [item.to_dict() for item in result.input_files],
        }
        return result.questions, provenance
    try:
        version = load_corpus(str(ref_or_path), store)
    except MedprefsError as error:
        raise MedprefsError(f"{ref_or_path}: not a file or folder, and not a stored corpus: {error}") from None
    provenance = {
        "kind": "corpus",
        "ref": str(ref_or_path),
        "name": version.name,
        "version": version.version_id,
        "content_sha256": version.manifest.get("content_sha256"),
        "store": str(CorpusStore(store).root),
    }
    return version.questions, provenance
