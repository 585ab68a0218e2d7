"""The local Hub server against the unmodified huggingface_hub client: revisions kept, refs, paths-info, privacy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from medprefs.errors import MedprefsError
from medprefs.hub import resolve_dataset
from medprefs.hub.testing import LocalHub

TOKEN = "hf_serverTestToken0123456789"
OTHER = "hf_otherUserToken0123456789"


@pytest.fixture(scope="module")
def hub() -> Iterator[LocalHub]:
    # regular (non-LFS) uploads only: in this process the client may have been imported without HF_HUB_DISABLE_XET
    with LocalHub(lfs=False) as server:
        server.add_token(TOKEN, "org")
        server.add_token(OTHER, "someone")
        yield server


def commit(api: HfApi, repo: str, files: dict[str, bytes], parent: str | None = None, deletes: tuple = ()) -> str:
    operations = [CommitOperationAdd(path, content) for path, content in files.items()]
    operations += [CommitOperationDelete(path) for path in deletes]
    return api.create_commit(repo, operations, commit_message="test", repo_type="dataset", parent_commit=parent).oid


def test_every_revision_stays_readable(hub: LocalHub, tmp_path: Path) -> None:
    api = HfApi(endpoint=hub.url, token=TOKEN)
    api.create_repo("org/revs", repo_type="dataset")
    first = commit(api, "org/revs", {"a.txt": b"one", "dir/b.txt": b"bee"})
    api.create_tag("org/revs", tag="v1", revision=first, repo_type="dataset")
    second = commit(api, "org/revs", {"a.txt": b"two"}, parent=first, deletes=("dir/b.txt",))
    assert api.resolve_revision("org/revs", repo_type="dataset", revision="v1").resolved == first
    assert api.repo_info("org/revs", repo_type="dataset", revision=first[:8]).sha == first
    assert sorted(api.list_repo_files("org/revs", repo_type="dataset", revision="v1")) == [
        ".gitattributes",
        "a.txt",
        "dir/b.txt",
    ]
    assert "dir/b.txt" not in api.list_repo_files("org/revs", repo_type="dataset", revision=second)
    for revision, expected in ((first, b"one"), ("v1", b"one"), ("main", b"two")):
        path = hf_hub_download(
            "org/revs",
            "a.txt",
            repo_type="dataset",
            revision=revision,
            endpoint=hub.url,
            cache_dir=tmp_path,
            token=TOKEN,
        )
        assert Path(path).read_bytes() == expected
    infos = api.get_paths_info("org/revs", ["a.txt", "dir", "missing"], repo_type="dataset", revision="v1")
    assert {(type(info).__name__, info.path) for info in infos} == {("RepoFolder", "dir"), ("RepoFile", "a.txt")}


def test_a_repo_that_is_not_a_release_is_named_as_such(hub: LocalHub, tmp_path: Path) -> None:
    api = HfApi(endpoint=hub.url, token=TOKEN)
    api.create_repo("org/plain", repo_type="dataset")
    sha = commit(api, "org/plain", {"data/train.csv": b"a,b\n1,2\n"})
    with pytest.raises(MedprefsError, match=f"commit {sha} is not a medprefs release"):
        resolve_dataset("hf://org/plain", endpoint=hub.url, cache_dir=tmp_path, token=TOKEN)


def test_stale_parent_is_refused_with_412(hub: LocalHub) -> None:
    api = HfApi(endpoint=hub.url, token=TOKEN)
    api.create_repo("org/stale", repo_type="dataset")
    base = api.repo_info("org/stale", repo_type="dataset").sha
    commit(api, "org/stale", {"x.txt": b"first"}, parent=base)
    with pytest.raises(HfHubHTTPError) as caught:
        commit(api, "org/stale", {"x.txt": b"second"}, parent=base)
    assert caught.value.response.status_code == 412


def test_private_repos_and_unknown_revisions(hub: LocalHub) -> None:
    owner = HfApi(endpoint=hub.url, token=TOKEN)
    owner.create_repo("org/secret", repo_type="dataset", private=True)
    assert owner.repo_info("org/secret", repo_type="dataset").private
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub.url, token=OTHER).repo_info("org/secret", repo_type="dataset")
    with pytest.raises(RevisionNotFoundError):
        owner.repo_info("org/secret", repo_type="dataset", revision="nope")
    with pytest.raises(HfHubHTTPError) as caught:  # a token may only write to its own namespace
        HfApi(endpoint=hub.url, token=OTHER).create_repo("org/theirs", repo_type="dataset")
    assert caught.value.response.status_code == 403
