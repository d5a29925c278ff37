"""The emulator's own token count: deterministic, realistic-ish, and deliberately not the client's.

The client estimates tokens without a tokenizer; the emulator counts by different rules so that
tests exercise what happens when the server disagrees with the client's estimate.
"""

from __future__ import annotations

import re

__all__ = ["count_tokens"]

# Up to four ASCII letters or digits of a run, or any single other visible character: one token
# each, so a run of n letters makes ceil(n / 4) matches without a Python-level loop.
_TOKENS = re.compile(r"[A-Za-z0-9]{1,4}|\S")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def count_tokens(text: str) -> int:
    """The number of tokens the emulator charges for `text`.

    A run of ASCII letters and digits costs one token per four characters, rounded up; every
    other visible character (punctuation, accented letters, CJK) costs one, and a character
    outside the Basic Multilingual Plane (most emoji) two. Whitespace is free, but a non-empty
    text costs at least one token, as with real tokenizers.
    """
    if not text:
        return 0
    tokens = len(_TOKENS.findall(text))
    if not text.isascii():
        tokens += len(_ASTRAL.findall(text))
    return max(tokens, 1)
