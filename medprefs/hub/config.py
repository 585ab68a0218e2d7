"""The `[publish]` pipeline section: where a release goes (Hub repo or local folder), its branch, tag and card metadata."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from medprefs.errors import require

# The Hub's rules for repo names: letters, digits, '-', '_', '.'; no '--' or '..'; at most 96 characters.
_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
REPO_ID = re.compile(rf"^{_REPO_PART}/{_REPO_PART}$")
# A conservative subset of git's ref-name rules (`git check-ref-format`).
_REF_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")


def valid_repo_id(repo: str) -> bool:
    return bool(REPO_ID.match(repo)) and "--" not in repo and ".." not in repo and len(repo) <= 96


def valid_ref_name(name: str) -> bool:
    return (
        bool(_REF_NAME.match(name))
        and ".." not in name
        and "//" not in name
        and not name.endswith(("/", ".", ".lock"))
        and not _COMMIT_SHA.match(name)  # a tag spelled like a commit sha would make `@REV` ambiguous
    )


@dataclass
class PublishConfig:
    """Where and how `publish` writes a release; exactly one of `repo` (Hub) or `to_dir` (local folder)."""

    repo: str | None = None  # ORG/NAME of a dataset repo on the Hub (HF_ENDPOINT picks the Hub)
    to_dir: str | None = None  # a local release folder with the same layout as the Hub repo
    revision: str = "main"  # branch to commit to (created from main if missing)
    tag: str | None = None  # tag put on the new commit; releases are immutable, so an existing tag is an error
    private: bool = False  # only used when the repo is created
    allow_leakage: str | None = None  # reason for publishing without a passing leakage verdict (goes into the card)
    license: str = "other"  # SPDX-like Hub license id; "other" until the corpus owner says otherwise
    pretty_name: str | None = None
    tags: list[str] = field(default_factory=list)  # extra card tags
    source_datasets: list[str] | None = None  # None: ["extended"] for pairs, ["original"] for a corpus
    card_template: str | None = None  # a Jinja markdown template replacing the packaged one
    commit_message: str | None = None

    def __post_init__(self) -> None:
        require(
            (self.repo is None) != (self.to_dir is None),
            "publish: give exactly one of repo (ORG/NAME on the Hub) or to_dir (a local folder)",
        )
        if self.repo is not None:
            require(valid_repo_id(self.repo), f"publish.repo {self.repo!r}: expected ORG/NAME (letters, digits, -_.)")
        require(bool(self.to_dir) or self.to_dir is None, "publish.to_dir must not be empty")
        require(valid_ref_name(self.revision), f"publish.revision {self.revision!r} is not a valid branch name")
        if self.to_dir is not None:  # silently ignored, they would suggest a branch or privacy the folder lacks
            require(self.revision == "main", "publish.revision names a Hub branch; a to_dir release has none")
            require(not self.private, "publish.private applies to a Hub repo; a to_dir release is a local folder")
        if self.tag is not None:
            require(valid_ref_name(self.tag), f"publish.tag {self.tag!r} is not a valid tag name")
        if self.allow_leakage is not None:
            require(bool(self.allow_leakage.strip()), "publish.allow_leakage needs a reason, not an empty string")
        require(bool(self.license.strip()), "publish.license must not be empty (use 'other' if unsure)")
        require(all(tag.strip() for tag in self.tags), "publish.tags must not contain empty tags")
