"""What to say when an optional dependency is missing: the extra of this package that brings it."""

from __future__ import annotations

DISTRIBUTION = "aimlapi-embeddings"


def missing_extra(error: ImportError, *, extra: str, needed_by: str) -> ModuleNotFoundError:
    """The error to raise `from error`: it names the missing module and the pip line that fixes it.

    A ModuleNotFoundError, like the one it replaces, so `except ModuleNotFoundError` still works.
    """
    missing = error.name or "a module"
    msg = (
        f"{needed_by} needs {missing}, which is not installed: "
        f'pip install "{DISTRIBUTION}[{extra}]"'
    )
    return ModuleNotFoundError(msg, name=error.name)
