"""The paper's explain template and IgakuQA's plain template, and exemplar choice."""

from __future__ import annotations

from medprefs.corpus.question import Question
from medprefs.prompts import build_prompt, choose_exemplars, completion_text, load_template


def _q(qid: str, answer=("a",), **kw) -> Question:
    base = dict(qid=qid, year=2015, stem=f"{qid}の問題。正しいのはどれか。", choices=["甲", "乙", "丙", "丁", "戊"],
                answer=list(answer), explanation=f"{qid}の解説。")
    base.update(kw)
    return Question(**base)


def test_explain_prompt_has_shots_then_open_target():
    shots = [_q("105A1"), _q("105A2", answer=("b", "d"))]
    target = _q("105A3")
    prompt = build_prompt(load_template("explain"), target, shots)
    assert prompt.endswith("問題: 105A3の問題。正しいのはどれか。\na: 甲\nb: 乙\nc: 丙\nd: 丁\ne: 戊\n解説:")
    assert "解説: 105A2の解説。\n答え: b,d\n" in prompt
    assert prompt.count("問題:") == 3 and "105A3の解説" not in prompt


def test_plain_prompt_asks_for_exactly_n_answers_and_numeric_shows_only_the_stem():
    two = _q("105A4", answer=("a", "c"))
    numeric = _q("105A5", choices=[], answer=("21",), answer_kind="numeric")
    prompt = build_prompt(load_template("plain"), two, [numeric])
    assert "必ずa,b,c,d,eの中からちょうど2個選んでください。\n答え:" in prompt
    assert "問題: 105A5の問題。正しいのはどれか。\n答え: 21\n" in prompt


def test_a_key_with_alternatives_is_written_as_its_first_option_which_grades_correct():
    from medprefs.answers import extract_answer, grade

    question = _q("105A6", accepted=[["a"], ["d"]])
    assert question.gold_text() == "a"
    # what exemplars, CPT documents and ground-truth responses say must be what grading accepts, not a hedge
    extraction = extract_answer(completion_text("解説。", question.gold_text()), question)
    assert extraction.status == "ok" and grade(extraction, question)


def test_completion_text_matches_the_template_continuation():
    q = _q("105A7")
    template = load_template("explain")
    full = template.render(q, explanation=q.explanation, answer=q.gold_text())
    open_part = template.render(q, explanation=None, answer=None)
    assert open_part + completion_text(q.explanation, q.gold_text()) + "\n" == full


def test_exemplars_are_deterministic_and_never_the_target():
    pool = [_q(f"106B{i}") for i in range(1, 12)] + [_q("106B99", explanation=None)]
    first = choose_exemplars(pool, "106B3", 3, seed=7)
    assert [q.qid for q in first] == [q.qid for q in choose_exemplars(pool, "106B3", 3, seed=7)]
    assert all(q.qid not in {"106B3", "106B99"} for q in first)
    others = {tuple(q.qid for q in choose_exemplars(pool, "106B3", 3, seed=s)) for s in range(10)}
    assert len(others) > 1
