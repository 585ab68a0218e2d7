"""The console's announcements: one unbroken line, user text printed as written."""

from rich.console import Console

from medprefs import console as console_module


def test_an_announcement_is_one_unbroken_line_and_brackets_are_text(monkeypatch):
    narrow = Console(width=40, record=True, force_terminal=False, color_system=None)
    monkeypatch.setattr(console_module, "console", narrow)
    message = "/a/very/long/path/to/the/benchmark/[bold]file.jsonl: no question from 2019, 2020; scored without them"
    console_module.announce(message)
    printed = narrow.export_text()
    assert printed == f"medprefs: {message}\n"
