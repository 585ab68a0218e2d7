"""The model card (README.md) of a trained adapter, rendered by medprefs.hub from the run manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

STAGE_TITLES = {
    "cpt": "continued pretraining (packed documents, loss on every token)",
    "rpo": "Reasoning Preference Optimization",
}


def write_model_card(output_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """README.md with `base_model`, every dataset the weights saw (a CPT adapter's included) with its sha and leakage
    verdict, the resolved config and the final metrics; returns its path."""
    from medprefs.hub import render_model_card

    datasets = [entry for entry in flatten_lineage(manifest.get("lineage", [])) if entry.get("sha") is not None
                and not entry.get("role", "").endswith(("cpt-adapter", "cpt-model"))]
    card = render_model_card(
        adapter_base(manifest),
        datasets,
        manifest.get("config", {}),
        {k: v for k, v in manifest.get("metrics", {}).items() if isinstance(v, int | float)},
        extra=_extra(manifest),
        allow_leakage=(manifest.get("config") or {}).get("allow_leakage"),
        full_model=manifest.get("kind") == "model",
    )
    path = Path(output_dir) / "README.md"
    card.save(path)
    return path


def adapter_base(manifest: dict[str, Any]) -> str:
    """The weights the trained adapter applies to: a fully fine-tuned CPT model an RPO run started from, else the
    base model (as in the adapter's adapter_config.json)."""
    start = next((e for e in manifest.get("lineage", []) if e.get("role") == "cpt-model"), None)
    return str(start["ref"]) if start else manifest["base_model"]


def flatten_lineage(lineage: list[dict[str, Any]], via: str = "") -> list[dict[str, Any]]:
    """Every input, those of the CPT adapter an RPO run started from included (role prefixed with `cpt-adapter / `)."""
    rows = []
    for entry in lineage:
        role = f"{via}{entry.get('role', '')}"
        rows.append({**entry, "role": role})
        rows.extend(flatten_lineage(entry.get("lineage", []), via=f"{role} / "))
    return rows


def _extra(manifest: dict[str, Any]) -> str:
    stage = manifest["stage"]
    lines = ["## Training", "", f"- stage: `{stage}`, {STAGE_TITLES.get(stage, stage)}"]
    if manifest.get("base_revision"):
        lines.append(f"- base model revision: `{manifest['base_revision']}`")
    if manifest.get("loss"):
        lines.append(f"- loss: {manifest['loss']}")
    lines.append(f"- weights: {manifest.get('placement', '?')}; processes: {manifest.get('processes', 1)}")
    for entry in manifest.get("lineage", []):
        if entry.get("role") in ("cpt-adapter", "cpt-model"):
            lines.append(f"- started from the CPT output `{entry['ref']}` (weights sha256 `{entry.get('sha')}`); "
                         "the reference model of the preference loss is exactly that model")
            if entry.get("role") == "cpt-model":
                lines.append(f"- the adapter applies to that CPT model, itself trained from `{manifest['base_model']}`")
    for item in manifest.get("leakage_overrides", []):
        lines.append(f"- leakage gate overridden for `{item['ref']}`: {item['reason']}")
    return "\n".join(lines)
