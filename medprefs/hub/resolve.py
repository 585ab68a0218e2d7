"""Dataset references `hf://ORG/NAME@REV` or a local folder, resolved to a local folder pinned to a commit sha."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from medprefs.errors import MedprefsError
from medprefs.hub.client import hub_errors, with_retries
from medprefs.hub.config import valid_repo_id
from medprefs.hub.release import DatasetLayout, content_id, read_layout, verify_release
from medprefs.manifest import MANIFEST

HF_PREFIX = "hf://"
_HUB_REF = re.compile(r"^hf://(?:datasets/)?(?P<repo>[^@]+?)(?:@(?P<rev>.+))?$")


@dataclass(frozen=True)
class ResolvedDataset:
    """A dataset reference made concrete: a local folder with the release layout and the exact version it holds."""

    path: Path  # local folder: data/<split>.parquet (or questions.parquet for a corpus version) + manifest.json
    repo: str | None  # ORG/NAME on the Hub; None for a local folder
    revision: str  # as asked (branch, tag or sha); "local" for a folder
    sha: str  # the commit sha on the Hub; the content id for a local folder
    manifest: dict[str, Any]
    content_id: str = ""  # sha256 over the data files' hashes: equal for equal rows, on the Hub or on disk
    kind: str = ""  # "pairs" or "corpus"
    files: dict[str, Path] = field(default_factory=dict)  # split -> Parquet file

    @property
    def ref(self) -> str:
        """The reference that gives exactly this data again."""
        return f"{HF_PREFIX}{self.repo}@{self.sha}" if self.repo else str(self.path)

    def frame(self, split: str = "train") -> pl.DataFrame:
        if split not in self.files:
            raise MedprefsError(f"{self.ref}: no split {split!r}; available: {', '.join(self.files)}")
        return pl.read_parquet(self.files[split])


def parse_hub_ref(ref: str) -> tuple[str, str]:
    """`hf://ORG/NAME@REV` (or `hf://datasets/ORG/NAME@REV`) -> (ORG/NAME, REV); REV defaults to main."""
    match = _HUB_REF.match(ref.strip())
    if not match or not valid_repo_id(match["repo"]):
        raise MedprefsError(f"{ref}: expected hf://ORG/NAME@REVISION (a branch, tag or commit sha)")
    return match["repo"], match["rev"] or "main"


def resolve_dataset(
    ref: str | Path,
    *,
    endpoint: str | None = None,
    cache_dir: str | Path | None = None,
    token: str | None = None,
) -> ResolvedDataset:
    """Resolve `hf://ORG/NAME@REV` (branch, tag or sha) to a commit sha and download it, or read a local folder.

    The Hub is HF_ENDPOINT unless `endpoint` is given; with HF_HUB_OFFLINE=1 cached revisions still resolve.
    """
    if isinstance(ref, str) and ref.startswith(HF_PREFIX):
        return _resolve_hub(ref, endpoint=endpoint, cache_dir=cache_dir, token=token)
    folder = Path(ref)
    if not folder.is_dir():
        raise MedprefsError(f"{ref}: no such dataset folder (a Hub dataset is written hf://ORG/NAME@REVISION)")
    layout = read_layout(folder)
    verify_release(layout)
    ident = content_id(layout)
    return ResolvedDataset(
        path=folder,
        repo=None,
        revision="local",
        sha=ident,
        manifest=_full_manifest(layout),
        content_id=ident,
        kind=layout.kind,
        files=dict(layout.splits),
    )


def _resolve_hub(ref: str, *, endpoint: str | None, cache_dir: str | Path | None, token: str | None) -> ResolvedDataset:
    from huggingface_hub import HfApi, snapshot_download

    repo, revision = parse_hub_ref(ref)
    api = HfApi(endpoint=endpoint, token=token)
    with hub_errors(f"pull {ref}", repo, endpoint, token=token):
        # resolve_revision falls back to the cached refs/ entry when offline, and raises on 401/404 instead of
        # quietly serving a stale cache.
        pinned = with_retries(
            lambda: api.resolve_revision(repo, repo_type="dataset", revision=revision, cache_dir=cache_dir),
            f"resolve {ref}",
        )
        path = with_retries(
            lambda: snapshot_download(
                repo, repo_type="dataset", revision=pinned, cache_dir=cache_dir, endpoint=endpoint, token=token
            ),
            f"download {ref}",
        )
    if not (Path(path) / MANIFEST).is_file():
        raise MedprefsError(f"{ref}: commit {pinned.resolved} is not a medprefs release (no {MANIFEST})")
    layout = read_layout(path)
    verify_release(layout)
    return ResolvedDataset(
        path=Path(path),
        repo=repo,
        revision=revision,
        sha=pinned.resolved,
        manifest=_full_manifest(layout),
        content_id=content_id(layout),
        kind=layout.kind,
        files=dict(layout.splits),
    )


def _full_manifest(layout: DatasetLayout) -> dict[str, Any]:
    return {**layout.manifest, **({"release": layout.release} if layout.release else {})}


def corpus_version(manifest: dict[str, Any]) -> str | None:
    """NAME@VERSION_ID of the corpus a dataset was built from (or of the corpus itself)."""
    if manifest.get("kind") == "corpus":
        corpus: Any = manifest
    else:
        sources = manifest.get("sources") or {}
        corpus = sources.get("corpus") or sources.get("corpus_version")
    if isinstance(corpus, dict) and corpus.get("version_id"):
        return f"{corpus.get('name') or 'corpus'}@{corpus['version_id']}"
    return corpus if isinstance(corpus, str) else None


def lineage_entry(resolved: ResolvedDataset) -> dict[str, Any]:
    """What a training manifest and model card record about one input dataset."""
    leakage = resolved.manifest.get("leakage") or {}
    return {
        "kind": resolved.kind,
        "repo": resolved.repo,
        "revision": resolved.revision,
        "sha": resolved.sha,
        "content_id": resolved.content_id,
        "ref": resolved.ref,
        **({} if resolved.repo else {"path": str(resolved.path)}),
        "corpus_version": corpus_version(resolved.manifest),
        "leakage": {key: leakage.get(key) for key in ("verdict", "report_sha256", "cutoff_year", "flagged", "override")},
    }
