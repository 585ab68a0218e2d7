"""What of a raw completion each score mode reads, per prompt format (plain answers first, explain answers last)."""

from __future__ import annotations

from medprefs.eval.config import PromptMode

ANSWER_MARK = "答え:"


def strict_text(raw: str, prompt_mode: PromptMode) -> str:
    """The answer string the official rule compares. Plain: the completion's first line (the prompt ends in `答え:`);
    explain: the text after the last `答え:` up to the line end, '' when there is none. Only the whitespace around
    that line is removed (the model writes `答え: a` with a space, as the demonstrations do); the scorer itself
    strips nothing, so `a, b` stays wrong."""
    if prompt_mode == "explain":
        if ANSWER_MARK not in raw:
            return ""
        raw = raw.rsplit(ANSWER_MARK, 1)[1]
    return raw.split("\n", 1)[0].strip()


def robust_text(raw: str, prompt_mode: PromptMode) -> str:
    """What the shared extraction reads: plain, the first line (anything later is not the answer to this prompt);
    explain, the whole completion (the extraction finds the final answer statement)."""
    return raw.split("\n", 1)[0] if prompt_mode == "plain" else raw
