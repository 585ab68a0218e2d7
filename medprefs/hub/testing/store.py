"""The state of the local Hub: repos, every commit's tree, branches, tags, content-addressed blobs and tokens."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatch

# Files the Hub stores through LFS by default (its initial .gitattributes), plus anything over 10 MB.
LFS_PATTERNS = ("*.parquet", "*.arrow", "*.bin", "*.safetensors", "*.pt", "*.zip", "*.gz")
LFS_MIN_BYTES = 10 * 1024 * 1024
GITATTRIBUTES = "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in LFS_PATTERNS)
_SHA_PREFIX = re.compile(r"^[0-9a-f]{7,40}$")


class HubError(Exception):
    """An HTTP error the server answers with: status, message, and the Hub's X-Error-Code when it has one."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


def git_oid(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str  # key of the content in the blob store
    lfs: bool
    regular_oid: str = ""  # git blob id of a regular file's content

    @property
    def oid(self) -> str:
        """The git blob id: of the content for regular files, of the pointer file for LFS files."""
        return self.pointer_oid if self.lfs else self.regular_oid

    @property
    def pointer_oid(self) -> str:
        return git_oid(lfs_pointer(self.sha256, self.size))


@dataclass
class Commit:
    sha: str
    parent: str | None
    tree: dict[str, FileEntry]
    message: str
    date: str


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Token:
    user: str
    write: bool = True


class HubStore:
    """Thread-safe: every mutation holds one lock, so a commit's parent check and branch update are atomic."""

    def __init__(self, lfs: bool = True):
        self.lfs = lfs
        self.lock = threading.RLock()
        self.repos: dict[tuple[str, str], Repo] = {}
        self.blobs: dict[str, bytes] = {}
        self.tokens: dict[str, Token] = {}
        self._counter = 0

    # -- auth -----------------------------------------------------------------------------------------------------
    def user_for(self, token: str | None) -> Token | None:
        if token is None:
            return None
        if token not in self.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        return self.tokens[token]

    def require_write(self, token: Token | None, repo_id: str) -> None:
        if token is None:
            raise HubError(401, "You must be authenticated to write to this repo")
        if not token.write or repo_id.split("/")[0] != token.user:
            raise HubError(403, f"You don't have the rights to write to {repo_id}")

    # -- repos and revisions ----------------------------------------------------------------------------------------
    def repo(self, repo_type: str, repo_id: str, token: Token | None) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and (token is None or token.user != repo_id.split("/")[0])):
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return repo

    def create_repo(self, repo_type: str, repo_id: str, private: bool, token: Token | None) -> tuple[Repo, bool]:
        self.require_write(token, repo_id)
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                return self.repos[(repo_type, repo_id)], False
            repo = Repo(repo_type, repo_id, private)
            self.repos[(repo_type, repo_id)] = repo
            # like the Hub, a new repo starts with one commit holding .gitattributes
            self._apply(repo, "main", None, [("file", ".gitattributes", GITATTRIBUTES.encode())], "initial commit")
            return repo, True

    def resolve(self, repo: Repo, revision: str) -> Commit:
        """A branch, a tag, a full commit sha or a unique prefix of one."""
        sha = repo.branches.get(revision) or repo.tags.get(revision)
        if sha is None and _SHA_PREFIX.match(revision):
            matches = [commit for commit in repo.commits if commit.startswith(revision)]
            sha = matches[0] if len(matches) == 1 else None
        if sha is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return repo.commits[sha]

    # -- writes -----------------------------------------------------------------------------------------------------
    def upload_mode(self, path: str, size: int) -> str:
        lfs = self.lfs and size > 0 and (size >= LFS_MIN_BYTES or any(fnmatch(path, p) for p in LFS_PATTERNS))
        return "lfs" if lfs else "regular"

    def put_blob(self, content: bytes) -> str:
        sha256 = hashlib.sha256(content).hexdigest()
        with self.lock:
            self.blobs[sha256] = content
        return sha256

    def commit(self, repo: Repo, branch: str, parent: str | None, operations: list[tuple], message: str) -> Commit:
        """Apply operations on top of `branch`; 412 when `parent` is given and the branch has moved since."""
        with self.lock:
            if branch not in repo.branches:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            if parent is not None and repo.branches[branch] != parent:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            return self._apply(repo, branch, repo.branches[branch], operations, message)

    def _apply(self, repo: Repo, branch: str, parent: str | None, operations: list[tuple], message: str) -> Commit:
        tree = dict(repo.commits[parent].tree) if parent else {}
        for kind, path, payload in operations:
            if kind == "file":
                sha256 = self.put_blob(payload)
                tree[path] = FileEntry(path, len(payload), sha256, lfs=False, regular_oid=git_oid(payload))
            elif kind == "lfsFile":
                if payload not in self.blobs:
                    raise HubError(422, f"LFS object {payload} of {path} was never uploaded")
                tree[path] = FileEntry(path, len(self.blobs[payload]), payload, lfs=True)
            elif kind == "deletedFile":
                if tree.pop(path, None) is None:
                    raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            elif kind == "deletedFolder":
                for name in [name for name in tree if name.startswith(path.rstrip("/") + "/")]:
                    del tree[name]
        self._counter += 1
        listing = {path: entry.oid for path, entry in sorted(tree.items())}
        sha = hashlib.sha1(json.dumps([parent, listing, message, self._counter]).encode()).hexdigest()
        commit = Commit(sha, parent, tree, message, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        repo.commits[sha] = commit
        repo.branches[branch] = sha
        return commit

    def create_ref(self, repo: Repo, kind: str, name: str, revision: str) -> None:
        with self.lock:
            refs = repo.tags if kind == "tag" else repo.branches
            if name in refs:
                raise HubError(409, f"{kind.capitalize()} {name} already exists")
            refs[name] = self.resolve(repo, revision).sha
