"""Reading every input layout: IgakuQA quirks, canonical JSONL/CSV/Parquet, and the same id from every layout."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from medprefs.corpus import QUESTION_SCHEMA, read_questions
from medprefs.errors import MedprefsError

FIXTURES = Path(__file__).parent / "fixtures" / "corpus"
IGAKUQA = FIXTURES / "igakuqa"
CANONICAL = FIXTURES / "canonical"


@pytest.fixture(scope="module")
def igakuqa():
    return read_questions([IGAKUQA])


def by_qid(result):
    return {question.qid: question for question in result.questions}


def test_igakuqa_layout_reads_question_files_only(igakuqa):
    # 10 questions in two blocks; metadata/translation sidecars and baseline_results/ are never taken for questions.
    assert (igakuqa.read, igakuqa.accepted, igakuqa.rejected) == (10, 10, 0)
    assert sorted(Path(item.path).name for item in igakuqa.input_files) == ["111-A.jsonl", "112-B.jsonl"]
    assert {item.format for item in igakuqa.input_files} == {"igakuqa"}
    assert igakuqa.per_year == {2017: 6, 2018: 4}
    assert igakuqa.frame.schema == pl.Schema(QUESTION_SCHEMA)


def test_igakuqa_quirks(igakuqa):
    questions = by_qid(igakuqa)
    assert questions["111A4"].points == 0 and questions["111A4"].excluded  # points "0": excluded from scoring
    assert questions["112B3"].points == 3  # points is a string in the layout
    either = questions["112B1"]  # ["a or d"]: either letter is accepted
    assert (either.answer, either.accepted, either.gold_text()) == (["a"], [["a"], ["d"]], "a")
    numeric = questions["111A6"]  # no choices, one digit string
    assert (numeric.choices, numeric.answer, numeric.answer_kind) == ([], ["22"], "numeric")
    assert len(questions["111A3"].choices) == 6 and questions["111A3"].letters == "abcdef"
    assert len(questions["112B2"].choices) == 8 and questions["112B2"].answer == ["f"]
    assert questions["111A5"].has_image and not questions["111A1"].has_image  # text_only: false
    assert (questions["111A1"].exam, questions["111A1"].year) == (111, 2017)  # exam n is held in n + 1906
    assert (questions["112B4"].exam, questions["112B4"].year) == (112, 2018)
    assert questions["111A2"].answer == ["b", "d"]  # given as ["d", "b"]


def test_igakuqa_metadata_is_joined(igakuqa):
    questions = by_qid(igakuqa)
    assert questions["112B4"].prohibited == ["c"]  # kinki
    assert questions["112B2"].prohibited == []  # kinki "" means none
    assert questions["111A3"].category == "医学総論"


def test_text_is_nfkc_normalised_and_original_kept(igakuqa):
    question = by_qid(igakuqa)["112B3"]
    assert question.stem.startswith("65歳の男性。") and "CRP 12.5 mg/dL" in question.stem
    assert question.original_stem.startswith("６５歳の男性。") and "ＣＲＰ １２．５" in question.original_stem
    assert question.source.endswith("112-B.jsonl:3")


@pytest.mark.parametrize("name", ["questions.jsonl", "questions.csv", "questions.parquet"])
def test_every_layout_gives_the_same_version(igakuqa, name):
    # The canonical files hold the same questions in reverse order; CSV mixes JSON-array and '|' cells.
    result = read_questions([CANONICAL / name])
    assert (result.read, result.accepted, result.rejected) == (10, 10, 0)
    assert result.version_id == igakuqa.version_id
    assert result.frame.drop("source").equals(igakuqa.frame.drop("source"))


def test_auto_detects_formats_by_extension_and_layout():
    result = read_questions([CANONICAL])
    assert sorted(item.format for item in result.input_files) == ["csv", "jsonl", "parquet"]
    # Three copies of each question, identical content: the first is kept, the others reported as duplicates.
    assert (result.read, result.accepted, result.rejected) == (30, 10, 20)
    assert all("identical content" in reject.reason for reject in result.rejects)


def test_column_map_renames_and_rejects_name_the_users_column(tmp_path):
    rows = [
        {"id": "111A1", "year": 2017, "question": "正しいのはどれか。", "options": ["甲", "乙"], "answer": ["b"]},
        {"id": "111A2", "year": 2017, "question": "", "options": ["甲", "乙"], "answer": ["a"]},
    ]
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    result = read_questions([path], "jsonl", {"id": "qid", "question": "stem", "options": "choices"})
    assert result.accepted == 1 and result.questions[0].choices == ["甲", "乙"]
    assert (result.rejects[0].line, result.rejects[0].field, result.rejects[0].reason) == (2, "question", "is empty")


def test_a_stored_table_reads_back_to_the_same_content(tmp_path, igakuqa):
    # A QUESTION_SCHEMA parquet (e.g. a stored version) keeps its originals, accepted sets and metadata columns.
    path = tmp_path / "stored.parquet"
    igakuqa.frame.write_parquet(path)
    again = read_questions([path])
    assert again.version_id == igakuqa.version_id and again.rejected == 0


def test_sidecar_or_unknown_file_is_refused_with_one_line(tmp_path):
    with pytest.raises(MedprefsError, match="sidecar"):
        read_questions([IGAKUQA / "data" / "2017" / "111-A_metadata.jsonl"])
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(MedprefsError, match="cannot tell the format"):
        read_questions([tmp_path / "notes.txt"])
    with pytest.raises(MedprefsError, match="not found"):
        read_questions([tmp_path / "missing.jsonl"])


def test_igakuqa_file_outside_its_block_is_rejected(tmp_path):
    folder = tmp_path / "data" / "2017"
    folder.mkdir(parents=True)
    row = {"problem_id": "112A1", "problem_text": "問題", "choices": ["甲", "乙"], "answer": ["a"], "points": "1"}
    (folder / "111-A.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    result = read_questions([tmp_path])
    assert result.rejected == 1 and result.rejects[0].field == "problem_id"


def test_igakuqa_year_folder_contradicting_the_exam_is_rejected(tmp_path):
    folder = tmp_path / "data" / "2016"
    folder.mkdir(parents=True)
    row = {"problem_id": "111A1", "problem_text": "問題", "choices": ["甲", "乙"], "answer": ["a"], "points": "1"}
    (folder / "111-A.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    (reject,) = read_questions([tmp_path]).rejects
    assert reject.field == "year" and "contradicts exam 111" in reject.reason


def test_igakuqa_row_fields_outside_the_layout_are_used_checked_or_reported(tmp_path):
    folder = tmp_path / "data" / "2017"
    folder.mkdir(parents=True)
    row = {"problem_text": "問題", "choices": ["甲", "乙"], "text_only": True, "answer": ["a"], "points": "1"}
    rows = [
        row | {"problem_id": "111A1", "explanation": "検証済みの解説。", "human_accuracy": 0.5},
        row | {"problem_id": "111A2", "year": 2019},  # contradicts the exam of the file: never taken for 2017
    ]
    (folder / "111-A.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    result = read_questions([tmp_path])
    assert [q.explanation for q in result.questions] == ["検証済みの解説。"]
    assert list(result.ignored_fields.values()) == [["human_accuracy"]]
    (reject,) = result.rejects
    assert (reject.line, reject.field) == (2, "year") and "2019 contradicts exam 111" in reject.reason


def test_igakuqa_metadata_rows_matching_no_question_are_announced(tmp_path, capsys):
    folder = tmp_path / "data" / "2018"
    folder.mkdir(parents=True)
    row = {"problem_id": "112A1", "problem_text": "問題", "choices": ["甲", "乙"], "answer": ["a"], "points": "1"}
    (folder / "112-A.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    metadata = [{"problem_id": "112A1", "category": "内科"}, {"problem_id": "112A01", "kinki": "b"}]  # a typo
    (folder / "112-A_metadata.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metadata), encoding="utf-8")
    result = read_questions([tmp_path])
    assert result.questions[0].category == "内科"
    err = " ".join(capsys.readouterr().err.split())
    assert "112-A_metadata.jsonl: 1 row(s) match no question of 112-A.jsonl, not used: 112A01 (line 2)" in err
