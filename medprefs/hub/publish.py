"""Publish a pairs dataset or corpus as one immutable release: to a Hub dataset repo in one commit, or to a folder."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medprefs.console import announce
from medprefs.errors import MedprefsError
from medprefs.hub.cards import render_dataset_card
from medprefs.hub.client import endpoint_of, hub_errors, status_of, with_retries
from medprefs.hub.config import PublishConfig
from medprefs.hub.release import (
    CARD,
    DatasetLayout,
    content_id,
    read_layout,
    release_manifest,
    stage_release,
    verify_release,
)
from medprefs.manifest import MANIFEST, read_manifest

KEEP_ON_HUB = {".gitattributes"}  # repo files a release never deletes


@dataclass(frozen=True)
class PublishResult:
    """Where a release went and the exact version it is."""

    location: str  # hf://ORG/NAME, or the release folder
    revision: str  # the branch committed to; "local" for a folder
    sha: str  # the commit sha on the Hub; the content id for a folder
    tag: str | None
    card_path: str  # URL of README.md at the commit, or the local README.md
    content_id: str  # sha256 over the data files' hashes

    @property
    def ref(self) -> str:
        """The dataset reference that gives exactly this release back (for `resolve_dataset`)."""
        return f"{self.location}@{self.sha}" if self.location.startswith("hf://") else self.location


def publish(
    dataset_dir: str | Path, config: PublishConfig, *, endpoint: str | None = None, token: str | None = None
) -> PublishResult:
    """Check the leakage gate, render the card, and write the release to the Hub (config.repo) or a folder.

    The token comes from `token`, else HF_TOKEN or the huggingface_hub login; the endpoint from `endpoint`, else
    HF_ENDPOINT. Refuses a dataset without a passing leakage verdict unless `config.allow_leakage` gives a reason.
    """
    from medprefs.leakage import require_passing  # here, so that pulling and model cards never need the leakage stage

    layout = read_layout(dataset_dir)
    verify_release(layout)
    leakage = require_passing(layout.manifest.get("leakage"), config.allow_leakage, f"publish {dataset_dir}")
    leakage = _require_years_within_cutoff(layout, leakage, config.allow_leakage, f"publish {dataset_dir}")
    if config.to_dir is not None:
        return _publish_to_dir(layout, config, leakage)
    return _publish_to_hub(layout, config, leakage, endpoint=endpoint, token=token)


def _require_years_within_cutoff(
    layout: DatasetLayout, leakage: dict[str, Any], allow_leakage: str | None, what: str
) -> dict[str, Any]:
    """A passing verdict covers the training side only: rows from exam years after its cutoff are evaluation
    questions (e.g. pairs built from the unfiltered corpus with a passing report), refused unless a reason is given."""
    import polars as pl

    from medprefs.errors import LeakageError

    cutoff = leakage.get("cutoff_year")
    if not isinstance(cutoff, int) or isinstance(cutoff, bool):
        return leakage
    late = sum(
        pl.scan_parquet(path).filter(pl.col("year") > cutoff).select(pl.len()).collect().item()
        for path in layout.splits.values()
    )
    if not late:
        return leakage
    problem = f"{what} holds {late} row(s) from exam years after the leakage cutoff {cutoff} (evaluation questions)"
    reason = (allow_leakage or "").strip()
    if not reason:
        raise LeakageError(f"{problem}; to use it anyway pass --allow-leakage REASON (the reason goes into the card)")
    announce(f"{problem}; used anyway because --allow-leakage {reason!r} (recorded in the card)")
    return {**leakage, "rows_after_cutoff": late, "override": reason}


def _publish_to_dir(layout: DatasetLayout, config: PublishConfig, leakage: dict[str, Any]) -> PublishResult:
    target = Path(str(config.to_dir))
    ident = content_id(layout)
    if target.exists() and any(target.iterdir()):
        return _existing_release(target, ident, config)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.staging-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir()
        manifest = release_manifest(layout, leakage, {"location": str(target), "tag": config.tag})
        card = render_dataset_card(layout, config, leakage, folder=str(target))
        stage_release(layout, manifest, str(card), staging)
        # rename is atomic and refuses a non-empty target: a concurrent writer's release is never merged into ours
        os.rename(staging, target)
    except OSError as error:
        if target.is_dir() and any(target.iterdir()):
            raise MedprefsError(
                f"publish to {target}: refused; another release was written there at the same "
                "time (releases are never merged)"
            ) from None
        raise MedprefsError(f"publish to {target}: {error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PublishResult(
        location=str(target),
        revision="local",
        sha=ident,
        tag=config.tag,
        card_path=str(target / CARD),
        content_id=ident,
    )


def _existing_release(target: Path, ident: str, config: PublishConfig) -> PublishResult:
    """Publishing the same data to the same folder again is a no-op; anything else there is refused."""
    existing = read_manifest(target).get("release", {}) if (target / MANIFEST).is_file() else {}
    if existing.get("content_id") != ident:
        raise MedprefsError(
            f"publish to {target}: the folder already holds "
            + ("a different release" if existing else "other files")
            + "; releases are immutable, choose a new folder"
        )
    if config.tag is not None and config.tag != existing.get("tag"):  # a release folder has the one tag it was made with
        raise MedprefsError(
            f"publish to {target}: this release is already there, tagged {existing.get('tag') or '(none)'}; a local "
            f"release cannot be re-tagged {config.tag} (publish to a new folder, or to a Hub repo, to tag it)"
        )
    return PublishResult(
        location=str(target),
        revision="local",
        sha=ident,
        tag=existing.get("tag"),
        card_path=str(target / CARD),
        content_id=ident,
    )


def _publish_to_hub(
    layout: DatasetLayout, config: PublishConfig, leakage: dict[str, Any], *, endpoint: str | None, token: str | None
) -> PublishResult:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    repo, branch = str(config.repo), config.revision
    api = HfApi(endpoint=endpoint, token=token)
    with hub_errors(f"publish to {repo}", repo, endpoint, token=token), tempfile.TemporaryDirectory() as tmp:
        with_retries(
            lambda: api.create_repo(repo, repo_type="dataset", private=config.private, exist_ok=True), f"create {repo}"
        )
        # the tag first: a refused publish must not leave behind the new branch _branch_head creates
        refs = _refs(api, repo)  # one listing for the tag check and the branch check
        if config.tag and (tagged := _tag_target(refs, config.tag)):
            raise MedprefsError(
                f"publish to {repo}: tag {config.tag} already exists (commit {tagged}); releases are "
                "immutable, choose a new tag"
            )
        parent = _branch_head(api, repo, branch, refs)
        manifest = release_manifest(layout, leakage, {"repo": repo, "revision": branch, "tag": config.tag})
        card = render_dataset_card(layout, config, leakage)
        staged = Path(tmp) / "release"
        files = stage_release(layout, manifest, str(card), staged)
        present = with_retries(lambda: api.list_repo_files(repo, repo_type="dataset", revision=parent), "list files")
        operations: list[Any] = [
            CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(staged / name)) for name in files
        ]
        operations += [
            CommitOperationDelete(path_in_repo=name)
            for name in sorted(set(present) - set(files))
            if name not in KEEP_ON_HUB
        ]
        release = manifest["release"]
        sha = _commit(api, repo, branch, parent, operations, release, config, Path(tmp) / "cache")
        if config.tag:
            _tag(api, repo, config.tag, sha)
    return PublishResult(
        location=f"hf://{repo}",
        revision=branch,
        sha=sha,
        tag=config.tag,
        card_path=f"{endpoint_of(endpoint)}/datasets/{repo}/blob/{sha}/{CARD}",
        content_id=release["content_id"],
    )


def _branch_head(api: Any, repo: str, branch: str, refs: Any) -> str:
    """The commit the release will be based on; a missing branch other than main is created from main."""
    from huggingface_hub.errors import RevisionNotFoundError

    # repo_info resolves a tag too, and the commit to it would then fail as "revision not found"
    if branch in {ref.name for ref in refs.tags} and branch not in {ref.name for ref in refs.branches}:
        raise MedprefsError(
            f"publish to {repo}: {branch} is a tag, not a branch; --revision names the branch to commit to "
            "(--tag tags the new commit)"
        )

    def head() -> str:
        return with_retries(lambda: api.repo_info(repo, repo_type="dataset", revision=branch).sha, f"read {branch}")

    try:
        return head()
    except RevisionNotFoundError:
        if branch == "main":
            raise
    with_retries(
        lambda: api.create_branch(repo, branch=branch, repo_type="dataset", exist_ok=True), f"create branch {branch}"
    )
    return head()


def _refs(api: Any, repo: str) -> Any:
    return with_retries(lambda: api.list_repo_refs(repo, repo_type="dataset"), "list refs")


def _tag_target(refs: Any, tag: str) -> str | None:
    return next((ref.target_commit for ref in refs.tags if ref.name == tag), None)


def _commit(
    api: Any,
    repo: str,
    branch: str,
    parent: str,
    operations: list[Any],
    release: dict[str, Any],
    config: PublishConfig,
    cache: Path,
) -> str:
    """One commit with data, card and manifest; `parent_commit` makes the Hub refuse it if the branch moved."""
    from huggingface_hub.errors import HfHubHTTPError

    tag_text = f" ({config.tag})" if config.tag else ""
    try:
        info = with_retries(
            lambda: api.create_commit(
                repo,
                operations,
                repo_type="dataset",
                revision=branch,
                parent_commit=parent,
                commit_message=config.commit_message or f"medprefs release {release['content_id'][:12]}{tag_text}",
                commit_description=f"content id {release['content_id']}\n"
                f"source manifest sha256 {release['source_manifest_sha256']}",
            ),
            f"commit to {repo}",
        )
        return info.oid
    except HfHubHTTPError as error:
        if status_of(error) != 412:
            raise
    # 412: the branch moved. If the commit that moved it is ours (a retry after a lost response), that is success.
    head, landed = _head_release_id(api, repo, branch, cache)
    if landed == release["release_id"]:
        return head
    raise MedprefsError(
        f"publish to {repo}: refused; branch {branch} moved from {parent[:12]} to {head[:12]} while "
        "publishing (another writer). Nothing was committed; re-run to publish on top of it"
    )


def _head_release_id(api: Any, repo: str, branch: str, cache: Path) -> tuple[str, str | None]:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    head = api.repo_info(repo, repo_type="dataset", revision=branch).sha
    try:
        path = hf_hub_download(
            repo, MANIFEST, repo_type="dataset", revision=head, cache_dir=cache, endpoint=api.endpoint, token=api.token
        )
    except EntryNotFoundError:
        return head, None
    return head, (read_manifest(Path(path).parent).get("release") or {}).get("release_id")


def _tag(api: Any, repo: str, tag: str, sha: str) -> None:
    from huggingface_hub.errors import HfHubHTTPError

    try:
        with_retries(
            lambda: api.create_tag(
                repo, tag=tag, revision=sha, repo_type="dataset", tag_message=f"medprefs release {tag}"
            ),
            f"tag {tag}",
        )
    except HfHubHTTPError as error:
        # 409 after a retry whose first response was lost: fine if the tag points at our commit
        if status_of(error) != 409 or _tag_target(_refs(api, repo), tag) != sha:
            raise MedprefsError(
                f"publish to {repo}: commit {sha} was published, but tag {tag} could not be "
                f"created (HTTP {status_of(error)}); another release may have taken it"
            ) from None
