"""Report files, the gate record, the gate itself and filter mode."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from medprefs.corpus.question import Question
from medprefs.errors import LeakageError, MedprefsError
from medprefs.leakage import LeakageConfig, filter_corpus, read_passages, require_passing, scan
from medprefs.manifest import sha256_file

FIXTURES = Path(__file__).parent / "fixtures" / "leakage"


def load(name: str) -> list[Question]:
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    return [Question(**json.loads(line)) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def failing():
    train = load("planted.jsonl") + load("distinct.jsonl")
    return train, scan(train, load("eval.jsonl"), show_progress=False)


def test_report_files_hash_and_gate_record(failing, tmp_path):
    _, report = failing
    paths = report.write(tmp_path)
    assert [p.name for p in paths] == ["report.md", "report.html", "report.json"]
    assert sha256_file(paths.json) == report.report_sha256
    data = json.loads(paths.json.read_text(encoding="utf-8"))
    assert data["verdict"] == "fail" and data["counts"]["flagged_train_items"] == 7
    assert {row["train_qid"] for row in data["flagged"]} == {
        "111A40",
        "110B15",
        "109C12",
        "108D25",
        "111C8",
        "107E5",
        "106A3",
    }
    assert report.gate_record() == {
        "verdict": "fail",
        "report_sha256": report.report_sha256,
        "cutoff_year": 2017,
        "flagged": 7,
        "override": None,
    }
    summary = report.summary()
    assert set(summary) == {"verdict", "flagged", "counts"}
    assert set(summary["flagged"][0]) == {"train_qid", "eval_qid", "rule", "similarity"}


def test_report_shows_pairs_side_by_side_with_the_shared_text_marked(failing, tmp_path):
    _, report = failing
    paths = report.write(tmp_path)
    markdown = paths.markdown.read_text(encoding="utf-8")
    page = paths.html.read_text(encoding="utf-8")
    assert "### 3. 109C12 ↔ 113B20: near_duplicate" in markdown
    # The one changed character (重大 -> 重篤) breaks the marked run; the text around it is shared.
    assert "<mark>抗甲状腺薬の重</mark>篤<mark>な副作用に無顆粒球症がある</mark>。" in markdown
    assert "<mark>抗甲状腺薬の重</mark>大<mark>な副作用に無顆粒球症がある</mark>。" in markdown
    assert "<td class='text'>" in page and "<mark>" in page and "FAIL" in page
    # The explanation that quotes 116E12 is shown with the quoted part marked, its own text not.
    assert "解説: ネフロンは片側の腎臓に約100万個存在する。" in markdown
    assert "類題として「正しいのはどれか。a <mark>糸球体濾過量は約180 L/日である</mark>。" in markdown


def test_passing_report_says_so(tmp_path):
    report = scan(load("distinct.jsonl"), load("eval.jsonl"), show_progress=False)
    paths = report.write(tmp_path)
    assert report.verdict == "pass" and "No training item collides" in paths.markdown.read_text(encoding="utf-8")
    assert report.gate_record()["verdict"] == "pass"


def test_gate_refuses_missing_or_failing_records_without_a_reason(failing):
    _, report = failing
    with pytest.raises(LeakageError, match="no leakage verdict"):
        require_passing(None, None, "publish out/pairs")
    with pytest.raises(LeakageError, match=r"failed the leakage check \(7 training item"):
        require_passing(report.gate_record(), None, "publish out/pairs")
    with pytest.raises(LeakageError, match="--allow-leakage"):
        require_passing(report.gate_record(), "   ", "train rpo")
    with pytest.raises(LeakageError):
        require_passing({"report_sha256": "x"}, None, "train")  # no verdict at all


def test_gate_override_is_recorded_and_announced(failing, capsys):
    _, report = failing
    record = report.gate_record()
    overridden = require_passing(record, "ablation: measure contamination", "publish out/pairs")
    assert overridden == {**record, "override": "ablation: measure contamination"}
    assert record["override"] is None  # the caller's record is not modified
    assert "ablation: measure contamination" in " ".join(capsys.readouterr().err.split())  # rich wraps lines
    missing = require_passing(None, "legacy data", "train rpo")
    assert missing["verdict"] == "missing" and missing["override"] == "legacy data"


def test_gate_lets_a_passing_record_through_unchanged():
    record = {"verdict": "pass", "report_sha256": "ab" * 32, "cutoff_year": 2017, "flagged": 0, "override": None}
    assert require_passing(record, None, "publish") == record


def test_a_pass_under_a_cutoff_inside_the_igakuqa_years_needs_a_recorded_reason(capsys):
    later_eval = [q for q in load("eval.jsonl") if q.year >= 2020]
    later = scan(
        load("distinct.jsonl"),
        later_eval,
        LeakageConfig(cutoff_year=2019, eval_years=[2020, 2021, 2022]),
        show_progress=False,
    )
    assert later.verdict == "pass"  # nothing flagged against 2020, yet 2018-2019 questions may have been trained on
    with pytest.raises(LeakageError, match=r"cut-off year 2019, which puts IgakuQA evaluation years 2018, 2019"):
        require_passing(later.gate_record(), None, "train cpt")
    overridden = require_passing(later.gate_record(), "study: 2018-2019 as extra training data", "train cpt")
    assert overridden["override"] == "study: 2018-2019 as extra training data" and overridden["cutoff_year"] == 2019
    earlier = {"verdict": "pass", "report_sha256": "ab" * 32, "cutoff_year": 2016, "flagged": 0, "override": None}
    assert require_passing(earlier, None, "publish") == earlier  # an earlier cut-off only holds more back


def test_filter_keeps_every_item_either_kept_or_dropped_with_reasons(failing):
    train, report = failing
    filtered = filter_corpus(train, report)
    assert len(filtered.kept) + len(filtered.dropped) == len(train)
    assert {q.qid for q in filtered.dropped} == {"111A40", "110B15", "109C12", "108D25", "111C8", "107E5", "106A3"}
    frame = filtered.dropped_frame()
    assert frame.height == 7 and frame["leakage_report_sha256"].unique().to_list() == [report.report_sha256]
    reasons = dict(zip(frame["qid"].to_list(), frame["leakage_reasons"].to_list(), strict=True))
    assert reasons["109C12"][0].startswith("near_duplicate of 113B20 (similarity 0.898")
    assert frame.schema["choices"] == pl.List(pl.String())  # full question rows, nothing lost
    rescan = scan(filtered.kept, load("eval.jsonl"), show_progress=False)
    assert rescan.verdict == "pass"


def test_filter_passages_and_refuse_a_foreign_report(failing):
    _, report = failing
    passages = read_passages(FIXTURES / "passages.jsonl")
    own = scan(passages, load("eval.jsonl"), show_progress=False)
    filtered = filter_corpus(passages, own)
    assert filtered.kept == [] and filtered.dropped_frame()["leakage_reasons"].list.len().to_list() == [1, 1, 1, 1]
    with pytest.raises(MedprefsError, match="not in this corpus"):
        filter_corpus(passages, report)


def test_read_passages_reports_bad_lines(tmp_path):
    bad = tmp_path / "notes.jsonl"
    bad.write_text('{"text": "ok"}\n{"id": 3}\n', encoding="utf-8")
    with pytest.raises(MedprefsError, match=r"notes.jsonl:2: field 'text'"):
        read_passages(bad)
    plain = tmp_path / "book.txt"
    plain.write_text("第一段落。\n\n\n第二段落。\n", encoding="utf-8")
    assert [p.text for p in read_passages(plain)] == ["第一段落。", "第二段落。"]


def test_read_passages_takes_a_bom_and_line_separators_in_text_and_names_bad_bytes(tmp_path):
    rows = [{"id": "a", "text": "前文\u2028後文", "year": 2016}, {"id": "b", "text": "次"}]
    path = tmp_path / "book.jsonl"
    lines = [json.dumps(row, ensure_ascii=False) for row in rows]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n")
    assert [(p.pid, p.text, p.year) for p in read_passages(path)] == [("a", "前文\u2028後文", 2016), ("b", "次", None)]
    damaged = tmp_path / "damaged.txt"
    damaged.write_bytes("第一段落。\n\n".encode() + b"\x93\x94\n")  # cp1252 quotes: not UTF-8
    with pytest.raises(MedprefsError, match=r"damaged.txt:3: not valid UTF-8"):
        read_passages(damaged)
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"text": "ok"}\n' + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(MedprefsError, match=r"deep.jsonl:2: invalid JSON"):
        read_passages(deep)
