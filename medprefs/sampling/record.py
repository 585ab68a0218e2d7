"""The run manifest: written before the first shard, checked on resume (a changed parameter is refused), kept current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medprefs.config import to_dict
from medprefs.console import announce
from medprefs.errors import MedprefsError
from medprefs.manifest import now_iso, read_manifest, require_own_folder, write_manifest
from medprefs.prompts import STOP_STRINGS, PromptTemplate
from medprefs.sampling.config import LAYOUT_FIELDS, SampleConfig
from medprefs.sampling.provenance import ResolvedModel, identity_diff
from medprefs.sampling.store import KIND, LOCK_FILE, has_manifest

SCHEMA_VERSION = 1
SEEDING = {
    "transformers": (
        "torch.Generator seeded with derive_seed(seed, 'batch', question seeds) for each batch of batch_size "
        "prompts (a shard's prompts by length, then qid), "
        "drawn by medprefs' rejection nucleus sampler"
    ),
    "vllm": "SamplingParams.seed = derive_seed(seed, qid) per question",
}


def run_identity(
    *,
    model: ResolvedModel,
    config: SampleConfig,
    template: PromptTemplate,
    corpus_version: str,
    questions: dict[str, Any],
    exemplar_pool: dict[str, Any],
    shards_total: int,
) -> dict[str, Any]:
    """Everything that decides the responses; a resumed run must match it exactly."""
    params = {k: v for k, v in to_dict(config).items() if k not in LAYOUT_FIELDS}
    return {
        "model": {
            "weights_sha256": model.weights_sha256,
            "tokenizer_sha256": model.tokenizer_sha256,
            "revision": model.revision,
        },
        "sampling": params,
        "template": {"name": template.name, "sha256": template.sha256},
        "stop_strings": list(STOP_STRINGS),
        "seeding": SEEDING[config.backend],
        "corpus_version": corpus_version,
        "questions": questions,
        "exemplar_pool": exemplar_pool,
        "shards_total": shards_total,
    }


def open_run(
    out_dir: Path,
    identity: dict[str, Any],
    *,
    model: ResolvedModel,
    config: SampleConfig,
    shard: tuple[int, int],
    assigned: list[int],
) -> dict[str, Any]:
    """A new manifest, or the existing one after checking it describes the same run (same identity and shard)."""
    layout = {name: getattr(config, name) for name in LAYOUT_FIELDS}
    if has_manifest(out_dir):
        manifest = read_manifest(out_dir)
        check_same_run(out_dir, manifest, identity, shard)
        previous = manifest.get("layout", {})
        changed = {k: (previous.get(k), v) for k, v in layout.items() if previous.get(k) != v}
        if changed and manifest.get("completed"):
            # Allowed (hardware may change between a crash and a resume), but not silent: kernels, the device's
            # random stream and dtype "auto" differ, so the remaining shards' numbers may differ from the first ones'.
            moved = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changed.items())
            announce(f"{out_dir}: resuming with {moved}; each shard records the layout it was sampled with")
        manifest["layout"] = layout
        return manifest
    require_own_folder(out_dir, KIND, run="a sampling run", ignore=frozenset({LOCK_FILE}))
    manifest = {
        "kind": KIND,
        "schema_version": SCHEMA_VERSION,
        "identity": identity,
        "model": model.record(),
        "layout": layout,
        "shard": {"index": shard[0], "count": shard[1]},
        "assigned": assigned,
        "completed": {},
        # Part I of N gets no shard file when N exceeds the shard count; it is complete at once (sample-merge needs it).
        "complete": not assigned,
        "created": now_iso(),
        "updated": now_iso(),
    }
    write_manifest(out_dir, manifest)
    return manifest


def check_same_run(out_dir: Path, manifest: dict[str, Any], identity: dict[str, Any], shard: tuple[int, int]) -> None:
    if manifest.get("kind") != KIND:
        raise MedprefsError(
            f"{out_dir}: holds a {manifest.get('kind')!r} manifest, not a sampling run; choose a new --out"
        )
    diffs = identity_diff(manifest["identity"], identity)
    if diffs:
        raise MedprefsError(
            f"{out_dir}: was sampled with different settings: {'; '.join(diffs)}. Use a new --out to sample anew"
        )
    old = (manifest["shard"]["index"], manifest["shard"]["count"])
    if old != tuple(shard):
        raise MedprefsError(f"{out_dir}: holds shard {old[0]}/{old[1]}, not {shard[0]}/{shard[1]}; use a new --out")


def record_shard(out_dir: Path, manifest: dict[str, Any], index: int, record: dict[str, Any]) -> None:
    """Mark one shard complete (after its file is in place: a kill between the two only costs a re-check)."""
    manifest["completed"][f"{index:05d}"] = record
    manifest["complete"] = len(manifest["completed"]) == len(manifest["assigned"])
    manifest["updated"] = now_iso()
    write_manifest(out_dir, manifest)
