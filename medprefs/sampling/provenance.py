"""What a response set was made from: the model (path, revision, weights hash) and the run identity a resume must match."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medprefs.errors import MedprefsError
from medprefs.manifest import canonical_json, read_json, sha256_bytes, sha256_file, write_json

WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "special_tokens_map.json",
)


@dataclass(frozen=True)
class ResolvedModel:
    """A model folder on disk; `revision` is the commit sha when it came from the Hub."""

    source: str
    path: Path
    revision: str | None
    weights_sha256: str
    tokenizer_sha256: str

    def record(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "path": str(self.path),
            "revision": self.revision,
            "weights_sha256": self.weights_sha256,
            "tokenizer_sha256": self.tokenizer_sha256,
        }


def resolve_model(model: str) -> ResolvedModel:
    """A local folder, or a Hub repo `ORG/NAME[@REV]` fetched (or found in the cache) at a pinned commit."""
    path, revision = (Path(model), None) if Path(model).exists() else hub_snapshot(model)
    if not (path / "config.json").is_file():
        raise MedprefsError(f"model {model}: no config.json in {path}")
    weights = weight_files(path)
    if not weights:
        raise MedprefsError(f"model {model}: no weight files ({', '.join(WEIGHT_PATTERNS)}) in {path}")
    tokenizer = sorted(path / name for name in TOKENIZER_FILES if (path / name).is_file())
    return ResolvedModel(model, path.resolve(), revision, files_sha256(weights), files_sha256(tokenizer))


def weight_files(folder: Path) -> list[Path]:
    """The weight files of a model or adapter folder, in a stable order."""
    return sorted(f for pattern in WEIGHT_PATTERNS for f in folder.glob(pattern))


def folder_weights_sha256(folder: str | Path | None) -> str | None:
    """`files_sha256` over the weights of a local folder; None for a Hub id or a folder without weights."""
    if folder is None or not Path(folder).is_dir():
        return None
    weights = weight_files(Path(folder))
    return files_sha256(weights) if weights else None


def hub_snapshot(model: str) -> tuple[Path, str]:
    """The local snapshot of Hub repo `ORG/NAME[@REV]` (fetched or from the cache) and its commit sha."""
    repo, _, revision = model.partition("@")
    if repo.count("/") != 1:
        raise MedprefsError(f"model {model}: not a folder, and not a Hub repo ORG/NAME[@REV]")
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(repo, revision=revision or None))
    except Exception as error:  # network, auth, unknown revision: one line for the user
        # `runs/cpt` reads as ORG/NAME too: a mistyped local folder must not be reported as only a network error.
        raise MedprefsError(
            f"model {model}: no such folder, and cannot fetch it from the Hub: {str(error).splitlines()[0]}"
        ) from None
    return folder, folder.name  # snapshot folders are named by commit sha


def files_sha256(files: list[Path]) -> str:
    """One hash over named files (name + content hash each), the per-file hashes cached by size and mtime."""
    cache = _HashCache()
    listing = {f.name: cache.sha256(f) for f in files}
    cache.save()
    return sha256_bytes(canonical_json(listing).encode("utf-8"))


class _HashCache:
    """Hashing tens of GB of weights takes minutes: remember each file's hash until its size or mtime changes."""

    def __init__(self) -> None:
        root = Path(
            os.environ.get(
                "MEDPREFS_CACHE", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "medprefs"
            )
        )
        self.path = root / "file-sha256.json"
        try:
            self.entries: dict[str, str] = read_json(self.path) if self.path.is_file() else {}
        except MedprefsError:
            self.entries = {}  # a corrupt cache is only a cache
        self.dirty = False

    def sha256(self, file: Path) -> str:
        stat = file.stat()
        key = f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        if key not in self.entries:
            self.entries[key] = sha256_file(file)
            self.dirty = True
        return self.entries[key]

    def save(self) -> None:
        if self.dirty:
            try:
                write_json(self.path, self.entries)
            except OSError:
                pass  # a read-only home only costs re-hashing next time


def identity_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths whose values differ between two identity records, with both values."""
    diffs = []
    for key in sorted(set(old) | set(new)):
        path = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs.extend(identity_diff(a, b, f"{path}."))
        elif a != b:
            diffs.append(f"{path} ({_short(a)} -> {_short(b)})")
    return diffs


def _short(value: Any) -> str:
    text = canonical_json(value)
    return text if len(text) <= 40 else text[:37] + "..."
