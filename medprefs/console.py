"""The one rich console and progress bar every stage uses (human output on stderr, so `--json` stdout stays clean)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True, highlight=False)


def progress(*extra_columns) -> Progress:
    """A progress bar with done/total, elapsed and remaining time; extra columns (rates) may be appended."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra_columns,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def announce(message: str) -> None:
    """One line the user should notice (a fallback taken, an override recorded).

    It is never wrapped by rich: the message often names a file, and a path broken over two lines can be neither
    copied nor grepped from a log (the terminal still folds a long line for the eye). The message is escaped, so a
    bracket in a path or a reason is printed, not read as rich markup.
    """
    console.print(f"[yellow]medprefs:[/yellow] {escape(message)}", soft_wrap=True)
