"""The audit report: figures match the dataset, findings flag what a reviewer must see, the HTML is self-contained."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest

from medprefs.audit import audit
from medprefs.audit.render import flags
from medprefs.cli import main
from medprefs.corpus.question import Question
from medprefs.errors import MedprefsError
from medprefs.labeling import label_responses, write_labels
from medprefs.pairs import PairsConfig, build_pairs, write_pairs
from medprefs.prompts import build_prompt, completion_text, load_template

PASSING = {"verdict": "pass", "report_sha256": "a" * 64, "cutoff_year": 2017, "flagged": 0, "override": None}


def make_dataset(tmp_path, *, long_wrong: bool, leakage=PASSING, conversational=False):
    """Ten questions over two years; wrong answers are padded when `long_wrong` (a length shortcut)."""
    template = load_template("explain")
    questions = [Question(qid=f"11{i % 2}A{i}", year=2016 + i % 2, stem=f"問題{i}<b>", choices=["x"] * 5,
                          answer=["c"], explanation="根拠を述べる。" * 3) for i in range(10)]
    rows = []
    for q in questions:
        prompt = build_prompt(template, q, [])
        i = int(q.qid.split("A")[1])
        for j in range(4):
            units = (i + j) % 4 + 2  # the same lengths on both sides, rotated per question: no shortcut
            if j < 2:
                text = completion_text(f"理由{j}。" * units, "c")
            else:
                text = completion_text(f"誤り{j}。" * (units * 4 if long_wrong else units), "a")
            rows.append((q.qid, j, prompt, text))
    responses = pl.DataFrame(rows, schema=["qid", "sample_idx", "prompt", "text"], orient="row")
    labels = label_responses(responses, questions, show_progress=False)
    labels_dir = write_labels(labels, tmp_path / "labels", {})
    result = build_pairs(questions, responses, labels,
                         PairsConfig(validation_fraction=0.2, conversational=conversational))
    sources = {"labels": {"path": str(labels_dir)}}
    return write_pairs(result, tmp_path / "dataset", sources, leakage), result


def test_report_figures_match_the_dataset(tmp_path):
    dataset, result = make_dataset(tmp_path, long_wrong=False)
    paths = audit(dataset, tmp_path / "audit")
    data = json.loads(paths.json.read_text())
    assert data["overview"]["rows"] == {"train": len(result.train), "validation": len(result.validation)}
    by_year = data["composition"]["by_year"]
    assert sum(sum(v.values()) for v in by_year.values()) == result.counts["pairs"]
    assert by_year["2016"] == result.counts["by_year"]["2016"]
    assert data["labels"]["responses"] == 40 and data["labels"]["accuracy"] == 0.5  # found via the manifest
    assert data["labels"]["accuracy_hist"][5] == 10  # every question 2 of 4 correct
    assert data["leakage"] == PASSING and data["overview"]["split_overlap_questions"] == 0
    assert {e["pair_type"] for e in data["examples"]} == {"gt>chosen", "gt>rejected", "chosen>rejected"}
    # per question i % 4 = 0, 1, 2, 3 the chosen side is longer in 0, 1/2, 1, 1/2 of pairs: 4.5 of 10 questions
    assert data["lengths"]["chosen>rejected"]["chosen_longer_share"] == 0.45
    assert [f for f in flags(data) if "chosen>rejected" in f or "leakage" in f or "duplicate" in f] == []


def test_length_bias_missing_leakage_and_duplicates_are_flagged(tmp_path):
    dataset, _ = make_dataset(tmp_path, long_wrong=True, leakage=None)
    train = pl.read_parquet(dataset / "data/train.parquet")
    pl.concat([train, train.head(2)]).write_parquet(dataset / "data/train.parquet")  # two exact duplicate rows
    data = json.loads(audit(dataset, tmp_path / "audit").json.read_text())
    found = flags(data)
    assert any("no leakage verdict" in f for f in found)
    assert any(f.startswith("length bias in chosen>rejected: chosen is shorter") for f in found)
    assert any(f.startswith("length bias in gt>rejected") for f in found)
    assert any("2 row(s) are exact duplicates" in f for f in found)
    assert not any("cutoff" in f for f in found)  # no record, so no cutoff to compare with
    assert data["lengths"]["chosen>rejected"]["chosen_longer_share"] == 0.0


def test_pairs_from_years_after_the_leakage_cutoff_are_flagged(tmp_path):
    dataset, result = make_dataset(tmp_path, long_wrong=False, leakage=PASSING | {"cutoff_year": 2016})
    data = json.loads(audit(dataset, tmp_path / "audit").json.read_text())
    late = result.counts["pairs"] - sum(result.counts["by_year"]["2016"].values())
    assert f"{late} pair(s) come from exam years after the leakage cutoff 2016: 2017" in flags(data)


def test_html_is_self_contained_and_escaped(tmp_path):
    dataset, _ = make_dataset(tmp_path, long_wrong=True, conversational=True)
    paths = audit(dataset, tmp_path / "audit", labels_dir=tmp_path / "labels")
    html = paths.html.read_text()
    assert html.count("<svg") >= 6  # composition, 2 label bars, accuracy, 3 length histograms
    assert not re.search(r"<script|<link|https?://(?!www\.w3\.org/2000/svg)", html)
    assert "問題1&lt;b&gt;" in html and "問題1<b>" not in html
    markdown = paths.markdown.read_text()
    assert "| 2016 |" in markdown and "Leakage verdict: **pass**" in markdown and "length bias" in markdown


def test_audit_cli_and_errors(tmp_path, capsys):
    dataset, _ = make_dataset(tmp_path, long_wrong=False)
    assert main(["audit", str(dataset), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report/report.html").is_file() and (tmp_path / "report/report.md").is_file()
    assert main(["audit", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    assert "not a preference dataset folder" in capsys.readouterr().err
    with pytest.raises(MedprefsError, match="not a labels folder"):
        audit(dataset, tmp_path / "x", labels_dir=tmp_path)


def test_equal_lengths_are_not_flagged_as_a_length_bias(tmp_path):
    # short answer-only responses ("答え: c" against "答え: a") tie in length: no side is longer, so no shortcut
    template = load_template("plain")
    questions = [Question(qid=f"110A{i}", year=2016, stem=f"問題{i}", choices=["x"] * 5, answer=["c"])
                 for i in range(6)]
    rows = [(q.qid, j, build_prompt(template, q, []), f" 答え: {letter}")
            for q in questions for j, letter in enumerate("cab")]
    responses = pl.DataFrame(rows, schema=["qid", "sample_idx", "prompt", "text"], orient="row")
    labels = label_responses(responses, questions, show_progress=False)
    result = build_pairs(questions, responses, labels, PairsConfig(validation_fraction=0.0))
    dataset = write_pairs(result, tmp_path / "dataset", {}, PASSING)
    data = json.loads(audit(dataset, tmp_path / "audit").json.read_text())
    assert data["lengths"]["chosen>rejected"]["pairs"] == 12
    assert data["lengths"]["chosen>rejected"]["chosen_longer_share"] == 0.0
    assert not [f for f in flags(data) if "length bias" in f]


def test_labels_changed_since_the_dataset_was_built_are_flagged(tmp_path):
    from medprefs.manifest import read_manifest, sha256_file, write_manifest

    dataset, _ = make_dataset(tmp_path, long_wrong=False)
    manifest = read_manifest(dataset)
    manifest["sources"]["labels"]["sha256"] = sha256_file(tmp_path / "labels" / "labels.parquet")  # as pairs build does
    write_manifest(dataset, manifest)
    data = json.loads(audit(dataset, tmp_path / "audit").json.read_text())
    assert data["labels_source"]["matches_dataset"] and not [f for f in flags(data) if "labels in" in f]
    relabelled = pl.read_parquet(tmp_path / "labels" / "labels.parquet").with_columns(correct=pl.lit(False))
    relabelled.write_parquet(tmp_path / "labels" / "labels.parquet")  # labelled again into the same folder
    data = json.loads(audit(dataset, tmp_path / "audit").json.read_text())
    assert not data["labels_source"]["matches_dataset"]
    assert [f for f in flags(data) if "changed since the dataset was built" in f]
