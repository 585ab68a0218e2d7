"""Talking to the Hub through huggingface_hub: retries on transient errors, one-line errors, the token kept out of both."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import httpx2
from huggingface_hub import constants, get_token
from huggingface_hub.errors import (
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
    RevisionResolutionError,
)

from medprefs.console import announce
from medprefs.errors import MedprefsError

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
RETRY_ATTEMPTS = 4
RETRY_BASE_DELAY_S = 1.0
RETRY_MAX_DELAY_S = 8.0
# Hub user tokens ("hf_..."), OAuth tokens ("hf_oauth_..."), and whatever follows "Bearer": never shown.
_TOKEN_PATTERNS = (re.compile(r"hf_[A-Za-z0-9_]{8,}"), re.compile(r"(?i)(bearer\s+)\S+"))


def endpoint_of(endpoint: str | None) -> str:
    """The endpoint huggingface_hub will use: the one given, else HF_ENDPOINT as read at import."""
    return (endpoint or constants.ENDPOINT).rstrip("/")


def redact(text: str, token: str | None = None) -> str:
    """`text` with the token (given, or the one huggingface_hub would send) and token-like strings masked."""
    secrets = [secret for secret in (token, _current_token()) if secret]
    for secret in secrets:
        text = text.replace(secret, "***")
    text = _TOKEN_PATTERNS[0].sub("***", text)
    return _TOKEN_PATTERNS[1].sub(r"\1***", text)


def _current_token() -> str | None:
    try:
        return get_token()
    except Exception:  # a broken token file or OIDC set-up must not turn redaction into a crash
        return None


def is_transient(error: BaseException) -> bool:
    if isinstance(error, RevisionResolutionError):  # the Hub could not be reached and nothing was cached
        return not constants.is_offline_mode()
    if isinstance(error, HfHubHTTPError):
        return error.response is not None and error.response.status_code in TRANSIENT_STATUS
    return isinstance(error, httpx2.TransportError) and not isinstance(error, httpx2.ProxyError)


def status_of(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    return response.status_code if response is not None else None


def with_retries(call: Callable[[], T], what: str, *, attempts: int = RETRY_ATTEMPTS) -> T:
    """Run `call`, retrying transient failures (429, 5xx, connection errors) with exponential backoff."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except (HfHubHTTPError, httpx2.TransportError, RevisionResolutionError) as error:
            if attempt == attempts or not is_transient(error):
                raise
            delay = min(RETRY_BASE_DELAY_S * 2 ** (attempt - 1), RETRY_MAX_DELAY_S)
            reason = f"HTTP {status_of(error)}" if status_of(error) else type(error).__name__
            announce(f"{what}: {reason}, retrying in {delay:.0f}s (attempt {attempt + 1} of {attempts})")
            time.sleep(delay)
    raise AssertionError("unreachable")


@contextmanager
def hub_errors(what: str, repo: str, endpoint: str | None, *, token: str | None = None) -> Iterator[None]:
    """Turn huggingface_hub and network errors into one MedprefsError line that names the repo, never the token."""
    where = endpoint_of(endpoint)
    try:
        yield
    except MedprefsError:
        raise
    except RevisionNotFoundError:
        raise MedprefsError(f"{what}: revision not found in dataset repo {repo} at {where}") from None
    except OfflineModeIsEnabled:
        raise MedprefsError(f"{what}: HF_HUB_OFFLINE=1 is set, and this needs the Hub at {where}") from None
    except (RevisionResolutionError, LocalEntryNotFoundError):
        raise MedprefsError(
            f"{what}: {repo} is not in the local Hugging Face cache and the Hub cannot be used "
            f"(HF_HUB_OFFLINE=1 or no connection to {where})"
        ) from None
    except HfHubHTTPError as error:
        message = _http_message(what, repo, where, error, has_token=bool(token or _current_token()))
        raise MedprefsError(redact(message, token)) from None
    except httpx2.TransportError as error:
        raise MedprefsError(f"{what}: cannot reach the Hub at {where} ({type(error).__name__})") from None


def _http_message(what: str, repo: str, where: str, error: HfHubHTTPError, *, has_token: bool) -> str:
    status = status_of(error)
    if status in (401, 403) and not has_token:
        return f"{what}: the Hub at {where} requires a token; set HF_TOKEN or run `hf auth login`"
    if (status == 401 and not isinstance(error, RepositoryNotFoundError)) or _invalid_credentials(error):
        return (
            f"{what}: the Hub at {where} rejected the token (401 Unauthorized); set HF_TOKEN to a valid token "
            "or run `hf auth login`"
        )
    if status == 403:
        return f"{what}: permission denied on {repo} at {where} (403); the token needs write access to it"
    if status in (401, 404) or isinstance(error, RepositoryNotFoundError):
        return (
            f"{what}: dataset repo {repo} not found at {where} (404); check the name, or whether it is private "
            "and the token cannot read it"
        )
    server = getattr(error, "server_message", None) or str(error).strip().splitlines()[0]
    return f"{what}: the Hub at {where} answered HTTP {status} for {repo}: {server.strip()}"


def _invalid_credentials(error: HfHubHTTPError) -> bool:
    response = error.response
    return response is not None and "invalid credentials" in (response.headers.get("X-Error-Message") or "").lower()
