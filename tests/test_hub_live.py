"""Publish and pull against a live local Hub endpoint with the unmodified huggingface_hub client.

The server (medprefs.hub.testing.LocalHub) runs in this process; clients run `python -m medprefs ...` in
subprocesses with HF_ENDPOINT, HF_TOKEN, HF_HOME and HF_HUB_DISABLE_XET set, exactly as a user would run them
(HF_ENDPOINT and HF_HUB_OFFLINE are read when huggingface_hub is imported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from medprefs.hub import lineage_entry, render_model_card, resolve_dataset
from medprefs.hub.testing import LocalHub, write_pairs_dataset
from medprefs.hub.testing.store import HubStore

WRITE_TOKEN = "hf_medprefsWriteToken0123456789"
READ_TOKEN = "hf_medprefsReadOnlyToken01234567"
WRONG_TOKEN = "hf_medprefsNotARealToken98765432"


@pytest.fixture(scope="session")
def hub() -> Iterator[LocalHub]:
    with LocalHub() as server:
        server.add_token(WRITE_TOKEN, "org")
        server.add_token(READ_TOKEN, "org", write=False)
        yield server


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hf-home")


def client_env(hub: LocalHub, hf_home: Path, token: str | None = WRITE_TOKEN, **env: str) -> dict[str, str]:
    """A user's environment pointed at the local Hub: nothing inherited from this machine's HF_* settings."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGING"))}
    environ |= {
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(hf_home),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        **({"HF_TOKEN": token} if token else {}),
        **env,
    }
    return environ


def run(hub: LocalHub, hf_home: Path, *args: str, token: str | None = WRITE_TOKEN, **env: str):
    environ = client_env(hub, hf_home, token, **env)
    return subprocess.run(
        [sys.executable, "-m", "medprefs", *args], env=environ, capture_output=True, text=True, timeout=180
    )


def published_sha(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["sha"]


@pytest.fixture(scope="module")
def releases(hub: LocalHub, hf_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """org/prefs with v1 then v2 on main, published through the CLI."""
    root = tmp_path_factory.mktemp("pairs")
    out = {}
    for variant in ("v1", "v2"):
        source = write_pairs_dataset(root / variant, variant=variant)
        result = run(hub, hf_home, "publish", str(source), "--repo", "org/prefs", "--tag", variant, "--json")
        out[variant] = (source, published_sha(result))
    return out


def pull(hub: LocalHub, hf_home: Path, ref: str, **env: str) -> dict:
    result = run(hub, hf_home, "pull", ref, "--json", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_same_rows(folder: Path, source: Path) -> None:
    for split in ("train", "validation"):
        assert pl.read_parquet(folder / "data" / f"{split}.parquet").equals(
            pl.read_parquet(source / "data" / f"{split}.parquet")
        )


def test_pull_v1_by_tag_and_by_sha_gives_v1_rows(hub: LocalHub, hf_home: Path, releases: dict) -> None:
    (v1_source, v1_sha), (v2_source, v2_sha) = releases["v1"], releases["v2"]
    assert v1_sha != v2_sha
    by_tag = pull(hub, hf_home, "hf://org/prefs@v1")
    by_sha = pull(hub, hf_home, f"hf://org/prefs@{v1_sha}")
    assert by_tag["sha"] == by_sha["sha"] == v1_sha and by_tag["revision"] == "v1"
    assert by_tag["ref"] == f"hf://org/prefs@{v1_sha}"
    assert_same_rows(Path(by_tag["path"]), v1_source)
    assert_same_rows(Path(by_sha["path"]), v1_source)
    latest = pull(hub, hf_home, "hf://org/prefs")
    assert latest["sha"] == v2_sha and latest["revision"] == "main"
    assert_same_rows(Path(latest["path"]), v2_source)
    # both revisions are kept: v2 is a child of v1, not a rewrite
    repo = hub.store.repos[("dataset", "org/prefs")]
    assert repo.commits[v2_sha].parent == v1_sha and repo.tags == {"v1": v1_sha, "v2": v2_sha}


def test_one_commit_holds_data_card_and_manifest(hub: LocalHub, releases: dict) -> None:
    repo = hub.store.repos[("dataset", "org/prefs")]
    tree = repo.commits[releases["v1"][1]].tree
    assert sorted(tree) == [
        ".gitattributes",
        "README.md",
        "data/train.parquet",
        "data/validation.parquet",
        "manifest.json",
    ]
    assert tree["data/train.parquet"].lfs and not tree["README.md"].lfs  # Parquet went through the LFS upload path
    card = hub.store.blobs[tree["README.md"].sha256].decode()
    assert 'load_dataset("org/prefs", revision="v1")' in card and "| Leakage verdict | `pass` |" in card
    manifest = json.loads(hub.store.blobs[tree["manifest.json"].sha256])
    assert manifest["release"]["repo"] == "org/prefs" and manifest["release"]["tag"] == "v1"


def test_resolved_hub_dataset_feeds_lineage_and_model_card(hub: LocalHub, releases: dict, tmp_path: Path) -> None:
    # downloads need no Xet, so the client can run in this process with an explicit endpoint
    resolved = resolve_dataset("hf://org/prefs@v1", endpoint=hub.url, cache_dir=tmp_path, token=WRITE_TOKEN)
    assert resolved.sha == releases["v1"][1] and resolved.repo == "org/prefs" and resolved.kind == "pairs"
    assert resolved.content_id == resolve_dataset(releases["v1"][0]).content_id
    entry = lineage_entry(resolved)
    card = render_model_card("Qwen/Qwen2.5-0.5B", [entry], {"method": "rpo"}, {})
    assert card.data.datasets == ["org/prefs"]
    assert f"| org/prefs | pairs | - | `v1` | `{releases['v1'][1]}` | `pass` | none |" in card.text


def test_concurrent_publish_is_refused_not_merged(hub: LocalHub, hf_home: Path, tmp_path: Path) -> None:
    def other_writer(store: HubStore) -> None:
        repo = store.repos[("dataset", "org/race")]
        store.commit(repo, "main", None, [("file", "theirs.txt", b"another writer's release")], "concurrent")

    hub.before_next_commit(other_writer)
    try:
        result = run(
            hub, hf_home, "publish", str(write_pairs_dataset(tmp_path / "p")), "--repo", "org/race", "--tag", "v1"
        )
    finally:
        hub.api.before_commit.clear()  # never leak the hook into another test's commit
    assert result.returncode == 2
    assert "refused" in result.stderr and "another writer" in result.stderr
    repo = hub.store.repos[("dataset", "org/race")]
    head = repo.commits[repo.branches["main"]]
    assert head.message == "concurrent" and sorted(head.tree) == [".gitattributes", "theirs.txt"]
    assert repo.tags == {} and len(repo.commits) == 2  # the initial commit and the other writer's


def test_transient_errors_and_a_lost_response_are_retried(hub: LocalHub, hf_home: Path, tmp_path: Path) -> None:
    commit_path = r"^/api/datasets/org/retry/commit/"
    hub.fail_next("POST", commit_path, status=503)  # refused before it is applied
    hub.fail_next("POST", commit_path, status=502, after=True)  # applied, but the answer is lost
    result = run(
        hub,
        hf_home,
        "publish",
        str(write_pairs_dataset(tmp_path / "p")),
        "--repo",
        "org/retry",
        "--tag",
        "v1",
        "--json",
    )
    sha = published_sha(result)
    assert "retrying" in result.stderr
    assert hub.count("POST", commit_path) == 3
    repo = hub.store.repos[("dataset", "org/retry")]
    assert len(repo.commits) == 2 and repo.branches["main"] == sha and repo.tags == {"v1": sha}


def test_publish_to_a_new_branch(hub: LocalHub, hf_home: Path, releases: dict, tmp_path: Path) -> None:
    source = write_pairs_dataset(tmp_path / "dev", variant="dev")
    sha = published_sha(run(hub, hf_home, "publish", str(source), "--repo", "org/prefs", "--revision", "dev", "--json"))
    repo = hub.store.repos[("dataset", "org/prefs")]
    assert repo.branches["dev"] == sha and repo.branches["main"] == releases["v2"][1]
    assert_same_rows(Path(pull(hub, hf_home, "hf://org/prefs@dev")["path"]), source)


def test_wrong_token_is_a_clear_error_and_never_shown(
    hub: LocalHub, hf_home: Path, releases: dict, tmp_path: Path
) -> None:
    source = str(write_pairs_dataset(tmp_path / "p"))
    for args in (("publish", source, "--repo", "org/prefs", "--tag", "v9"), ("pull", "hf://org/prefs@v1")):
        result = run(hub, hf_home, *args, token=WRONG_TOKEN)
        assert result.returncode == 2
        assert "rejected the token (401 Unauthorized)" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # one line, no traceback
        assert WRONG_TOKEN not in result.stdout + result.stderr
    anonymous = run(hub, hf_home, "publish", source, "--repo", "org/prefs", "--tag", "v9", token=None)
    assert anonymous.returncode == 2 and "requires a token; set HF_TOKEN" in anonymous.stderr
    read_only = run(hub, hf_home, "publish", source, "--repo", "org/prefs", "--tag", "v9", token=READ_TOKEN)
    assert read_only.returncode == 2 and "permission denied on org/prefs at" in read_only.stderr
    assert READ_TOKEN not in read_only.stdout + read_only.stderr
    assert "v9" not in hub.store.repos[("dataset", "org/prefs")].tags


def test_missing_repo_and_revision_are_clear_errors(hub: LocalHub, hf_home: Path, releases: dict) -> None:
    missing = run(hub, hf_home, "pull", "hf://org/nothing@v1")
    assert missing.returncode == 2 and "dataset repo org/nothing not found" in missing.stderr
    no_tag = run(hub, hf_home, "pull", "hf://org/prefs@v404")
    assert no_tag.returncode == 2 and "revision not found in dataset repo org/prefs" in no_tag.stderr
    taken = run(hub, hf_home, "publish", str(releases["v1"][0]), "--repo", "org/prefs", "--tag", "v1",
                "--revision", "candidate")
    assert taken.returncode == 2 and "tag v1 already exists" in taken.stderr
    assert "candidate" not in hub.store.repos[("dataset", "org/prefs")].branches  # the refusal left no new branch
    on_tag = run(hub, hf_home, "publish", str(releases["v1"][0]), "--repo", "org/prefs", "--revision", "v1")
    assert on_tag.returncode == 2 and "v1 is a tag, not a branch" in on_tag.stderr


def test_token_is_written_nowhere(hub: LocalHub, hf_home: Path, releases: dict) -> None:
    secret = WRITE_TOKEN.encode()
    assert not any(secret in blob for blob in hub.store.blobs.values())
    for path in Path(pull(hub, hf_home, "hf://org/prefs@v2")["path"]).rglob("*"):
        assert path.is_dir() or secret not in path.read_bytes()


def test_offline_pull_of_a_cached_revision(hub: LocalHub, hf_home: Path, releases: dict) -> None:
    online = pull(hub, hf_home, "hf://org/prefs@v1")
    seen = len(hub.requests)
    offline = pull(hub, hf_home, "hf://org/prefs@v1", HF_HUB_OFFLINE="1")
    assert offline["sha"] == online["sha"] and offline["path"] == online["path"]
    assert len(hub.requests) == seen  # not one request reached the server
    uncached = run(hub, hf_home, "pull", "hf://org/prefs@v404", HF_HUB_OFFLINE="1")
    assert uncached.returncode == 2 and "not in the local Hugging Face cache" in uncached.stderr


def test_datasets_loads_the_tagged_revision(hub: LocalHub, hf_home: Path, releases: dict) -> None:
    """The card's `configs` and load instructions work with the datasets library against the same endpoint."""
    environ = client_env(hub, hf_home)
    code = (
        "import json; from datasets import load_dataset; ds = load_dataset('org/prefs', revision='v1'); "
        "print(json.dumps({split: list(ds[split]['qid']) for split in ds}))"
    )
    result = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    v1_source = releases["v1"][0]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        split: pl.read_parquet(v1_source / "data" / f"{split}.parquet")["qid"].to_list()
        for split in ("train", "validation")
    }
