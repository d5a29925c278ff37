"""The emulator's own token count: deterministic, realistic-ish, and deliberately not the client's.

The client estimates tokens without a tokenizer; the emulator counts by different rules so that
tests exercise what happens when the server disagrees with the client's estimate.
"""

from __future__ import annotations

import re

__all__ = ["count_tokens"]

# A run of ASCII letters and digits, or any single other visible character.
_PIECES = re.compile(r"[A-Za-z0-9]+|\S")


def count_tokens(text: str) -> int:
    """The number of tokens the emulator charges for `text`.

    A run of ASCII letters and digits costs one token per four characters, rounded up; every
    other visible character (punctuation, accented letters, CJK) costs one, and a character
    outside the Basic Multilingual Plane (most emoji) two. Whitespace is free, but a non-empty
    text costs at least one token, as with real tokenizers.
    """
    if not text:
        return 0
    tokens = 0
    for piece in _PIECES.findall(text):
        if len(piece) > 1:
            tokens += (len(piece) + 3) >> 2
        else:
            tokens += 2 if piece > "\uffff" else 1
    return max(tokens, 1)
