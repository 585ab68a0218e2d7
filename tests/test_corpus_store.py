"""Stored versions: content-hashed ids, immutability, tags, history, diffs, verification and loading by reference."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import polars as pl
import pytest

from medprefs.config import from_dict
from medprefs.corpus import (
    CorpusStore,
    IngestConfig,
    diff_versions,
    ingest,
    load_corpus,
    load_questions_any,
    verify_store,
)
from medprefs.errors import MedprefsError

FIXTURES = Path(__file__).parent / "fixtures" / "corpus"
IGAKUQA = str(FIXTURES / "igakuqa")
CANONICAL = FIXTURES / "canonical" / "questions.jsonl"


def run(store: Path, *paths: str | Path, **options) -> object:
    return ingest(IngestConfig(paths=[str(path) for path in paths], store=str(store), **options))


def edited_copy(tmp_path: Path, qid: str, field: str, change) -> Path:
    rows = [json.loads(line) for line in CANONICAL.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        if row["qid"] == qid:
            row[field] = change(row[field])
    path = tmp_path / f"edited-{qid}-{field}.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def test_same_content_twice_or_reordered_or_relaid_gives_one_version(tmp_path):
    store = tmp_path / "store"
    first = run(store, IGAKUQA, tag="v1")
    again = run(store, IGAKUQA)
    relaid = run(store, CANONICAL)  # other layout, reverse order
    assert first.created and not again.created and not relaid.created
    assert first.version_id == again.version_id == relaid.version_id
    assert CorpusStore(store).versions("jmle") == [first.version_id]
    events = CorpusStore(store).history("jmle")
    assert [event["event"] for event in events] == ["ingest", "tag", "ingest", "ingest"]
    assert [event.get("created") for event in events if event["event"] == "ingest"] == [True, False, False]
    # the same content again keeps the parent it was stored with (none), not itself
    assert [event["parent"] for event in events if event["event"] == "ingest"] == [None, None, None]


def test_one_character_change_gives_a_new_version_and_diff_names_it(tmp_path):
    store = tmp_path / "store"
    old = run(store, CANONICAL, tag="v1")
    changed = edited_copy(tmp_path, "111A3", "stem", lambda stem: stem.replace("7.32", "7.31"))
    new = run(store, changed, tag="v2")
    assert new.created and new.version_id != old.version_id and new.parent == old.version_id
    diff = diff_versions(load_corpus("jmle@v1", store), load_corpus("jmle@v2", store))
    assert diff.added == diff.removed == []
    (item,) = diff.changed
    assert item.qid == "111A3" and item.fields == ["stem", "original_stem"]
    assert "7.32" in item.changes[0].old and "7.31" in item.changes[0].new


def test_diff_reports_added_removed_and_answer_changes(tmp_path):
    store = tmp_path / "store"
    run(store, CANONICAL, tag="old")
    rows = [json.loads(line) for line in CANONICAL.read_text(encoding="utf-8").splitlines()]
    rows = [row for row in rows if row["qid"] != "112B4"]
    rows[0]["answer"] = ["b"]
    rows.append(rows[1] | {"qid": "112B9"})
    path = tmp_path / "next.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    run(store, path, tag="new")
    diff = diff_versions(load_corpus("jmle@old", store), load_corpus("jmle@new", store))
    assert (diff.added, diff.removed) == (["112B9"], ["112B4"])
    assert [(item.qid, item.fields) for item in diff.changed] == [(rows[0]["qid"], ["answer", "accepted"])]


def test_version_folder_layout_and_manifest(tmp_path):
    outcome = run(tmp_path, IGAKUQA)
    folder = outcome.version_dir
    assert folder == tmp_path / "jmle" / "versions" / outcome.version_id
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["id"] == outcome.version_id and manifest["parent"] is None and manifest["schema_version"] == 1
    assert manifest["counts"]["per_year"] == {"2017": 6, "2018": 4}
    assert manifest["counts"]["per_answer_kind"] == {"choice": 9, "numeric": 1}
    assert (manifest["counts"]["alternatives"], manifest["counts"]["excluded"]) == (1, 1)
    assert manifest["ingest"]["rejected"] == 0 and len(manifest["ingest"]["inputs"]) == 2
    assert all(len(item["sha256"]) == 64 for item in manifest["ingest"]["inputs"])
    frame = pl.read_parquet(folder / "questions.parquet")
    assert frame.get_column("qid").to_list() == sorted(frame.get_column("qid").to_list())
    assert not os.stat(folder / "questions.parquet").st_mode & stat.S_IWUSR  # stored read-only


def test_refs_by_tag_id_prefix_and_latest(tmp_path):
    first = run(tmp_path, CANONICAL, tag="v1")
    second = run(tmp_path, edited_copy(tmp_path, "111A1", "points", lambda _: 3))
    assert load_corpus("jmle", tmp_path).version_id == second.version_id
    assert load_corpus("jmle@v1", tmp_path).version_id == first.version_id
    assert load_corpus(f"jmle@{first.version_id[:6]}", tmp_path).version_id == first.version_id
    version = load_corpus("jmle@v1", tmp_path)
    assert version.frame.height == len(version.questions) == 10 and version.path == first.version_dir
    store = CorpusStore(tmp_path)
    assert store.set_tag("jmle", "v1", second.version_id) == first.version_id  # tags move
    assert load_corpus("jmle@v1", tmp_path).version_id == second.version_id


def test_unknown_references_list_what_exists(tmp_path):
    outcome = run(tmp_path, CANONICAL, tag="v1")
    with pytest.raises(MedprefsError, match=r"no corpus named 'nope' .*corpora: jmle"):
        load_corpus("nope@v1", tmp_path)
    with pytest.raises(MedprefsError, match=rf"no tag or version 'v9'; tags: v1 -> {outcome.version_id}"):
        load_corpus("jmle@v9", tmp_path)
    with pytest.raises(MedprefsError, match="letters, digits"):
        load_corpus("../etc@v1", tmp_path)


def test_strict_refuses_and_stores_nothing(tmp_path):
    messy = FIXTURES / "messy" / "messy.jsonl"
    with pytest.raises(MedprefsError, match=r"strict: 13 of 16 rows rejected"):
        run(tmp_path, messy, strict=True)
    assert CorpusStore(tmp_path).versions("jmle") == []
    outcome = run(tmp_path, messy)
    assert (outcome.read, outcome.accepted, outcome.rejected) == (16, 3, 13)
    rejects = [json.loads(line) for line in outcome.rejects_file.read_text(encoding="utf-8").splitlines()]
    assert len(rejects) == 13 and {"file", "line", "field", "reason", "raw"} <= set(rejects[0])
    assert [reject["line"] for reject in rejects] == [2, 3, 4, 5, 6, 7, 8, 10, 12, 13, 14, 15, 16]


def test_verify_detects_a_damaged_version_and_names_the_file(tmp_path):
    outcome = run(tmp_path, CANONICAL)
    assert all(check.ok for check in verify_store(CorpusStore(tmp_path)))
    parquet = outcome.version_dir / "questions.parquet"
    parquet.chmod(0o644)
    frame = pl.read_parquet(parquet).with_columns(pl.col("points").replace(3, 2))
    frame.write_parquet(parquet)
    (check,) = verify_store(CorpusStore(tmp_path), "jmle")
    assert not check.ok and any(str(parquet) in problem for problem in check.problems)
    assert any("content hash" in problem for problem in check.problems)
    with pytest.raises(MedprefsError, match="does not match its manifest"):
        load_corpus("jmle", tmp_path)


def test_embedded_sample_ingests_cleanly(tmp_path):
    outcome = ingest(IngestConfig(store=str(tmp_path)))  # no paths: the embedded sample
    assert outcome.rejected == 0 and outcome.accepted == outcome.read > 0
    assert min(outcome.per_year) <= 2017 < max(outcome.per_year)  # both sides of the train/eval split


def test_load_questions_any_takes_refs_and_paths(tmp_path):
    outcome = run(tmp_path, IGAKUQA, tag="bench")
    by_ref, provenance = load_questions_any("jmle@bench", tmp_path)
    assert provenance["kind"] == "corpus" and provenance["version"] == outcome.version_id
    by_path, provenance = load_questions_any(IGAKUQA)
    assert provenance["kind"] == "files" and provenance["version"] == outcome.version_id
    assert [q.qid for q in by_ref] == [q.qid for q in by_path]
    with pytest.raises(MedprefsError, match="not a file or folder, and not a stored corpus"):
        load_questions_any("nothing-here@v1", tmp_path)


def test_config_loads_from_a_pipeline_table_and_rejects_bad_values():
    config = from_dict(IngestConfig, {"paths": ["a.jsonl"], "format": "jsonl", "tag": "v1"}, "corpus")
    assert config.format == "jsonl" and config.column_map == {}
    with pytest.raises(MedprefsError, match="unknown key"):
        from_dict(IngestConfig, {"pathz": []}, "corpus")
    with pytest.raises(MedprefsError, match="is not one of"):
        from_dict(IngestConfig, {"format": "xml"}, "corpus")
    with pytest.raises(MedprefsError, match="the target must be one of"):
        IngestConfig(column_map={"q": "question"})
    with pytest.raises(MedprefsError, match="corpus.tag"):
        IngestConfig(tag="bad tag")


def test_corpus_version_as_a_datasets_dataset(tmp_path):
    run(tmp_path, CANONICAL)
    dataset = load_corpus("jmle", tmp_path).to_dataset()
    assert dataset.num_rows == 10 and "stem" in dataset.column_names


def test_a_derived_version_is_stored_verified_and_logged(tmp_path, capsys):
    from medprefs.cli import main
    from medprefs.corpus import store_derived_version

    base = run(tmp_path, CANONICAL, tag="raw")
    store = CorpusStore(tmp_path)
    frame = load_corpus("jmle@raw", tmp_path).frame.filter(pl.col("qid") != "112B4")
    gate = {"verdict": "pass", "flagged": 0}
    saved = store_derived_version(
        store,
        "jmle",
        frame,
        parent=base.version_id,
        event="leakage-filter",
        manifest_extra={"leakage": gate},
        tag="clean",
    )
    version = load_corpus("jmle@clean", tmp_path)
    assert saved.created and version.frame.height == 9 and version.manifest["leakage"] == gate
    assert version.manifest["parent"] == base.version_id
    assert all(check.ok for check in verify_store(store, "jmle"))
    assert store.history("jmle")[-2]["event"] == "leakage-filter"
    assert load_corpus("jmle", tmp_path).version_id == base.version_id  # a bare NAME stays the last ingest
    assert main(["corpus", "log", "jmle", "--store", str(tmp_path)]) == 0
    assert main(["corpus", "show", "jmle@clean", "--store", str(tmp_path)]) == 0
