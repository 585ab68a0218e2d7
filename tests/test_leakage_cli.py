"""`medprefs leakage scan|filter` end to end on fixture files: exit status, JSON, report files, errors."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from medprefs.cli import main
from medprefs.manifest import sha256_file

FIXTURES = Path(__file__).parent / "fixtures" / "leakage"
EVAL = str(FIXTURES / "eval.jsonl")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["leakage", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_scan_fails_on_planted_duplicates_and_prints_json(capsys, tmp_path):
    status, out, _ = run(
        capsys,
        "scan",
        "--train",
        str(FIXTURES / "planted.jsonl"),
        "--train-text",
        str(FIXTURES / "passages.jsonl"),
        "--eval",
        EVAL,
        "--report",
        str(tmp_path / "report"),
        "--json",
    )
    assert status == 1
    data = json.loads(out)
    assert set(data) == {"verdict", "flagged", "counts"} and data["verdict"] == "fail"
    expected = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))["planted"]
    assert {(f["train_qid"], f["eval_qid"]) for f in data["flagged"]} == {(p["train"], p["eval"]) for p in expected}
    assert all(set(f) == {"train_qid", "eval_qid", "rule", "similarity"} for f in data["flagged"])
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    assert report["sources"]["train_text"] == [str(FIXTURES / "passages.jsonl")]
    assert (tmp_path / "report" / "report.html").is_file() and (tmp_path / "report" / "report.md").is_file()


def test_scan_passes_distinct_questions(capsys):
    status, out, err = run(capsys, "scan", "--train", str(FIXTURES / "distinct.jsonl"), "--eval", EVAL, "--json")
    assert status == 0 and json.loads(out)["verdict"] == "pass" and "PASS" in err


def test_config_section_and_overrides_reach_the_scan(capsys, tmp_path):
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text("[leakage]\ncutoff_year = 2014\n", encoding="utf-8")
    status, out, _ = run(
        capsys,
        "scan",
        "--train",
        str(FIXTURES / "distinct.jsonl"),
        "--eval",
        EVAL,
        "--config",
        str(pipeline),
        "--set",
        "leakage.min_shared_ngrams=10",
        "--json",
        "--report",
        str(tmp_path / "r"),
    )
    assert status == 1
    flagged = json.loads(out)["flagged"]
    assert {f["rule"] for f in flagged} == {"year"} and len(flagged) == 7  # everything after 2014
    report = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    assert report["config"]["cutoff_year"] == 2014 and report["config"]["min_shared_ngrams"] == 10


def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path):
    status, out, err = run(capsys, "scan", "--train", str(tmp_path / "missing.jsonl"), "--eval", EVAL)
    assert status == 2 and out == "" and err.startswith("medprefs: error:") and "Traceback" not in err
    status, _, err = run(capsys, "scan", "--eval", EVAL)
    assert status == 2 and "nothing to check" in err
    status, _, err = run(capsys, "scan", "--train", EVAL, "--eval", EVAL, "--set", "ngram=1")
    assert status == 2 and "ngram" in err


def test_report_hash_in_json_report_matches_gate(capsys, tmp_path):
    run(capsys, "scan", "--train", str(FIXTURES / "planted.jsonl"), "--eval", EVAL, "--report", str(tmp_path))
    from medprefs.pairs import leakage_record_from_file  # the pairs stage reads our report this way

    record = leakage_record_from_file(tmp_path / "report.json")
    assert record["report_sha256"] == sha256_file(tmp_path / "report.json")
    assert record["verdict"] == "fail" and record["flagged"] == 7 and record["cutoff_year"] == 2017


def _ingest(capsys, store: Path, *paths: Path, tag: str) -> None:
    assert main(["corpus", "ingest", *map(str, paths), "--store", str(store), "--name", "jmle", "--tag", tag]) == 0
    capsys.readouterr()


def test_scan_a_stored_corpus_by_reference(capsys, tmp_path):
    store = tmp_path / "store"
    _ingest(capsys, store, FIXTURES / "distinct.jsonl", tag="train")
    status, out, _ = run(capsys, "scan", "--train", "jmle@train", "--store", str(store), "--eval", EVAL, "--json")
    assert status == 0 and json.loads(out)["counts"]["train_questions"] == 8


def test_filter_stores_a_clean_version_and_keeps_the_dropped(capsys, tmp_path):
    from medprefs.corpus import load_corpus

    store = tmp_path / "store"
    _ingest(capsys, store, FIXTURES / "planted.jsonl", FIXTURES / "distinct.jsonl", tag="raw")
    status, _, err = run(
        capsys, "filter", "--train", "jmle@raw", "--store", str(store), "--eval", EVAL, "--tag", "clean"
    )
    assert status == 0 and "kept 8, dropped 7" in " ".join(err.split())
    clean, raw = load_corpus("jmle@clean", store), load_corpus("jmle@raw", store)
    assert clean.frame.height == 8 and raw.frame.height == 15  # the input version is untouched
    assert clean.manifest["leakage"]["verdict"] == "pass" and clean.manifest["leakage"]["override"] is None
    assert clean.manifest["derived_from"]["parent"] == raw.version_id
    sidecar = store / "jmle" / "leakage" / clean.version_id
    dropped = pl.read_parquet(sidecar / "dropped.parquet")
    assert sorted(dropped["qid"].to_list()) == ["106A3", "107E5", "108D25", "109C12", "110B15", "111A40", "111C8"]
    assert all(reasons for reasons in dropped["leakage_reasons"].to_list())
    assert sha256_file(sidecar / "rescan" / "report.json") == clean.manifest["leakage"]["report_sha256"]
    # A rescan of the new version through the CLI passes.
    status, _, _ = run(capsys, "scan", "--train", "jmle@clean", "--store", str(store), "--eval", EVAL)
    assert status == 0


def test_filtering_a_filtered_version_keeps_the_record_that_made_it(capsys, tmp_path):
    from medprefs.corpus import load_corpus

    store = tmp_path / "store"
    _ingest(capsys, store, FIXTURES / "planted.jsonl", FIXTURES / "distinct.jsonl", tag="raw")
    assert run(capsys, "filter", "--train", "jmle@raw", "--store", str(store), "--eval", EVAL, "--tag", "clean")[0] == 0
    clean = load_corpus("jmle@clean", store)
    sidecar = store / "jmle" / "leakage" / clean.version_id
    # The clean version again: nothing to drop, and its id names the same folder.
    status, _, err = run(capsys, "filter", "--train", "jmle@clean", "--store", str(store), "--eval", EVAL)
    assert status == 0 and "nothing dropped" in " ".join(err.split())
    assert pl.read_parquet(sidecar / "dropped.parquet").height == 7
    assert json.loads((sidecar / "filter.json").read_text(encoding="utf-8"))["dropped"] == 7
    assert sha256_file(sidecar / "scan" / "report.json") == clean.manifest["derived_from"]["scan_report_sha256"]
    (second,) = (sidecar / "runs").iterdir()  # the second run's record, beside the first
    assert json.loads((second / "filter.json").read_text(encoding="utf-8"))["dropped"] == 0


def test_show_says_a_filtered_version_was_derived_not_ingested(capsys, tmp_path):
    store = tmp_path / "store"
    _ingest(capsys, store, FIXTURES / "planted.jsonl", FIXTURES / "distinct.jsonl", tag="raw")
    run(capsys, "filter", "--train", "jmle@raw", "--store", str(store), "--eval", EVAL, "--tag", "clean")
    import io

    from rich.console import Console

    from medprefs.corpus import load_corpus
    from medprefs.corpus.tables import version_table

    shown = io.StringIO()
    Console(file=shown, width=300).print(version_table(load_corpus("jmle@clean", store), ["clean"]))
    (ingest,) = [line for line in shown.getvalue().splitlines() if "│ ingest" in line]
    assert "None" not in ingest and "leakage-filter of" in ingest and "dropped 7; leakage pass" in ingest


def test_filter_with_nothing_to_drop_still_tags_the_version(capsys, tmp_path):
    from medprefs.corpus import load_corpus

    store = tmp_path / "store"
    _ingest(capsys, store, FIXTURES / "distinct.jsonl", tag="raw")
    status, _, err = run(
        capsys, "filter", "--train", "jmle@raw", "--store", str(store), "--eval", EVAL, "--tag", "clean"
    )
    raw = load_corpus("jmle@raw", store)
    assert status == 0 and "nothing dropped, unchanged: jmle@" in " ".join(err.split())
    assert load_corpus("jmle@clean", store).version_id == raw.version_id  # the tag the output names exists


def test_a_whole_corpus_as_eval_keeps_only_its_questions_after_the_cutoff(capsys, tmp_path):
    # the distinct (2014-2017) and eval (2018-2022) fixtures as one file: its training years are not evaluation
    both = tmp_path / "both.jsonl"
    both.write_text((FIXTURES / "distinct.jsonl").read_text() + (FIXTURES / "eval.jsonl").read_text())
    status, out, err = run(capsys, "scan", "--train", str(FIXTURES / "distinct.jsonl"), "--eval", str(both), "--json")
    assert "8 of 18 questions are from exams up to the cut-off 2017" in " ".join(err.split())
    assert status == 0 and json.loads(out)["counts"]["eval_items"] == 10  # not every training question flagged
    status, out, _ = run(capsys, "scan", "--train", str(FIXTURES / "distinct.jsonl"), "--eval", str(both),
                         "--cutoff-year", "2015", "--json")
    assert status == 1 and json.loads(out)["counts"]["eval_items"] == 15  # 2016-2017 now on the eval side: training on them fails


def test_filter_needs_a_stored_corpus(capsys):
    status, _, err = run(capsys, "filter", "--train", str(FIXTURES / "planted.jsonl"), "--eval", EVAL)
    assert status == 2 and "NAME@TAG" in err
