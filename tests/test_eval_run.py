"""`run_eval`: prompts, greedy generation with the tiny model, answer reading per format, resume, adapters, the gap."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medprefs.config import from_dict
from medprefs.corpus.question import Question
from medprefs.errors import InputError, MedprefsError
from medprefs.eval import EvalConfig, run_eval, score_predictions, stability_gap, strict_match
from medprefs.eval.answer_text import robust_text, strict_text
from medprefs.eval.shots import load_shots
from medprefs.manifest import sha256_bytes
from medprefs.prompts import build_prompt, load_template
from medprefs.sample_data import sample_corpus_path


def eval_side(qids: list[str] | None = None) -> list[Question]:
    """The embedded sample's 2018-2022 questions (numeric ones have no choices)."""
    rows = [json.loads(line) for line in sample_corpus_path().read_text(encoding="utf-8").splitlines() if line]
    questions = [
        Question.from_row(row | {"answer_kind": "choice" if row["choices"] else "numeric"})
        for row in rows
        if row["year"] >= 2018
    ]
    return [q for q in questions if qids is None or q.qid in qids]


def test_strict_text_reads_the_first_line_in_plain_and_the_last_answer_line_in_explain():
    assert strict_text(" a,c\n", "plain") == "a,c"
    assert strict_text(" a, c", "plain") == "a, c"  # inner spaces stay: the official rule then marks it wrong
    assert strict_text("a\n答え: b", "plain") == "a"
    explained = " 答え: aではなく所見からcを選ぶ。\n答え: c\n"
    assert strict_text(explained, "explain") == "c"
    assert strict_text(" 解説だけで終わった。", "explain") == ""
    assert robust_text("a\n答え: b", "plain") == "a" and robust_text(explained, "explain") == explained


def test_default_shots_and_igakuqa_field_names(tmp_path):
    shots = load_shots(None, 3, need_explanations=True)
    assert [s.qid for s in shots] == ["SHOT1", "SHOT2", "SHOT3"] and shots[1].answer == ["a", "c"]
    igakuqa = tmp_path / "prompt.jsonl"
    row = {"problem_text": "問題文。", "choices": ["甲", "乙"], "answer": "B", "explanation": "解説。"}
    igakuqa.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    (shot,) = load_shots(igakuqa, 1, need_explanations=True)
    assert (shot.stem, shot.answer, shot.explanation) == ("問題文。", ["b"], "解説。")
    with pytest.raises(MedprefsError, match="2 demonstrations asked for, the file holds 1"):
        load_shots(igakuqa, 2, need_explanations=False)
    igakuqa.write_text(json.dumps(row | {"explanation": ""}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert load_shots(igakuqa, 1, need_explanations=False)[0].explanation is None
    with pytest.raises(MedprefsError, match="has no explanation, which explain mode needs"):
        load_shots(igakuqa, 1, need_explanations=True)
    igakuqa.write_text('{"problem_text": "x", "answer": []}\n', encoding="utf-8")
    with pytest.raises(InputError, match="prompt.jsonl:1: field 'answer'"):
        load_shots(igakuqa, 1, need_explanations=False)


def test_stability_gap_is_explain_minus_plain_per_year_and_overall():
    questions = eval_side(["112B20", "112E30", "116B15"])  # 2018: 1 + 3 points, 2022: 3 points
    plain = score_predictions(questions, {"112B20": "e", "112E30": "d", "116B15": "c"}, "strict")
    explain = score_predictions(questions, {"112B20": "e", "112E30": "a", "116B15": "c"}, "strict")
    gap = stability_gap(plain, explain)
    assert gap["per_year"] == {"2018": pytest.approx(1 / 4 - 1.0), "2022": 0.0}
    assert gap["overall"] == pytest.approx(4 / 7 - 1.0)


def test_config_is_validated():
    with pytest.raises(MedprefsError, match="eval.shots must be >= 0"):
        EvalConfig(shots=-1)
    with pytest.raises(MedprefsError, match="eval.mode 'all'"):
        EvalConfig(mode="all")  # type: ignore[arg-type]
    assert EvalConfig(mode="both").prompt_modes == ["plain", "explain"]
    section = from_dict(EvalConfig, {"mode": "explain", "shots": 2, "score_mode": "robust"}, "eval")
    assert (section.prompt_modes, section.shots, section.score_mode) == (["explain"], 2, "robust")
    with pytest.raises(MedprefsError, match="eval: unknown key"):
        from_dict(EvalConfig, {"shot": 3}, "eval")


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_run_eval_both_modes_on_the_tiny_model(tiny_model_dir, tmp_path):
    questions = eval_side(["112A10", "112E30", "113C22", "116B15", "116D33"])
    config = EvalConfig(mode="both", max_new_tokens=12, batch_size=2, skip_images=True)
    result = run_eval(str(tiny_model_dir), questions, config, tmp_path / "run")
    assert result.skipped_images == 1  # 116D33 refers to an image
    assert {p.name for p in result.files} == {
        "predictions-plain.jsonl",
        "predictions-explain.jsonl",
        "summary.json",
        "report.md",
        "manifest.json",
    }
    shots = load_shots(None, 3, need_explanations=True)
    kept = questions[:4]
    for mode in ("plain", "explain"):
        rows = _rows(tmp_path / "run" / f"predictions-{mode}.jsonl")
        assert [r["qid"] for r in rows] == [q.qid for q in kept]
        for question, row in zip(kept, rows, strict=True):
            prompt = build_prompt(load_template(mode), question, shots)
            assert row["prompt_sha256"] == sha256_bytes(prompt.encode("utf-8"))
            assert row["answer_text"] == strict_text(row["raw"], mode)
            assert row["correct"] == strict_match(row["answer_text"], question)
            assert row["points"] == (question.points if row["correct"] else 0)
            assert 1 <= row["n_tokens"] <= 12
            if mode == "plain":
                assert "\n" not in row["raw"]  # the plain answer is one line: generation stops at the newline
        report = result.reports[mode]
        assert report.overall.points == sum(r["points"] for r in rows) and report.overall.possible == 1 + 3 + 1 + 3
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
    plain, explain = (summary["modes"][m]["overall"]["score"] for m in ("plain", "explain"))
    assert summary["gap"]["overall"] == pytest.approx(explain - plain)
    assert set(summary["gap"]["per_year"]) == {"2018", "2019", "2022"}
    assert summary["skipped_images"] == 1 and summary["questions"] == 4
    report_md = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert "gap = explain − plain" in report_md and f"| gap | {summary['gap']['per_year']['2018']:+.3f} |" in report_md
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "complete"


@pytest.mark.slow
def test_a_rerun_resumes_without_loading_the_model_and_a_changed_setting_regenerates(tiny_model_dir, tmp_path,
                                                                                     monkeypatch):
    import medprefs.eval.backends

    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    questions = eval_side(["112B20", "113C22", "115B5"])
    config = EvalConfig(mode="plain", max_new_tokens=6, batch_size=3)
    first = run_eval(str(model), questions, config, tmp_path / "run")
    path = tmp_path / "run" / "predictions-plain.jsonl"
    before = path.read_text(encoding="utf-8")

    def no_model(*args, **kwargs):
        raise MedprefsError("the model was loaded")

    # every completion is on disk: the rerun must not load the model
    monkeypatch.setattr(medprefs.eval.backends, "make_generator", no_model)
    second = run_eval(str(model), questions, config, tmp_path / "run")
    assert second.summary == first.summary and path.read_text(encoding="utf-8") == before
    with pytest.raises(MedprefsError, match="the model was loaded"):  # another max_new_tokens: regenerate
        run_eval(str(model), questions, EvalConfig(mode="plain", max_new_tokens=7), tmp_path / "run")


@pytest.mark.slow
def test_a_model_retrained_in_the_same_folder_is_evaluated_again(tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    model_dir = shutil.copytree(tiny_model_dir, tmp_path / "model")
    questions = eval_side(["112B20", "113C22", "115B5"])
    config = EvalConfig(mode="plain", max_new_tokens=6, batch_size=3)
    run_eval(str(model_dir), questions, config, tmp_path / "run")
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    torch.manual_seed(1)
    with torch.no_grad():  # new weights, same folder: what a rerun of training leaves behind
        for parameter in model.parameters():
            parameter.mul_(8.0).add_(torch.randn_like(parameter) * 0.5)
    model.save_pretrained(model_dir)
    rerun = run_eval(str(model_dir), questions, config, tmp_path / "run")
    fresh = run_eval(str(model_dir), questions, config, tmp_path / "fresh")
    raw = [[r["raw"] for r in _rows(out / "predictions-plain.jsonl")] for out in (tmp_path / "run", tmp_path / "fresh")]
    assert raw[0] == raw[1] and rerun.summary == fresh.summary


@pytest.mark.slow
def test_an_adapter_is_loaded_on_top_of_the_model(tiny_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    # LoRA's B matrices start at zero, so the adapter leaves every output unchanged: same greedy completions.
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    get_peft_model(base, lora).save_pretrained(tmp_path / "adapter")
    questions = eval_side(["112B20", "115B5"])
    config = EvalConfig(mode="plain", max_new_tokens=5)
    run_eval(str(tiny_model_dir), questions, config, tmp_path / "base")
    adapted = run_eval(str(tiny_model_dir), questions, config, tmp_path / "adapted", adapter=str(tmp_path / "adapter"))
    raw = [
        [r["raw"] for r in _rows(out / "predictions-plain.jsonl")] for out in (tmp_path / "base", tmp_path / "adapted")
    ]
    assert raw[0] == raw[1] and adapted.summary["adapter"] == str(tmp_path / "adapter")
    with pytest.raises(MedprefsError, match="not a PEFT adapter folder"):
        run_eval(str(tiny_model_dir), questions, config, tmp_path / "bad", adapter=str(tmp_path))


def test_a_demonstration_that_is_a_benchmark_question_is_refused(tmp_path):
    shots_file = tmp_path / "shots.jsonl"
    (question,) = eval_side(["112B20"])
    row = {"qid": "S", "stem": question.stem, "choices": question.choices, "answer": ["e"], "explanation": "x"}
    shots_file.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    config = EvalConfig(mode="plain", shots=1, shots_file=str(shots_file))
    with pytest.raises(MedprefsError, match="demonstration S is benchmark question 112B20"):
        run_eval("unused", [question], config, tmp_path / "run")


def test_another_stages_folder_is_never_written_over(tmp_path):
    (question,) = eval_side(["112B20"])
    config = EvalConfig(mode="plain", max_new_tokens=2)
    responses = tmp_path / "responses"
    responses.mkdir()
    (responses / "manifest.json").write_text('{"kind": "responses"}', encoding="utf-8")
    with pytest.raises(MedprefsError, match="holds a 'responses' manifest"):
        run_eval("unused", [question], config, responses)
    assert json.loads((responses / "manifest.json").read_text(encoding="utf-8")) == {"kind": "responses"}
    run_dir = tmp_path / "pipeline-run"  # a `medprefs run` folder: its summary.json is not the eval's to delete
    run_dir.mkdir()
    (run_dir / "summary.json").write_text("{}", encoding="utf-8")
    with pytest.raises(MedprefsError, match="is not an eval run"):
        run_eval("unused", [question], config, run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == ["summary.json"]


@pytest.mark.slow
def test_left_padded_batches_give_the_same_greedy_text_as_one_prompt_at_a_time(tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    # The fresh tiny model repeats one token whatever the prompt; scaled and jittered weights make completions
    # differ per prompt, so a padding or attention-mask mistake would show.
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(8.0).add_(torch.randn_like(parameter) * 0.5)
    varied = shutil.copytree(tiny_model_dir, tmp_path / "varied")
    model.save_pretrained(varied)
    questions = eval_side(["112A10", "113C22", "115B5", "116B15"])  # prompts of different lengths
    raw = []
    for batch_size in (1, 4):
        config = EvalConfig(mode="explain", max_new_tokens=8, batch_size=batch_size)
        run_eval(str(varied), questions, config, tmp_path / f"b{batch_size}")
        raw.append([r["raw"] for r in _rows(tmp_path / f"b{batch_size}" / "predictions-explain.jsonl")])
    assert raw[0] == raw[1] and len(set(raw[0])) == 4


def test_what_a_score_is_out_of_includes_the_prohibited_choices_only_where_marked():
    from medprefs.corpus.question import Question
    from medprefs.eval.run import scored_sha256

    plain = Question(qid="112A1", year=2018, stem="x", choices=["p", "q", "r"], answer=["a"])
    marked = Question(qid="112A1", year=2018, stem="x", choices=["p", "q", "r"], answer=["a"], prohibited=["c"])
    other = Question(qid="112A1", year=2018, stem="x", choices=["p", "q", "r"], answer=["a"], prohibited=["b"])
    assert len({scored_sha256([q]) for q in (plain, marked, other)}) == 3
    # the hash of an unmarked benchmark is the one runs recorded before prohibited choices were counted
    from medprefs.manifest import canonical_json, sha256_bytes

    assert scored_sha256([plain]) == sha256_bytes(canonical_json([["112A1", [["a"]], 1]]).encode("utf-8"))
