"""Training inputs: CPT documents from questions and plain text, preference pairs, and the lineage of each input."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medprefs.corpus.question import Question, frame_to_questions
from medprefs.errors import InputError, MedprefsError
from medprefs.manifest import MANIFEST, read_json, sha256_bytes, sha256_file

PAIR_COLUMNS = ("prompt", "chosen", "rejected")
DATA_SUFFIXES = (".parquet", ".jsonl", ".txt")


@dataclass
class CPTInputs:
    """Documents ready to pack, and one lineage entry per input they came from."""

    documents: list[str]
    lineage: list[dict[str, Any]] = field(default_factory=list)


def question_documents(questions: Iterable[Question], cutoff_year: int | None = None) -> list[str]:
    """One document per question in the format the sampling prompt expects (stem, options, 解説, 答え).

    Questions with an explanation use the `explain` template; without one, the `plain` template (an empty 解説 would
    teach the model to skip its reasoning). Questions the exam excluded from scoring (points 0: the official answer is
    unreliable) and questions after the leakage gate's cutoff year are left out."""
    from medprefs.prompts import load_template

    explain, plain = load_template("explain"), load_template("plain")
    documents = []
    for question in questions:
        if question.excluded or (cutoff_year is not None and question.year > cutoff_year):
            continue
        if question.explanation:
            documents.append(explain.render(question, explanation=question.explanation, answer=question.gold_text()))
        else:
            documents.append(plain.render(question, explanation=None, answer=question.gold_text()))
    return documents


def split_documents(documents: list[str], eval_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """A deterministic held-out split (same seed, same documents -> same split, on every rank)."""
    if eval_fraction <= 0 or len(documents) < 2:
        return list(documents), []
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    n_eval = min(len(documents) - 1, max(1, round(len(documents) * eval_fraction)))
    held_out = set(order[:n_eval])
    train = [doc for i, doc in enumerate(documents) if i not in held_out]
    return train, [documents[i] for i in sorted(held_out)]


def resolve_cpt_inputs(data: str, text_corpora: list[str], corpus_store: str | None = None) -> CPTInputs:
    """Resolve `data` (corpus NAME@TAG, hf://ORG/NAME@REV or a folder) and the plain-text corpora into documents."""
    if not data and not text_corpora:
        raise MedprefsError("cpt.data is empty and there are no cpt.text_corpora: nothing to train on")
    inputs = CPTInputs(documents=[])
    for ref, role in [(data, "cpt-corpus")] * bool(data) + [(ref, "cpt-text") for ref in text_corpora]:
        files, entry = _resolve(ref, role, corpus_store)
        documents = _documents_from_files(files, cutoff_year(entry["leakage"]))
        if not documents:
            raise MedprefsError(f"{ref}: no documents to train on")
        inputs.documents.extend(documents)
        inputs.lineage.append({**entry, "documents": len(documents)})
    return inputs


def resolve_pairs_dataset(ref: str) -> tuple[Path, dict[str, Any]]:
    """A preference dataset reference (hf://ORG/NAME@REV or a local pairs/release folder) -> (folder, lineage entry)."""
    if not ref:
        raise MedprefsError("rpo.data is empty: name a preference dataset (hf://ORG/NAME@REV or a folder)")
    from medprefs.hub import lineage_entry, resolve_dataset

    resolved = resolve_dataset(ref)
    if resolved.kind != "pairs":
        raise MedprefsError(f"{ref}: a {resolved.kind or 'non-pairs'} dataset; RPO needs a preference (pairs) dataset")
    return Path(resolved.path), _with_role(lineage_entry(resolved), "rpo-pairs")


def starting_point_entry(start: str, base_model: str, revision: str | None = None) -> dict[str, Any]:
    """The CPT output RPO starts from, as a lineage entry carrying the CPT run's own lineage (checked by --dry-run
    too, so it lives here, away from TRL)."""
    from medprefs.train.model import is_adapter_dir

    path = Path(start)
    if not path.is_dir():
        raise MedprefsError(f"{start}: CPT output folder not found")
    manifest = read_json(path / "manifest.json") if (path / "manifest.json").is_file() else {}
    if manifest.get("base_model") not in (None, base_model):
        raise MedprefsError(f"{start} was trained on {manifest['base_model']}, not on the base model {base_model}")
    # an adapter on other base weights would make the reference model something CPT never produced
    if revision is not None and manifest.get("base_revision") not in (None, revision):
        raise MedprefsError(f"{start} was trained on {base_model} at revision {manifest['base_revision']}, not at "
                            f"revision {revision}")
    weights = next((path / n for n in ("adapter_model.safetensors", "model.safetensors") if (path / n).is_file()), None)
    return {"role": "cpt-adapter" if is_adapter_dir(path) else "cpt-model", "ref": str(start), "repo": None,
            "revision": None, "sha": sha256_file(weights) if weights else None, "version_id": None,
            "leakage": None, "lineage": manifest.get("lineage", [])}


def load_pairs(dataset_dir: str | Path, cutoff_year: int | None = None) -> tuple[dict[str, list], dict[str, list]]:
    """Train and validation pairs as column dicts (prompt, chosen, rejected); rows after `cutoff_year` are dropped."""
    import polars as pl

    splits = {}
    for split in ("train", "validation"):
        path = Path(dataset_dir) / "data" / f"{split}.parquet"
        if not path.is_file():
            if split == "train":
                raise InputError("missing: the preference dataset has no train split", file=str(path))
            splits[split] = {name: [] for name in PAIR_COLUMNS}
            continue
        frame = pl.read_parquet(path)
        missing = [name for name in PAIR_COLUMNS if name not in frame.columns]
        if missing:
            raise InputError(f"missing column(s) {', '.join(missing)}", file=str(path))
        if cutoff_year is not None and "year" in frame.columns:
            frame = frame.filter(pl.col("year") <= cutoff_year)
        splits[split] = frame.select(PAIR_COLUMNS).to_dict(as_series=False)
    if not splits["train"]["prompt"]:
        raise InputError("the train split has no pairs", file=str(Path(dataset_dir) / "data" / "train.parquet"))
    return splits["train"], splits["validation"]


def cutoff_year(record: dict[str, Any] | None) -> int | None:
    """The last exam year a leakage gate record allows for training (None: no record, no year filter)."""
    return record.get("cutoff_year") if isinstance(record, dict) else None


def _resolve(ref: str, role: str, corpus_store: str | None) -> tuple[list[Path], dict[str, Any]]:
    """The files to read and the lineage entry of one CPT input: a release (hf:// or folder) through medprefs.hub, a
    corpus version (NAME@TAG in the store, or its folder), or plain files / folders with a `text` column."""
    if ref.startswith("hf://"):
        return _resolve_release(ref, role)
    path, asked = Path(ref), None
    if not path.exists():
        from medprefs.corpus import load_corpus

        path = Path(load_corpus(ref, corpus_store).path)
        asked = ref.partition("@")[2] or "latest"
    manifest = read_json(path / MANIFEST) if path.is_dir() and (path / MANIFEST).is_file() else {}
    if manifest.get("kind") in ("corpus", "pairs"):
        return _resolve_release(str(path), role)
    if (path / "questions.parquet").is_file():  # a corpus version folder (kind "corpus-version")
        from medprefs.leakage import version_gate

        questions = path / "questions.parquet"
        sha = manifest.get("content_sha256") or sha256_file(questions)
        # a store tag can be moved later: the ref names the version it resolved to, the revision the tag asked
        pinned = f"{manifest['name']}@{manifest['id']}" if asked and manifest.get("name") and manifest.get("id") else ref
        entry = {"kind": "corpus", "repo": None, "revision": asked or "local", "sha": sha, "content_id": sha,
                 "ref": pinned, "path": str(path), "version_id": manifest.get("id"),
                 "leakage": version_gate(path, manifest)}
        return [questions], _with_role(entry, role)
    files = _data_files(path)
    digest = sha256_bytes("\n".join(f"{f.name} {sha256_file(f)}" for f in files).encode())
    entry = {"kind": "text", "repo": None, "revision": "local", "sha": digest, "content_id": digest, "ref": ref,
             "path": ref, "leakage": manifest.get("leakage")}
    return files, _with_role(entry, role)


def _resolve_release(ref: str, role: str) -> tuple[list[Path], dict[str, Any]]:
    from medprefs.hub import lineage_entry, resolve_dataset

    resolved = resolve_dataset(ref)
    if resolved.kind != "corpus":
        raise MedprefsError(f"{ref}: a {resolved.kind} dataset; CPT reads corpora (questions) or plain text")
    return [resolved.files["train"]], _with_role(lineage_entry(resolved), role)


def _with_role(entry: dict[str, Any], role: str) -> dict[str, Any]:
    """Tag the entry with what it was used for; an empty gate record (no verdict) becomes None, i.e. missing."""
    leakage = entry.get("leakage")
    return {**entry, "role": role, "leakage": leakage if isinstance(leakage, dict) and leakage.get("verdict") else None}


def _data_files(path: Path) -> list[Path]:
    """The training files of a plain file or folder: data/train* (or every data file of data/ or the folder)."""
    if path.is_file():
        return [path]
    folder = path / "data" if (path / "data").is_dir() else path
    files = sorted(f for f in folder.iterdir() if f.suffix in DATA_SUFFIXES and f.is_file())
    train = [f for f in files if f.name.startswith("train")]
    if not (train or files):
        raise MedprefsError(f"{path}: no .parquet, .jsonl or .txt files to train on")
    return train or files


def _documents_from_files(files: list[Path], cutoff: int | None) -> list[str]:
    import polars as pl

    documents: list[str] = []
    for path in files:
        if path.suffix == ".txt":  # one document per file: bfd_split packing keeps every token however long
            documents.append(path.read_text(encoding="utf-8"))
            continue
        frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_ndjson(path)
        if {"stem", "choices", "answer"} <= set(frame.columns):
            documents.extend(question_documents(frame_to_questions(frame), cutoff))
        elif "text" in frame.columns:
            documents.extend(text for text in frame["text"].to_list() if text)
        else:
            raise InputError("needs a `text` column (or the question columns stem, choices, answer)", file=str(path))
    return documents
