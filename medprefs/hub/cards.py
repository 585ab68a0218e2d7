"""Dataset cards for releases and model cards for trained adapters, rendered with huggingface_hub's card classes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
from huggingface_hub import DatasetCard, DatasetCardData, ModelCard, ModelCardData

from medprefs import __version__
from medprefs.errors import MedprefsError
from medprefs.hub.config import PublishConfig, valid_repo_id
from medprefs.hub.release import DatasetLayout, content_id, file_records, generator_record

# Manifest keys shown elsewhere on the card (or bulky), left out of the provenance table.
_NOT_PROVENANCE = {"kind", "leakage", "release", "counts", "files", "columns", "inputs", "rejects_file"}
_MAX_VALUE_CHARS = 200
_SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]

_COLUMNS_DOC = {
    "pairs": (
        "TRL's preference format plus provenance: `prompt` (the 3-shot prompt), `chosen`, `rejected` "
        "(completions; strings, or lists of chat messages when the manifest's `format` is `conversational`), "
        "`qid` (exam question id), `pair_type` (`gt>chosen`: the verified explanation over a correct "
        "model answer; `gt>rejected`: over a wrong one; `chosen>rejected`: a correct model answer over a wrong one), "
        "`year` (exam year)."
    ),
    "corpus": (
        "One row per exam question: `qid`, `year`, `stem`, `choices` (labelled a, b, c, ...), `answer`, "
        "`answer_kind`, `explanation` and the other fields of medprefs' Question contract."
    ),
}


def template_text(name: str, override: str | None = None) -> str:
    """A card template: the file given in the config, else the one packaged in medprefs/hub/templates."""
    if override:
        path = Path(override)
        if not path.is_file():
            raise MedprefsError(f"{path}: card template not found")
        return path.read_text(encoding="utf-8")
    return resources.files("medprefs.hub").joinpath("templates", name).read_text(encoding="utf-8")


def size_category(rows: int) -> str:
    return next((label for limit, label in _SIZE_CATEGORIES if rows < limit), "n>1M" if rows > 1_000_000 else "other")


def render_dataset_card(
    layout: DatasetLayout, config: PublishConfig, leakage: Mapping[str, Any], *, folder: str | None = None
) -> DatasetCard:
    """The card of a release: Hub metadata (configs per split, license, sizes) and a provenance body."""
    files = file_records(layout)
    total_rows = sum(record["rows"] for record in files.values())
    card_data = DatasetCardData(
        language=["ja"],
        license=config.license,
        pretty_name=config.pretty_name or _default_name(layout, config),
        task_categories=["text-generation", "question-answering"],
        size_categories=[size_category(total_rows)],
        source_datasets=config.source_datasets or (["extended"] if layout.kind == "pairs" else ["original"]),
        tags=_unique(
            ["medprefs", "medical", "jmle", *(["preference", "dpo"] if layout.kind == "pairs" else [])], config.tags
        ),
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": layout.release_path(split)} for split in layout.splits],
            }
        ],
    )
    load = {
        "repo": config.repo,
        "revision": config.tag or config.revision,
        "tagged": config.tag is not None,
        "folder": folder or config.to_dir,
    }
    return DatasetCard.from_template(
        card_data,
        template_str=template_text("dataset_card.md", config.card_template),
        summary=_summary(layout, total_rows),
        kind=layout.kind,
        load=load,
        leakage=dict(leakage),
        content_id=content_id(layout),
        provenance=provenance_rows(_with_generator(layout)),
        splits=list(layout.splits),
        count_tables=count_tables(layout),
        files=[
            {"split": split, "path": layout.release_path(split), **files[layout.release_path(split)]}
            for split in layout.splits
        ],
        columns_doc=_COLUMNS_DOC[layout.kind],
        medprefs_version=__version__,
    )


def _with_generator(layout: DatasetLayout) -> dict[str, Any]:
    generator = generator_record(layout.manifest) if layout.kind == "pairs" else None
    return {**layout.manifest, **({"generator": generator} if generator else {})}


def _default_name(layout: DatasetLayout, config: PublishConfig) -> str:
    name = config.repo.split("/")[1] if config.repo else Path(config.to_dir or layout.root).name
    return f"{name} (medprefs {layout.kind})"


def _summary(layout: DatasetLayout, rows: int) -> str:
    splits = ", ".join(layout.splits)
    if layout.kind == "pairs":
        return (
            f"Reasoning-preference pairs built by medprefs from Japanese Medical Licensing Exam (JMLE) questions: "
            f"{rows} pairs ({splits}), each with the exam question id, pair type and exam year."
        )
    return f"A medprefs corpus of Japanese Medical Licensing Exam (JMLE) questions: {rows} questions ({splits})."


def _unique(*groups: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(tag for group in groups for tag in group))


def provenance_rows(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The manifest flattened to `a.b` keys: whatever the producing stage recorded (sources, generator, sampling)."""
    rows: list[tuple[str, str]] = []

    def visit(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for key in value:
                visit(f"{prefix}.{key}" if prefix else str(key), value[key])
            return
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
        text = text.replace("|", "\\|").replace("`", "'").replace("\n", " ")
        rows.append((prefix, text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"))

    for key, value in manifest.items():
        if key not in _NOT_PROVENANCE:
            visit(key, value)
    return rows


def count_tables(layout: DatasetLayout) -> list[dict[str, Any]]:
    """Row counts per pair type (pairs only) and per year, for each split, computed from the data itself."""
    columns = [("pair_type", "pair type")] if layout.kind == "pairs" else []
    tables = []
    for column, label in [*columns, ("year", "year")]:
        counts: dict[Any, dict[str, int]] = {}
        for split, path in layout.splits.items():
            for key, n in pl.read_parquet(path, columns=[column]).group_by(column).len().iter_rows():
                counts.setdefault(key, {})[split] = n
        rows = [
            {"key": key, **{split: counts[key].get(split, 0) for split in layout.splits}}
            for key in sorted(counts, key=str)
        ]
        tables.append({"label": label, "rows": rows})
    return tables


def render_model_card(
    base_model: str,
    datasets: Iterable[Any],
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    extra: str | None = None,
    allow_leakage: str | None = None,
    *,
    template: str | None = None,
    full_model: bool = False,
) -> ModelCard:
    """The card of a trained adapter (or, with `full_model`, of fully fine-tuned weights): `base_model`, `datasets`,
    and a lineage section with each dataset's sha.

    `datasets` holds ResolvedDataset objects or the dicts `lineage_entry` makes of them (e.g. read back from a
    training manifest).
    """
    from medprefs.hub.resolve import ResolvedDataset, lineage_entry

    entries = [lineage_entry(item) if isinstance(item, ResolvedDataset) else dict(item) for item in datasets]
    if not entries:
        raise MedprefsError("model card: no training dataset given; the lineage section would be empty")
    lineage = [_lineage_row(entry) for entry in entries]
    hub_base = valid_repo_id(base_model)  # a local folder is not a valid `base_model` in the card metadata
    card_data = ModelCardData(
        base_model=base_model if hub_base else None,
        datasets=_unique(entry["repo"] for entry in entries if entry.get("repo")) or None,
        # a fully fine-tuned folder is a transformers model: a "peft" card would send loaders after an adapter
        library_name="transformers" if full_model else "peft",
        language=["ja"],
        tags=_unique(
            ["medprefs", *([] if full_model else ["lora"]), "medical", "jmle"],
            [f"medprefs-lineage:{row['name']}@{row['sha']}" for row in lineage if row["hub"]],
        ),
    )
    warnings = [f"Trained without a passing leakage verdict; reason given: {allow_leakage}"] if allow_leakage else []
    warnings += [
        # the override may be the publisher's or a training run's (this one's, or its CPT adapter's)
        f"Dataset {row['name']} was published or trained on with a leakage override: {row['override']}"
        for row in lineage
        if row["override"]
    ]
    return ModelCard.from_template(
        card_data,
        template_str=template_text("model_card.md", template),
        title=f"{Path(base_model).name} + medprefs {'full fine-tune' if full_model else 'adapter'}",
        artifact="A model fully fine-tuned" if full_model else "A LoRA adapter trained",
        base_model_text=f"`{base_model}`" + ("" if hub_base else " (a local model folder)"),
        lineage=lineage,
        leakage_warnings=warnings,
        metrics=[(name, _format_metric(value)) for name, value in metrics.items()],
        config_json=json.dumps(dict(config), ensure_ascii=False, indent=2, sort_keys=True, default=str),
        extra=extra,
    )


def _lineage_row(entry: Mapping[str, Any]) -> dict[str, Any]:
    leakage = entry.get("leakage") or {}
    hub = bool(entry.get("repo"))
    name = entry["repo"] if hub else entry.get("path", "local")
    return {
        "hub": hub,
        "name": name,
        "kind": entry.get("kind", "?"),
        "role": entry.get("role") or "-",
        "revision": entry.get("revision", ""),
        "sha": entry["sha"],
        "pinned": entry.get("ref") or (f"hf://{name}@{entry['sha']}" if hub else name),
        "verdict": leakage.get("verdict") or "missing",
        "override": leakage.get("override"),
    }


def _format_metric(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
