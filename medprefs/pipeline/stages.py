"""Each pipeline stage as one function over the run's state: it calls the stage's public API and says what it made."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medprefs.corpus.question import Question
from medprefs.pipeline.config import PipelineConfig


@dataclass
class StageOutput:
    """What a stage produced: where, which version/revision, how many rows, and a few figures worth showing."""

    path: str | None = None
    version: str | None = None
    rows: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunState:
    """What later stages need from earlier ones; filled in as the run goes."""

    config: PipelineConfig
    out: Path
    base_model: str = ""
    base_revision: str | None = None  # [model] revision, resolved to a commit sha: training loads and records it
    base_weights: str = ""  # for loaders without a revision argument: base_model, or its snapshot at base_revision
    corpus_ref: str = ""
    train_ref: str = ""
    eval_questions: list[Question] = field(default_factory=list)
    train_version: Any = None
    sampling_model: str = ""
    policy_base: str = ""  # the weights RPO's adapter sits on: the base, or a fully fine-tuned CPT model
    cpt_dir: Path | None = None
    rpo_dir: Path | None = None
    responses_dir: Path | None = None
    labels_dir: Path | None = None
    pairs_dir: Path | None = None
    pairs_ref: str = ""

    @property
    def store(self) -> Path:
        return self.out / "store"


def prepare_model(state: RunState) -> StageOutput:
    """The base model: the configured one, or a tiny Qwen2 whose tokenizer is trained on the corpus text (demo)."""
    section = state.config.model
    if section.base is not None:
        state.base_model = state.base_weights = section.base
        if section.revision is not None and not Path(section.base).exists():
            from medprefs.sampling import hub_snapshot

            folder, state.base_revision = hub_snapshot(f"{section.base}@{section.revision}")
            state.base_weights = str(folder)
        return StageOutput(path=state.base_weights, version=state.base_revision)
    from medprefs.sample_data import corpus_texts
    from medprefs.tinymodel import build_tiny_model

    target = state.out / "model"
    if not (target / "config.json").is_file():
        paths = [Path(p) for p in state.config.corpus.paths if p.endswith(".jsonl")]
        texts = [text for path in paths for text in corpus_texts(path)] if paths else corpus_texts()
        build_tiny_model(target, texts + ["問題: 解説: 答え: 必ずちょうど個選んでください。"] * 20, section.tiny)
    state.base_model = state.base_weights = str(target)
    return StageOutput(path=str(target), detail={"tiny": True})


def ingest(state: RunState) -> StageOutput:
    from medprefs.corpus import ingest as ingest_corpus

    config = replace(state.config.corpus, store=str(state.store))
    outcome = ingest_corpus(config)
    state.corpus_ref = f"{outcome.name}@{outcome.version_id}"
    return StageOutput(
        path=str(outcome.version_dir),
        version=outcome.version_id,
        rows=outcome.accepted,
        detail={"read": outcome.read, "rejected": outcome.rejected, "rejects_file": _str(outcome.rejects_file)},
    )


def leakage(state: RunState) -> StageOutput:
    """Year split, then the content scan of the training side against the evaluation side; flagged items are
    dropped into a new, passing corpus version (kept aside with reasons), which is what training may use."""
    from medprefs.corpus import load_corpus
    from medprefs.leakage import filter_and_store, split_by_year

    config = state.config.leakage
    version = load_corpus(state.corpus_ref, state.store)
    _, evaluation, _ = split_by_year(version.questions, config)
    outcome = filter_and_store(
        state.corpus_ref, evaluation, config, store=state.store, tag="train", report_dir=state.out / "leakage"
    )
    state.eval_questions = evaluation
    state.train_ref = f"{version.name}@{outcome.version_id}"
    state.train_version = load_corpus(state.train_ref, state.store)
    # The corpus holds both sides; an evaluation question matches itself, so it is counted among the year drops only.
    content_rules, eval_qids = {"near_duplicate", "containment"}, {q.qid for q in evaluation}
    flagged = outcome.report.flagged
    leaked = sorted({f.train_qid for f in flagged if f.rule in content_rules and f.train_qid not in eval_qids})
    after_cutoff = len({f.train_qid for f in flagged if f.rule == "year"})
    return StageOutput(
        path=str(outcome.report_paths.html),
        version=outcome.version_id,
        rows=len(outcome.filtered.kept),
        detail={
            "verdict_before_filter": outcome.report.verdict,
            "verdict": outcome.rescan.verdict,
            "dropped": len(outcome.filtered.dropped),
            "after_cutoff_dropped": after_cutoff,
            "content_flagged_train_qids": leaked,
            "eval_questions": len(evaluation),
            "report_sha256": outcome.rescan.report_sha256,
        },
    )


def cpt(state: RunState) -> StageOutput:
    from medprefs.train import resolve_cpt_inputs, train_cpt

    config = replace(
        state.config.cpt, data=state.train_ref, corpus_store=str(state.store), output_dir=str(state.out / "cpt")
    )
    inputs = resolve_cpt_inputs(config.data, config.text_corpora, config.corpus_store)
    result = train_cpt(config, base_model=state.base_model, revision=state.base_revision, documents=inputs.documents,
                       lineage=inputs.lineage, resume=True)
    state.cpt_dir = result.output_dir
    state.sampling_model = _sampling_model(state, result.output_dir)
    state.policy_base = state.base_weights if _is_adapter(result.output_dir) else str(result.output_dir)
    return StageOutput(path=str(result.output_dir), version=state.train_ref, rows=len(inputs.documents),
                       detail=_losses(result))


def sample(state: RunState) -> StageOutput:
    from medprefs.sampling import run_sampling

    questions = state.train_version.questions
    result = run_sampling(
        questions,
        questions,
        state.sampling_model or state.base_weights,
        state.config.sample,
        state.out / "responses",
        corpus_version=state.train_ref,
    )
    state.responses_dir = result.out_dir
    return StageOutput(
        path=str(result.out_dir),
        version=state.train_ref,
        rows=len(questions) * state.config.sample.n,
        detail={"shards_written": result.shards_written, "shards_skipped": result.shards_skipped},
    )


def label(state: RunState) -> StageOutput:
    from medprefs.labeling import label_counts, label_responses, labels_provenance, write_labels
    from medprefs.sampling import load_responses

    responses, _ = load_responses(state.responses_dir)
    labels = label_responses(responses, state.train_version.questions)
    provenance = labels_provenance(state.responses_dir, state.train_ref, state.train_version)
    state.labels_dir = write_labels(labels, state.out / "labels", provenance)
    counts = label_counts(labels)
    return StageOutput(path=str(state.labels_dir), version=state.train_ref, rows=labels.height, detail=counts)


def pairs(state: RunState) -> StageOutput:
    from medprefs.audit import audit
    from medprefs.labeling import read_labels
    from medprefs.leakage import version_gate
    from medprefs.pairs import build_pairs, pairs_sources, write_pairs
    from medprefs.sampling import load_responses

    responses, _ = load_responses(state.responses_dir)
    labels, labels_manifest = read_labels(state.labels_dir)
    result = build_pairs(state.train_version.questions, responses, labels, state.config.pairs)
    sources = pairs_sources(state.train_version, state.labels_dir, labels_manifest)
    gate = version_gate(state.train_version.path, state.train_version.manifest)
    state.pairs_dir = write_pairs(result, state.out / "pairs", sources, gate)
    report = audit(state.pairs_dir, state.out / "audit", labels_dir=state.labels_dir)
    return StageOutput(
        path=str(state.pairs_dir),
        version=state.train_ref,
        rows=result.train.height + result.validation.height,
        detail={"counts": result.counts.get("per_type", result.counts), "audit": str(report.html)},
    )


def publish(state: RunState) -> StageOutput:
    from medprefs.hub import publish as publish_dataset

    config = state.config.publish
    if config.to_dir is not None and not Path(config.to_dir).is_absolute():
        config = replace(config, to_dir=str(state.out / config.to_dir))
    result = publish_dataset(state.pairs_dir, config)
    state.pairs_ref = result.ref
    return StageOutput(path=str(result.location), version=result.sha, detail={"ref": result.ref, "tag": result.tag})


def rpo(state: RunState) -> StageOutput:
    from medprefs.train import train_rpo

    config = replace(state.config.rpo, data=state.pairs_ref, cpt_adapter=_str(state.cpt_dir),
                     output_dir=str(state.out / "rpo"))
    result = train_rpo(config, base_model=state.base_model, revision=state.base_revision, resume=True)
    state.rpo_dir = result.output_dir
    return StageOutput(path=str(result.output_dir), version=state.pairs_ref, detail=_losses(result))


def evaluate(state: RunState) -> StageOutput:
    """Both prompt modes on the evaluation side of the corpus (the years the guard kept out of training), for the
    last model this run trained: the RPO output, else the CPT output (a `stages` list may leave either out)."""
    from medprefs.eval import run_eval

    model, adapter = state.policy_base or state.base_weights, None
    trained = state.rpo_dir or state.cpt_dir
    if trained is not None:
        model, adapter = (model, str(trained)) if _is_adapter(trained) else (str(trained), None)
    result = run_eval(model, state.eval_questions, state.config.eval, state.out / "eval", adapter=adapter,
                      benchmark=state.corpus_ref)
    scores = {mode: report.overall.score for mode, report in result.reports.items()}
    return StageOutput(path=str(state.out / "eval"), version=state.corpus_ref, rows=len(state.eval_questions),
                       detail={"score": scores, "gap": result.gap})


def _sampling_model(state: RunState, cpt_dir: Path) -> str:
    """Sampling backends load one model folder: a LoRA adapter is merged into a copy of the base for them (vLLM
    wants merged weights too); a fully fine-tuned CPT output is already one."""
    if not _is_adapter(cpt_dir):
        return str(cpt_dir)
    from medprefs.train import merge_adapter

    return str(merge_adapter(state.base_weights, cpt_dir, state.out / "cpt-merged"))


def _is_adapter(folder: Path) -> bool:
    return (Path(folder) / "adapter_config.json").is_file()


def _losses(result: Any) -> dict[str, Any]:
    losses = list(result.losses)
    return {"first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
            "steps_logged": len(losses)}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
