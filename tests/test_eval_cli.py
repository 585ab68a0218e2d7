"""`medprefs eval score|run|compare` end to end: the IgakuQA-layout fixture, the tiny model, side-by-side tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medprefs.cli import main
from medprefs.corpus.question import Question
from medprefs.eval import EvalConfig, score_predictions
from medprefs.eval.run import build_summary
from medprefs.manifest import write_json

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
BENCHMARK = str(FIXTURES / "igakuqa")
PREDICTIONS = str(FIXTURES / "predictions.jsonl")


def test_score_strict_json_matches_the_hand_computed_numbers(capsys):
    # Hand-computed in tests/test_eval_scoring.py (FIXTURE table): 2018 9/12, 2022 1/3 (116A71 by ruling).
    assert main(["eval", "score", "--benchmark", BENCHMARK, "--predictions", PREDICTIONS, "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["overall"] == {
        "points": 10,
        "possible": 15,
        "score": 10 / 15,
        "correct": 7,
        "count": 10,
        "accuracy": 0.7,
        "prohibited_picked": 1,  # 112B3's "a" (the fixture's kinki metadata)
        "prohibited_questions": 2,
    }
    assert {year: (s["points"], s["possible"], s["correct"], s["count"]) for year, s in scores["per_year"].items()} == {
        "2018": (9, 12, 6, 7),
        "2022": (1, 3, 1, 3),
    }


def test_score_robust_writes_per_question_rows(tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    argv = ["eval", "score", "--benchmark", BENCHMARK, "--predictions", PREDICTIONS, "--mode", "robust"]
    assert main([*argv, "--per-question", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["overall"]["points"] == 12
    rows = {row["qid"]: row for row in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert len(rows) == 10
    assert rows["116A2"] == {
        "qid": "116A2",
        "year": 2022,
        "extracted": "c,e",
        "correct": True,
        "points": 1,
        "possible": 1,
    }
    assert rows["112B2"]["correct"] and rows["112B2"]["points"] == 3  # "d" for gold "a or d"
    assert (rows["112A4"]["correct"], rows["112A4"]["points"]) == (True, 0)  # excluded: 0 points


def test_score_skip_images_and_years(capsys):
    argv = ["eval", "score", "--benchmark", BENCHMARK, "--predictions", PREDICTIONS, "--json"]
    assert main([*argv, "--skip-images", "--years", "2018"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["overall"] == {
        "points": 9,
        "possible": 9,
        "score": 1.0,
        "correct": 6,
        "count": 6,
        "accuracy": 1.0,
        "prohibited_picked": 0,  # the only prohibited pick was in the skipped image question
        "prohibited_questions": 1,
    }
    assert "skipped 1 question(s)" in captured.err and "4 prediction(s) name no benchmark question" in captured.err


def test_score_errors_are_one_line(tmp_path, capsys):
    assert main(["eval", "score", "--benchmark", BENCHMARK, "--predictions", str(tmp_path / "none.jsonl")]) == 2
    assert capsys.readouterr().err.strip() == f"medprefs: error: {tmp_path / 'none.jsonl'}: predictions file not found"
    other = tmp_path / "other.jsonl"
    other.write_text('{"qid": "999Z1", "prediction": "a"}\n', encoding="utf-8")
    assert main(["eval", "score", "--benchmark", BENCHMARK, "--predictions", str(other)]) == 2
    assert "no prediction names a question of" in capsys.readouterr().err


def _summary(plain: dict[str, str], explain: dict[str, str], prohibited: list[str] | None = None) -> dict:
    questions = [
        Question(qid="112A1", year=2018, stem="x", choices=["p", "q", "r"], answer=["a"], prohibited=prohibited or []),
        Question(qid="113A1", year=2019, stem="y", choices=["p", "q"], answer=["b"], points=3),
    ]
    reports = {"plain": score_predictions(questions, plain), "explain": score_predictions(questions, explain)}
    return build_summary(reports, EvalConfig(), {"model": "m", "adapter": None}, 2, 0)


def test_compare_prints_runs_side_by_side_as_markdown(tmp_path, capsys):
    write_json(tmp_path / "base" / "summary.json", _summary({"112A1": "a", "113A1": "b"}, {"112A1": "a"}))
    write_json(tmp_path / "rpo" / "summary.json", _summary({"112A1": "b", "113A1": "b"}, {"112A1": "b", "113A1": "b"}))
    out = tmp_path / "table.md"
    assert (
        main(["eval", "compare", str(tmp_path / "base"), str(tmp_path / "rpo" / "summary.json"), "--out", str(out)])
        == 0
    )
    assert out.read_text(encoding="utf-8").splitlines() == [
        "| run | prompt | 2018 | 2019 | overall |",
        "| --- | --- | --- | --- | --- |",
        "| base | plain | 1.000 | 1.000 | 1.000 |",
        "| base | explain | 1.000 | 0.000 | 0.250 |",
        "| base | gap | +0.000 | -1.000 | -0.750 |",
        "| rpo | plain | 0.000 | 1.000 | 0.750 |",
        "| rpo | explain | 0.000 | 1.000 | 0.750 |",
        "| rpo | gap | +0.000 | +0.000 | +0.000 |",
    ]
    err = capsys.readouterr().err
    assert "IgakuQA-style scores" in err and "different question sets" not in err
    write_json(tmp_path / "other" / "summary.json", _summary({}, {}) | {"scored_sha256": "another benchmark"})
    assert main(["eval", "compare", str(tmp_path / "base"), str(tmp_path / "other"), "--out", str(out)]) == 0
    assert "these runs scored different question sets" in capsys.readouterr().err
    # two runs in folders of the same name are told apart by their parents
    summary = _summary({"112A1": "a"}, {"112A1": "a"})
    write_json(tmp_path / "demo" / "eval" / "summary.json", summary)
    write_json(tmp_path / "cli" / "eval" / "summary.json", summary)
    assert main(["eval", "compare", str(tmp_path / "demo" / "eval"), str(tmp_path / "cli" / "eval"), "--out",
                 str(out)]) == 0
    runs = {line.split(" | ")[0].removeprefix("| ") for line in out.read_text(encoding="utf-8").splitlines()[2:]}
    assert runs == {"demo/eval", "cli/eval"}


def test_compare_labels_every_run_and_refuses_a_file_that_is_no_summary(tmp_path, monkeypatch, capsys):
    write_json(tmp_path / "base" / "summary.json", _summary({"112A1": "a"}, {"112A1": "a"}))
    write_json(tmp_path / "saved" / "rpo.json", _summary({"112A1": "b"}, {"112A1": "b"}))
    write_json(tmp_path / "saved" / "cpt.json", _summary({"112A1": "b"}, {"112A1": "a"}))
    monkeypatch.chdir(tmp_path / "base")  # summary.json named from inside its folder: its label was ""
    out = tmp_path / "table.md"
    assert main(["eval", "compare", "summary.json", "../saved/rpo.json", "../saved/cpt.json", "--out", str(out)]) == 0
    runs = [line.split(" | ")[0].removeprefix("| ") for line in out.read_text(encoding="utf-8").splitlines()[2:]]
    assert runs == ["base"] * 3 + ["rpo"] * 3 + ["cpt"] * 3  # two summaries in one folder were both "saved"
    write_json(tmp_path / "other.json", {"kind": "responses"})
    capsys.readouterr()
    assert main(["eval", "compare", "summary.json", str(tmp_path / "other.json")]) == 2
    assert capsys.readouterr().err.strip() == f"medprefs: error: {tmp_path / 'other.json'}: not an eval summary " \
        "(no 'modes' and 'score_mode'); give an eval run folder"


def test_compare_shows_prohibited_picks_beside_the_score_when_the_benchmark_marks_them(tmp_path):
    write_json(tmp_path / "base" / "summary.json", _summary({"112A1": "a"}, {"112A1": "c"}, prohibited=["c"]))
    write_json(tmp_path / "rpo" / "summary.json", _summary({"112A1": "c"}, {"112A1": "a"}, prohibited=["c"]))
    out = tmp_path / "table.md"
    assert main(["eval", "compare", str(tmp_path / "base"), str(tmp_path / "rpo"), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").splitlines() == [
        "| run | prompt | 2018 | 2019 | overall | prohibited |",
        "| --- | --- | --- | --- | --- | --- |",
        "| base | plain | 1.000 | 0.000 | 0.250 | 0/1 |",
        "| base | explain | 0.000 | 0.000 | 0.000 | 1/1 |",
        "| base | gap | -1.000 | +0.000 | -0.250 |  |",
        "| rpo | plain | 0.000 | 0.000 | 0.000 | 1/1 |",
        "| rpo | explain | 1.000 | 0.000 | 0.250 | 0/1 |",
        "| rpo | gap | +1.000 | +0.000 | +0.250 |  |",
    ]


@pytest.mark.slow
def test_run_on_the_tiny_model_and_the_sample_eval_side(tiny_model_dir, tmp_path, capsys):
    from medprefs.sample_data import sample_corpus_path

    out = tmp_path / "run"
    argv = ["eval", "run", "--model", str(tiny_model_dir), "--benchmark", str(sample_corpus_path())]
    assert main([*argv, "--years", "2018-2022", "--max-new-tokens", "6", "--skip-images", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["modes"]) == {"plain", "explain"} and summary["skipped_images"] == 1
    assert summary["questions"] == 21 and set(summary["gap"]["per_year"]) == {"2018", "2019", "2020", "2021", "2022"}
    plain, explain = (summary["modes"][mode]["overall"]["score"] for mode in ("plain", "explain"))
    assert summary["gap"]["overall"] == pytest.approx(explain - plain)
    for mode in ("plain", "explain"):
        assert len((out / f"predictions-{mode}.jsonl").read_text(encoding="utf-8").splitlines()) == 21
    err = capsys.readouterr().err
    assert "gap" in err and "skipped 1 question(s)" in err


def test_a_reversed_year_range_is_refused_not_read_as_every_year(capsys):
    argv = ["eval", "score", "--benchmark", BENCHMARK, "--predictions", PREDICTIONS, "--json"]
    with pytest.raises(SystemExit):
        main([*argv, "--years", "2022-2018"])
    assert "expected years like 2018-2022" in capsys.readouterr().err


def _scripted_completion(question: Question, mode: str) -> str:
    """Completions the two rules read differently: strict wins, robust only (a spaced list, prose, a full-width
    colon), or neither; chosen by the question's last digit so every kind of question gets several forms."""
    gold = question.gold_text()
    form = int(question.qid[-1]) % 4
    if mode == "plain":
        return [gold, " " + gold.replace(",", ", "), "わからない", f"答え: {gold}"][form]
    return [f" 解説。\n答え: {gold}", f" 解説。\n正解は{gold}である。", f" 解説。\n答え：{gold}", " 解説だけ。"][form]


@pytest.mark.parametrize("score_mode", ["strict", "robust"])
def test_eval_score_of_a_run_prediction_file_agrees_with_the_run(tmp_path, capsys, monkeypatch, score_mode):
    import medprefs.eval.run
    from medprefs.corpus import load_questions_any
    from medprefs.eval import run_eval
    from medprefs.sample_data import sample_corpus_path
    from medprefs.sampling import Completion

    benchmark = str(sample_corpus_path())
    questions = [q for q in load_questions_any(benchmark, None)[0] if q.year >= 2018]
    by_stem = {q.stem: q for q in questions}

    def scripted(self, prompts: list[str], stop_strings: list[str]) -> list[Completion]:
        mode = "plain" if "\n" in stop_strings else "explain"
        # the longest stem in the open target: one short stem ("…どれか。") is part of several longer ones
        targets = [by_stem[max((s for s in by_stem if s in p.rsplit("問題:", 1)[1]), key=len)] for p in prompts]
        return [Completion(_scripted_completion(q, mode), "stop", 1) for q in targets]

    monkeypatch.setattr(medprefs.eval.run._LazyGenerator, "__call__", scripted)
    result = run_eval("unused", questions, EvalConfig(score_mode=score_mode), tmp_path / "run")
    for mode in ("plain", "explain"):
        argv = ["eval", "score", "--benchmark", benchmark, "--years", "2018-2022", "--mode", score_mode, "--json"]
        assert main([*argv, "--predictions", str(tmp_path / "run" / f"predictions-{mode}.jsonl")]) == 0
        assert json.loads(capsys.readouterr().out) == result.summary["modes"][mode], mode
    modes = result.summary["modes"]
    assert 0 < modes["plain"]["overall"]["correct"] < len(questions)  # the script is neither all right nor all wrong
    read = (lambda qid: qid[-1] in "048") if score_mode == "strict" else (lambda qid: qid[-1] not in "37")
    assert modes["explain"]["overall"]["correct"] == sum(read(q.qid) for q in questions)


def test_years_asked_for_but_absent_are_named_not_silently_left_out_of_the_overall(capsys):
    argv = ["eval", "score", "--benchmark", BENCHMARK, "--predictions", PREDICTIONS, "--json"]
    assert main([*argv, "--years", "2018-2020"]) == 0
    captured = capsys.readouterr()
    assert set(json.loads(captured.out)["per_year"]) == {"2018"}
    assert "no question from 2019, 2020" in captured.err
