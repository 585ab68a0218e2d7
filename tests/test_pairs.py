"""Preference pairs: the hierarchy GT > chosen > rejected, caps, dedup, edge cases, the split, the folder."""

from __future__ import annotations

import random
import unicodedata
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medprefs.config import from_dict
from medprefs.corpus.question import Question
from medprefs.errors import MedprefsError
from medprefs.labeling import label_responses, write_labels
from medprefs.pairs import (
    PAIR_TYPES,
    RANK,
    PairsConfig,
    build_pairs,
    dedup_keys,
    read_pairs,
    write_pairs,
)
from medprefs.pairs.build import cross_pairs
from medprefs.prompts import build_prompt, completion_text, load_template

TEMPLATE = load_template("explain")


def question(qid: str, answer=("c",), explanation: str | None = "説明文。", points: int = 1, year: int = 2010):
    return Question(qid=qid, year=year, stem=f"{qid}の問題", choices=["x"] * 5, answer=list(answer),
                    explanation=explanation, points=points)


def responses_for(questions: list[Question], texts: dict[str, list[str]]) -> pl.DataFrame:
    rows = []
    for q in questions:
        prompt = build_prompt(TEMPLATE, q, [])
        rows += [(q.qid, i, prompt, text) for i, text in enumerate(texts.get(q.qid, []))]
    return pl.DataFrame(rows, schema={"qid": pl.String(), "sample_idx": pl.Int64(), "prompt": pl.String(),
                                      "text": pl.String()}, orient="row").with_columns(
        pl.lit("stop").alias("finish_reason"), pl.lit(10).alias("n_tokens"))


def run(questions, texts, **config):
    responses = responses_for(questions, texts)
    labels = label_responses(responses, questions, show_progress=False)
    return build_pairs(questions, responses, labels, PairsConfig(**({"validation_fraction": 0.0} | config)))


def answer(letter: str, note: str = "") -> str:
    return completion_text(f"理由{note}。", letter)


def test_ground_truth_response_and_pair_types():
    q = question("Q1", explanation="肺炎球菌が最多。")
    result = run([q], {"Q1": [answer("c", "1"), answer("a", "2"), answer("c", "3"), " わかりません"]})
    rows = result.train
    assert set(rows["pair_type"]) == set(PAIR_TYPES)
    gt = completion_text("肺炎球菌が最多。", "c")
    assert set(rows.filter(pl.col("pair_type").str.starts_with("gt"))["chosen"]) == {gt}
    assert rows["prompt"].to_list() == [build_prompt(TEMPLATE, q, [])] * len(rows)
    assert rows.columns == ["prompt", "chosen", "rejected", "qid", "pair_type", "year"]
    by_type = rows.group_by("pair_type").len().sort("pair_type").rows()
    # 2 correct, 2 wrong (one unparseable, used as rejected): 2 gt>chosen, 2 gt>rejected, min(4, 2*2) chosen>rejected
    assert by_type == [("chosen>rejected", 4), ("gt>chosen", 2), ("gt>rejected", 2)]
    assert result.counts["by_type"] == {"gt>chosen": 2, "gt>rejected": 2, "chosen>rejected": 4}
    assert result.counts["by_year"] == {"2010": {"chosen>rejected": 4, "gt>chosen": 2, "gt>rejected": 2}}


def test_caps_per_question_and_type_are_deterministic():
    qs = [question(f"Q{i}") for i in range(3)]
    texts = {q.qid: [answer("c", f"c{j}") for j in range(6)] + [answer("b", f"w{j}") for j in range(5)] for q in qs}
    first = run(qs, texts, max_per_type=3, seed=7)
    assert first.train.group_by("qid", "pair_type").len()["len"].to_list() == [3] * 9
    assert first.train.equals(run(qs, texts, max_per_type=3, seed=7).train)
    assert not first.train.equals(run(qs, texts, max_per_type=3, seed=8).train)
    pairs = first.train.select("qid", "chosen", "rejected")
    assert pairs.is_duplicated().sum() == 0


def test_identical_texts_after_normalisation_are_deduplicated():
    q = question("Q1")
    same = [answer("c", "A"), " 理由Ａ。\n答え:  c", "理由A。 \n\n答え: c "]  # width and whitespace variants
    result = run([q], {"Q1": [*same, answer("b", "w")]}, max_per_type=10)
    assert result.counts["skipped"]["duplicate_responses"] == 2
    assert result.counts["by_type"] == {"gt>chosen": 1, "gt>rejected": 1, "chosen>rejected": 1}
    assert result.train.filter(pl.col("pair_type") == "gt>chosen")["rejected"].to_list() == [same[0]]


def test_every_response_is_accounted_for():
    questions = [question("Q1"), question("Q2", points=0), question("Q3")]
    texts = {"Q1": [answer("c"), " 理由。\n答え:  ｃ", answer("a"), " わかりません"], "Q2": [answer("b")],
             "Q3": [answer("c", "x"), "答え: aまたはb"]}
    counts = run(questions, texts, unparseable="drop").counts
    skipped = counts["skipped"]
    assert counts["responses"] == {"read": 7, "pooled": 3}
    assert skipped["excluded_responses"] == 1 and skipped["duplicate_responses"] == 1
    assert skipped["dropped_unreadable"] == 2
    assert counts["responses"]["read"] == counts["responses"]["pooled"] + sum(
        skipped[k] for k in ("excluded_responses", "duplicate_responses", "dropped_unreadable")
    )


def test_every_question_is_accounted_for():
    # UNREAD was answered, but only unreadably: it has no pairs, yet it is not a question without responses
    questions = [question("OK"), question("UNREAD"), question("NONE"), question("ZERO", points=0)]
    texts = {"OK": [answer("c"), answer("a")], "UNREAD": [" わかりません", " 説明\n答え: aまたはb"], "ZERO": [answer("c")]}
    counts = run(questions, texts, unparseable="drop").counts
    assert counts["questions"] == {"train": 1, "validation": 0, "without_pairs": 1}
    skipped = counts["skipped"]
    assert skipped["questions_without_responses"] == 1 and skipped["excluded_questions"] == 1
    assert len(questions) == sum(counts["questions"].values()) + sum(
        skipped[k] for k in ("questions_without_responses", "excluded_questions")
    )


def test_no_pair_has_the_same_text_on_both_sides():
    q = question("Q1", explanation="肺炎球菌が最多。")
    copy_of_gt = " 肺炎球菌が最多。 \n答え:  ｃ"  # the model reproduced the ground truth
    result = run([q], {"Q1": [copy_of_gt, answer("a")]}, max_per_type=10)
    assert result.counts["by_type"] == {"gt>chosen": 0, "gt>rejected": 1, "chosen>rejected": 1}
    both = result.train
    assert (dedup_keys(both["chosen"]) != dedup_keys(both["rejected"])).all()


def test_question_without_explanation_gives_no_gt_pairs():
    result = run([question("Q1", explanation=None), question("Q2", explanation="  ")],
                 {"Q1": [answer("c"), answer("a")], "Q2": [answer("c"), answer("a")]})
    assert set(result.train["pair_type"]) == {"chosen>rejected"}
    assert result.counts["skipped"]["questions_without_explanation"] == 2


def test_all_correct_and_all_wrong_questions_give_only_what_they_can():
    qs = [question("RIGHT"), question("WRONG")]
    result = run(qs, {"RIGHT": [answer("c", "1"), answer("c", "2")], "WRONG": [answer("a", "1"), answer("b", "2")]})
    kinds = result.train.group_by("qid").agg(pl.col("pair_type").unique().sort()).sort("qid").rows()
    assert kinds == [("RIGHT", ["gt>chosen"]), ("WRONG", ["gt>rejected"])]


def test_zero_point_questions_and_questions_without_responses_give_nothing():
    qs = [question("Q0", points=0), question("Q1"), question("Q2")]
    result = run(qs, {"Q0": [answer("c"), answer("a")], "Q1": [answer("c"), answer("a")]})
    assert set(result.train["qid"]) == {"Q1"}
    skipped = result.counts["skipped"]
    assert skipped["excluded_questions"] == 1 and skipped["excluded_responses"] == 2
    assert skipped["questions_without_responses"] == 1


def test_unparseable_policy():
    texts = {"Q1": [answer("c"), " 答え: わからない", " 説明\n答え: aまたはc"]}
    kept = run([question("Q1")], texts)
    assert kept.counts["by_type"]["gt>rejected"] == 2 and kept.counts["skipped"]["dropped_unreadable"] == 0
    dropped = run([question("Q1")], texts, unparseable="drop")
    assert dropped.counts["by_type"] == {"gt>chosen": 1, "gt>rejected": 0, "chosen>rejected": 0}
    assert dropped.counts["skipped"]["dropped_unreadable"] == 2


def test_split_is_by_question_and_conversational_format():
    qs = [question(f"Q{i:03d}", year=2000 + i % 5) for i in range(60)]
    texts = {q.qid: [answer("c", "1"), answer("a", "2")] for q in qs}
    result = run(qs, texts, validation_fraction=0.2, conversational=True)
    train_q, val_q = set(result.train["qid"]), set(result.validation["qid"])
    assert not train_q & val_q and len(val_q) == 12 and len(train_q) == 48
    first = result.train.filter(pl.col("pair_type") == "chosen>rejected").row(0, named=True)
    assert first["prompt"][0]["role"] == "user" and first["chosen"][0]["role"] == "assistant"
    assert first["chosen"][0]["content"] == answer("c", "1")
    assert first["rejected"] == [{"role": "assistant", "content": answer("a", "2")}]


def test_mismatched_labels_and_prompts_are_clear_errors():
    qs = [question("Q1")]
    responses = responses_for(qs, {"Q1": [answer("c"), answer("a")]})
    labels = label_responses(responses, qs, show_progress=False)
    with pytest.raises(MedprefsError, match="labels do not match responses"):
        build_pairs(qs, responses, labels.head(1), PairsConfig())
    other_prompt = responses.with_columns(pl.when(pl.col("sample_idx") == 1).then(pl.lit("x")).otherwise("prompt")
                                          .alias("prompt"))
    with pytest.raises(MedprefsError, match="different prompts"):
        build_pairs(qs, other_prompt, labels, PairsConfig())
    with pytest.raises(MedprefsError, match="responses: missing column.*prompt"):
        build_pairs(qs, responses.drop("prompt"), labels, PairsConfig())


def test_config_validation_and_loading():
    with pytest.raises(MedprefsError, match="max_per_type"):
        PairsConfig(max_per_type=0)
    with pytest.raises(MedprefsError, match="validation_fraction"):
        PairsConfig(validation_fraction=1.0)
    with pytest.raises(MedprefsError, match="not one of"):
        from_dict(PairsConfig, {"unparseable": "keep"}, "pairs")
    with pytest.raises(MedprefsError, match="unknown key"):
        from_dict(PairsConfig, {"max_per_typ": 3}, "pairs")
    assert from_dict(PairsConfig, {"max_per_type": 2, "validation_fraction": 0}, "pairs").max_per_type == 2


def test_write_and_read_the_dataset_folder(tmp_path):
    qs = [question(f"Q{i}") for i in range(10)]
    responses = responses_for(qs, {q.qid: [answer("c"), answer("b")] for q in qs})
    labels = label_responses(responses, qs, show_progress=False)
    write_labels(labels, tmp_path / "labels", {})
    result = build_pairs(qs, responses, labels, PairsConfig(validation_fraction=0.3))
    leakage = {"verdict": "pass", "report_sha256": "f" * 64, "cutoff_year": 2017, "flagged": 0, "override": None}
    out = write_pairs(result, tmp_path / "ds", {"corpus": {"version_id": "v1"}}, leakage)
    train, validation, manifest = read_pairs(out)
    assert train.equals(result.train) and validation.equals(result.validation)
    assert manifest["kind"] == "pairs" and manifest["leakage"] == leakage
    assert manifest["counts"]["train"] == len(train) and manifest["counts"]["validation"] == len(validation) == 9
    assert manifest["sources"] == {"corpus": {"version_id": "v1"}} and manifest["config"]["max_per_type"] == 4
    with pytest.raises(MedprefsError, match="not a preference dataset"):
        read_pairs(tmp_path)
    with pytest.raises(MedprefsError, match="holds a 'labels' manifest, not pairs"):
        write_pairs(result, tmp_path / "labels", {}, leakage)  # --out naming the labels folder by mistake
    assert not (tmp_path / "labels/data").exists()
    (out / "data/validation.parquet").write_bytes(b"not parquet")
    with pytest.raises(MedprefsError, match="validation.parquet: not a readable Parquet file"):
        read_pairs(out)


def test_cross_pairs_are_distinct_and_spread():
    rng = random.Random(0)
    for n_chosen, n_rejected, k in [(2, 2, 4), (2, 2, 9), (1, 5, 3), (5, 1, 3), (3, 4, 5)]:
        pairs = cross_pairs(list(range(n_chosen)), list(range(10, 10 + n_rejected)), k, rng)
        assert len(pairs) == len(set(pairs)) == min(k, n_chosen * n_rejected)
        first = pairs[: min(n_chosen, n_rejected)]
        assert len({c for c, _ in first}) == len({r for _, r in first}) == len(first)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="aＡ　 \n\t答えｃc肺炎（）()①カｶ", max_size=20), st.text(alphabet="aＡ \n答えc①ｶ", max_size=20))
def test_dedup_keys_match_full_normalisation(left, right):
    def reference(text: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", text).split())

    keys = dedup_keys(pl.Series([left, right]))
    assert (keys[0] == keys[1]) == (reference(left) == reference(right))


@settings(max_examples=40, deadline=None)
@given(
    outcomes=st.lists(st.lists(st.sampled_from(["c", "a", "b", "?", "c"]), max_size=8), min_size=1, max_size=12),
    has_explanation=st.lists(st.booleans(), min_size=12, max_size=12),
    max_per_type=st.integers(1, 5),
    fraction=st.sampled_from([0.0, 0.3, 0.5]),
    seed=st.integers(0, 3),
    unparseable=st.sampled_from(["rejected", "drop"]),
)
def test_every_pair_respects_the_hierarchy(outcomes, has_explanation, max_per_type, fraction, seed, unparseable):
    qs = [question(f"Q{i}", explanation="根拠。" if has_explanation[i] else None) for i in range(len(outcomes))]
    texts = {q.qid: [" わからない" if o == "?" else answer(o, str(j)) for j, o in enumerate(outcomes[i])]
             for i, q in enumerate(qs)}
    result = run(qs, texts, max_per_type=max_per_type, validation_fraction=fraction, seed=seed, unparseable=unparseable)
    rank = {completion_text("根拠。", "c"): RANK["gt"]}
    for text in (t for ts in texts.values() for t in ts):
        rank.setdefault(text, RANK["chosen"] if text.endswith("答え: c") else RANK["rejected"])
    rows = pl.concat([result.train, result.validation])
    for chosen, rejected, pair_type in rows.select("chosen", "rejected", "pair_type").iter_rows():
        assert rank[chosen] > rank[rejected]
        upper, lower = pair_type.split(">")
        assert (rank[chosen], rank[rejected]) == (RANK[upper], RANK[lower])
    assert not set(result.train["qid"]) & set(result.validation["qid"])
    assert (rows.group_by("qid", "pair_type").len()["len"].max() or 0) <= max_per_type


def _corpus_api_ready() -> bool:
    import importlib

    return hasattr(importlib.import_module("medprefs.corpus"), "load_corpus")


@pytest.mark.slow
@pytest.mark.skipif(not _corpus_api_ready(), reason="medprefs.corpus.load_corpus is not exported yet")
def test_label_pairs_audit_cli_end_to_end(tiny_model_dir, tmp_path, monkeypatch, capsys):
    """Real stages: ingest the sample corpus, sample with the tiny model, then label -> pairs build -> audit."""
    import json as json_module

    from medprefs.cli import main
    from medprefs.corpus import load_corpus
    from medprefs.corpus.ingest import IngestConfig, ingest
    from medprefs.manifest import read_manifest, sha256_file, write_json
    from medprefs.sampling import SampleConfig, load_responses, run_sampling

    monkeypatch.setenv("MEDPREFS_CACHE", str(tmp_path / "hash-cache"))
    store = tmp_path / "store"
    ingest(IngestConfig(store=str(store), name="jmle", tag="v1"))
    corpus = load_corpus("jmle@v1", store)
    train = [q for q in corpus.questions if q.year <= 2017]
    config = SampleConfig(n=3, max_new_tokens=12, batch_size=4, questions_per_shard=4, seed=3, shots=1)
    run_sampling(train[:6], train, str(tiny_model_dir), config, tmp_path / "responses", corpus.ref)

    args = ["label", str(tmp_path / "responses"), "--corpus", "jmle@v1", "--store", str(store),
            "--out", str(tmp_path / "labels"), "--json"]
    assert main(args) == 0
    counts = json_module.loads(capsys.readouterr().out)
    responses, _ = load_responses(tmp_path / "responses")
    assert counts["responses"] == len(responses) == 18 and counts["questions"] == 6
    labels_manifest = read_manifest(tmp_path / "labels")
    assert labels_manifest["corpus"]["version_id"] == corpus.version_id
    assert labels_manifest["responses"]["manifest_sha256"] == sha256_file(tmp_path / "responses/manifest.json")

    record = {"verdict": "pass", "report_sha256": "b" * 64, "cutoff_year": 2017, "flagged": 0, "override": None}
    write_json(tmp_path / "gate.json", record)
    args = ["pairs", "build", "--labels", str(tmp_path / "labels"), "--corpus", "jmle@v1", "--store", str(store),
            "--out", str(tmp_path / "dataset"), "--max-per-type", "2", "--validation-fraction", "0.34",
            "--leakage-report", str(tmp_path / "gate.json"), "--json"]
    assert main(args) == 0
    pair_counts = json_module.loads(capsys.readouterr().out)
    train_rows, validation_rows, manifest = read_pairs(tmp_path / "dataset")
    assert manifest["kind"] == "pairs" and manifest["leakage"] == record
    assert manifest["counts"] == pair_counts and pair_counts["pairs"] == len(train_rows) + len(validation_rows)
    assert manifest["sources"]["corpus"]["version_id"] == corpus.version_id
    assert manifest["sources"]["labels"]["sha256"] == sha256_file(tmp_path / "labels/labels.parquet")
    assert manifest["sources"]["responses"] == labels_manifest["responses"]
    assert not set(train_rows["qid"]) & set(validation_rows["qid"])
    prompts = dict(responses.select("qid", "prompt").unique().iter_rows())
    assert all(prompts[qid] == prompt for qid, prompt in train_rows.select("qid", "prompt").iter_rows())

    assert main(["audit", str(tmp_path / "dataset"), "--out", str(tmp_path / "audit")]) == 0
    assert "label distribution" in (tmp_path / "audit/report.html").read_text()  # labels found via the manifest

    args[args.index("--labels") + 1] = str(tmp_path / "nowhere")
    assert main(args) == 2
    assert "not a labels folder" in capsys.readouterr().err

    # A real report is checked against the corpus: this corpus's own scan is taken (it fails: eval years inside),
    # the passing report of another corpus is refused.
    fixtures = Path(__file__).parent / "fixtures" / "leakage"
    scan_args = ["leakage", "scan", "--eval", str(fixtures / "eval.jsonl"), "--store", str(store), "--report"]
    assert main([*scan_args, str(tmp_path / "own"), "--train", "jmle@v1"]) == 1  # exit 1: the verdict is fail
    assert main([*scan_args, str(tmp_path / "other"), "--train", str(fixtures / "distinct.jsonl")]) == 0
    capsys.readouterr()
    args[args.index("--labels") + 1] = str(tmp_path / "labels")
    args[args.index("--leakage-report") + 1] = str(tmp_path / "other" / "report.json")
    assert main(args) == 2
    assert "not for the corpus the pairs are built from" in " ".join(capsys.readouterr().err.split())
    args[args.index("--leakage-report") + 1] = str(tmp_path / "own" / "report.json")
    assert main(args) == 0
    assert read_pairs(tmp_path / "dataset")[2]["leakage"]["verdict"] == "fail"


@pytest.mark.parametrize(("questions", "fraction", "validation_questions"), [(1, 0.5, 0), (1, 0.9, 0), (2, 0.9, 1),
                                                                              (10, 0.3, 3), (10, 0.01, 1)])
def test_training_is_never_left_empty_by_the_validation_split(questions, fraction, validation_questions):
    qs = [question(f"Q{i}") for i in range(questions)]
    result = run(qs, {q.qid: [answer("c"), answer("b")] for q in qs}, validation_fraction=fraction)
    assert result.validation["qid"].n_unique() == validation_questions
    assert result.train["qid"].n_unique() == questions - validation_questions
