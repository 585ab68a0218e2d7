"""The Hub HTTP endpoints huggingface_hub uses to create, upload (regular and LFS), commit, tag, list and download."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import yaml

from medprefs.hub.testing.store import Commit, FileEntry, HubError, HubStore, Repo, Token, lfs_pointer


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any
    body: bytes
    token: Token | None
    base: str  # http://127.0.0.1:PORT

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except json.JSONDecodeError as error:
            raise HubError(400, f"invalid JSON body: {error}") from None


@dataclass
class Response:
    status: int = 200
    payload: Any = field(default_factory=dict)  # JSON-able, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[["HubApi", Request, re.Match], Response]
_TYPES = r"(?P<type>models|datasets|spaces)"
_REPO = r"(?P<repo>[^/]+/[^/]+?)"
_PREFIX = r"(?:(?P<prefix>datasets|spaces)/)?"


class HubApi:
    """Request handlers over a HubStore; `before_commit` hooks let a test land a concurrent commit."""

    def __init__(self, store: HubStore):
        self.store = store
        self.before_commit: list[Callable[[HubStore], None]] = []
        self.pending_lfs: set[str] = set()

    def route(self, request: Request) -> Response:
        for methods, pattern, handler in ROUTES:
            match = pattern.match(request.path)
            if match and request.method in methods:
                return handler(self, request, match)
        raise HubError(404, f"no such endpoint: {request.method} {request.path}")

    # -- helpers --------------------------------------------------------------------------------------------------
    def _repo(self, request: Request, match: re.Match) -> Repo:
        plural = match.groupdict().get("type") or match.groupdict().get("prefix") or "models"
        return self.store.repo(plural[:-1], unquote(match["repo"]), request.token)

    def _commit(self, request: Request, match: re.Match) -> tuple[Repo, Commit]:
        repo = self._repo(request, match)
        return repo, self.store.resolve(repo, unquote(match["rev"]))

    # -- repos ----------------------------------------------------------------------------------------------------
    def create_repo(self, request: Request, match: re.Match) -> Response:
        data = request.json()
        repo_id = f"{data.get('organization') or (request.token.user if request.token else '')}/{data['name']}"
        repo_type = data.get("type") or "model"
        private = data.get("visibility") == "private" or bool(data.get("private"))
        _, created = self.store.create_repo(repo_type, repo_id, private, request.token)
        url = f"{request.base}/{'' if repo_type == 'model' else repo_type + 's/'}{repo_id}"
        if not created:
            return Response(409, {"error": "You already created this repo", "url": url})
        return Response(200, {"url": url, "name": repo_id})

    def repo_info(self, request: Request, match: re.Match) -> Response:
        repo, commit = self._commit(request, match) if match["rev"] else self._head(request, match)
        blobs = request.query.get("blobs", ["false"])[0].lower() in ("1", "true")
        siblings = [
            {"rfilename": path, **(_blob_info(entry) if blobs else {})} for path, entry in sorted(commit.tree.items())
        ]
        return Response(
            payload={
                "id": repo.repo_id,
                "author": repo.repo_id.split("/")[0],
                "sha": commit.sha,
                "private": repo.private,
                "disabled": False,
                "gated": False,
                "lastModified": commit.date,
                "tags": [],
                "siblings": siblings,
            }
        )

    def _head(self, request: Request, match: re.Match) -> tuple[Repo, Commit]:
        repo = self._repo(request, match)
        return repo, repo.commits[repo.branches["main"]]

    def refs(self, request: Request, match: re.Match) -> Response:
        repo = self._repo(request, match)

        def listing(refs: dict[str, str], kind: str) -> list[dict[str, str]]:
            return [
                {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": sha} for name, sha in sorted(refs.items())
            ]

        return Response(
            payload={
                "branches": listing(repo.branches, "heads"),
                "tags": listing(repo.tags, "tags"),
                "converts": [],
                "pullRequests": [],
            }
        )

    # -- uploads and commits ---------------------------------------------------------------------------------------
    def preupload(self, request: Request, match: re.Match) -> Response:
        repo, commit = self._commit(request, match)
        self.store.require_write(request.token, repo.repo_id)
        files = []
        for item in request.json().get("files", []):
            mode = self.store.upload_mode(item["path"], int(item["size"]))
            existing = commit.tree.get(item["path"])
            oid = None if existing is None else existing.sha256 if existing.lfs else existing.regular_oid
            files.append({"path": item["path"], "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        return Response(payload={"files": files})

    def lfs_batch(self, request: Request, match: re.Match) -> Response:
        repo = self._repo(request, match)
        self.store.require_write(request.token, repo.repo_id)
        objects = []
        for item in request.json().get("objects", []):
            oid, size = item["oid"], int(item["size"])
            entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if oid not in self.store.blobs:  # already stored objects need no upload, as on the Hub
                self.pending_lfs.add(oid)
                entry["actions"] = {
                    "upload": {"href": f"{request.base}/_lfs/upload/{oid}"},
                    "verify": {"href": f"{request.base}/_lfs/verify"},
                }
            objects.append(entry)
        return Response(payload={"transfer": "basic", "objects": objects})

    def lfs_upload(self, request: Request, match: re.Match) -> Response:
        oid = match["oid"]
        if oid not in self.pending_lfs:
            raise HubError(403, f"no upload was announced for LFS object {oid}")
        if hashlib.sha256(request.body).hexdigest() != oid:
            raise HubError(400, f"content does not match LFS object id {oid}")
        self.store.put_blob(request.body)
        self.pending_lfs.discard(oid)
        return Response(payload={})

    def lfs_verify(self, request: Request, match: re.Match) -> Response:
        data = request.json()
        blob = self.store.blobs.get(data.get("oid", ""))
        if blob is None or len(blob) != int(data.get("size", -1)):
            raise HubError(404, f"LFS object {data.get('oid')} not found")
        return Response(payload={})

    def commit(self, request: Request, match: re.Match) -> Response:
        repo = self._repo(request, match)
        self.store.require_write(request.token, repo.repo_id)
        header, operations = _parse_commit(request.body)
        while self.before_commit:
            self.before_commit.pop(0)(self.store)
        commit = self.store.commit(
            repo, unquote(match["rev"]), header.get("parentCommit"), operations, header.get("summary", "")
        )
        url_type = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        return Response(
            payload={
                "success": True,
                "commitOid": commit.sha,
                "pullRequestUrl": None,
                "commitUrl": f"{request.base}/{url_type}{repo.repo_id}/commit/{commit.sha}",
            }
        )

    def validate_yaml(self, request: Request, match: re.Match) -> Response:
        content = request.json().get("content", "")
        block = re.match(r"^---\s*\n(.*?)\n---\s*\n", content, re.DOTALL)
        try:
            data = yaml.safe_load(block.group(1)) if block else {}
        except yaml.YAMLError as error:
            return Response(400, {"errors": [{"message": f"invalid YAML: {error}"}], "warnings": []})
        if not isinstance(data, dict):
            return Response(400, {"errors": [{"message": "metadata must be a mapping"}], "warnings": []})
        return Response(payload={"errors": [], "warnings": []})

    def whoami(self, request: Request, match: re.Match) -> Response:
        if request.token is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        role = "write" if request.token.write else "read"
        return Response(
            payload={
                "type": "user",
                "name": request.token.user,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": role}},
            }
        )

    # -- reads ----------------------------------------------------------------------------------------------------
    def tree(self, request: Request, match: re.Match) -> Response:
        _, commit = self._commit(request, match)
        prefix = unquote(match["path"] or "").strip("/")
        recursive = request.query.get("recursive", ["false"])[0].lower() in ("1", "true")
        return Response(payload=_tree_entries(commit, prefix, recursive))

    def paths_info(self, request: Request, match: re.Match) -> Response:
        _, commit = self._commit(request, match)
        form = parse_qs(request.body.decode())
        entries = _tree_entries(commit, "", recursive=True)
        wanted = {path.strip("/") for path in form.get("paths", [])}
        return Response(payload=[entry for entry in entries if entry["path"] in wanted])

    def resolve_file(self, request: Request, match: re.Match) -> Response:
        _, commit = self._commit(request, match)
        entry = commit.tree.get(unquote(match["path"]))
        if entry is None:
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        content = self.store.blobs[entry.sha256]
        headers = {
            "X-Repo-Commit": commit.sha,
            "ETag": f'"{entry.oid}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if entry.lfs:
            headers |= {"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)}
        start = _range_start(request.headers.get("Range"), len(content))
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(content) - 1}/{len(content)}"
            return Response(206, content[start:], headers)
        return Response(200, content, headers)


def _ref_handler(kind: str) -> Handler:
    """POST .../tag/{rev} {"tag": name} and POST .../branch/{name} {"startingPoint": rev}."""

    def handler(api: HubApi, request: Request, match: re.Match) -> Response:
        repo = api._repo(request, match)
        api.store.require_write(request.token, repo.repo_id)
        data = request.json()
        name = data["tag"] if kind == "tag" else unquote(match["branch"])
        start = unquote(match["rev"]) if kind == "tag" else data.get("startingPoint") or "main"
        api.store.create_ref(repo, kind, name, start)
        return Response(payload={})

    return handler


def _blob_info(entry: FileEntry) -> dict[str, Any]:
    lfs = {"size": entry.size, "sha256": entry.sha256, "pointerSize": len(lfs_pointer(entry.sha256, entry.size))}
    return {"size": entry.size, "blobId": entry.oid, **({"lfs": lfs} if entry.lfs else {})}


def _tree_entries(commit: Commit, prefix: str, recursive: bool) -> list[dict[str, Any]]:
    files, folders = [], set()
    base = f"{prefix}/" if prefix else ""
    for path, entry in sorted(commit.tree.items()):
        if not path.startswith(base):
            continue
        parts = path[len(base) :].split("/")
        for depth in range(1, len(parts)):
            folders.add(base + "/".join(parts[:depth]))
        if recursive or len(parts) == 1:
            lfs = entry.lfs and {
                "oid": entry.sha256,
                "size": entry.size,
                "pointerSize": len(lfs_pointer(entry.sha256, entry.size)),
            }
            files.append(
                {"type": "file", "path": path, "size": entry.size, "oid": entry.oid, **({"lfs": lfs} if lfs else {})}
            )
    folder_entries = [
        {
            "type": "directory",
            "path": folder,
            "size": 0,
            "oid": hashlib.sha1(folder.encode() + commit.sha.encode()).hexdigest(),
        }
        for folder in sorted(folders)
        if recursive or "/" not in folder[len(base) :]
    ]
    return folder_entries + files


def _parse_commit(body: bytes) -> tuple[dict[str, Any], list[tuple]]:
    header: dict[str, Any] = {}
    operations: list[tuple] = []
    for line in body.splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        key, value = item["key"], item["value"]
        if key == "header":
            header = value
        elif key == "file":
            operations.append(("file", value["path"], base64.b64decode(value["content"])))
        elif key == "lfsFile":
            operations.append(("lfsFile", value["path"], value["oid"]))
        elif key in ("deletedFile", "deletedFolder"):
            operations.append((key, value["path"], None))
        else:
            raise HubError(400, f"unknown commit operation {key!r}")
    return header, operations


def _range_start(header: str | None, size: int) -> int:
    match = re.match(r"bytes=(\d+)-", header or "")
    start = int(match.group(1)) if match else 0
    if start > size:
        raise HubError(416, f"range start {start} beyond {size} bytes")
    return start


def _compile(methods: str, pattern: str, handler: Handler) -> tuple[set[str], re.Pattern, Handler]:
    return set(methods.split("|")), re.compile(pattern), handler


ROUTES = [
    _compile("POST", r"^/api/repos/create$", HubApi.create_repo),
    _compile("POST", r"^/api/validate-yaml$", HubApi.validate_yaml),
    _compile("GET", r"^/api/whoami-v2$", HubApi.whoami),
    _compile("GET", rf"^/api/{_TYPES}/{_REPO}(?:/revision/(?P<rev>[^/]+))?$", HubApi.repo_info),
    _compile("GET", rf"^/api/{_TYPES}/{_REPO}/refs$", HubApi.refs),
    _compile("POST", rf"^/api/{_TYPES}/{_REPO}/preupload/(?P<rev>[^/]+)$", HubApi.preupload),
    _compile("POST", rf"^/api/{_TYPES}/{_REPO}/commit/(?P<rev>[^/]+)$", HubApi.commit),
    _compile("POST", rf"^/api/{_TYPES}/{_REPO}/tag/(?P<rev>[^/]+)$", _ref_handler("tag")),
    _compile("POST", rf"^/api/{_TYPES}/{_REPO}/branch/(?P<branch>[^/]+)$", _ref_handler("branch")),
    _compile("GET", rf"^/api/{_TYPES}/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$", HubApi.tree),
    _compile("POST", rf"^/api/{_TYPES}/{_REPO}/paths-info/(?P<rev>[^/]+)$", HubApi.paths_info),
    _compile("POST", rf"^/{_PREFIX}{_REPO}\.git/info/lfs/objects/batch$", HubApi.lfs_batch),
    _compile("PUT", r"^/_lfs/upload/(?P<oid>[0-9a-f]{64})$", HubApi.lfs_upload),
    _compile("POST", r"^/_lfs/verify$", HubApi.lfs_verify),
    _compile("GET|HEAD", rf"^/{_PREFIX}{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$", HubApi.resolve_file),
]
