"""Errors a user sees as one clear line (the CLI prints them without a traceback unless --debug)."""

from __future__ import annotations


class MedprefsError(Exception):
    """An error caused by input or configuration, reported to the user as one line; exit status 2."""

    exit_code = 2


class InputError(MedprefsError):
    """A bad input row or value, naming where it is: file, line and field."""

    def __init__(self, reason: str, *, file: str | None = None, line: int | None = None, field: str | None = None):
        self.reason = reason
        self.file = file
        self.line = line
        self.field = field
        where = ":".join(str(part) for part in (file, line) if part is not None)
        prefix = f"{where}: " if where else ""
        field_part = f"field '{field}': " if field else ""
        super().__init__(f"{prefix}{field_part}{reason}")


class LeakageError(MedprefsError):
    """An input without a passing leakage verdict was used where one is required."""


def require(condition: bool, message: str) -> None:
    """Raise a MedprefsError with `message` unless `condition` holds (for config validation)."""
    if not condition:
        raise MedprefsError(message)
