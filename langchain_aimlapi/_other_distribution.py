"""The `langchain-aimlapi` distribution on PyPI ships a package of the same import name as ours.

pip installs files without checking who else owns them, so with both distributions installed
the `langchain_aimlapi/__init__.py` of whichever came last wins. When ours runs, ours won: warn,
because that package's classes are then gone from `langchain_aimlapi` without a word.
"""

from __future__ import annotations

import warnings
from importlib import metadata

OTHER_DISTRIBUTION = "langchain-aimlapi"


def warn_if_installed() -> None:
    try:
        version = metadata.version(OTHER_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return
    msg = (
        f"{OTHER_DISTRIBUTION} {version} is installed next to aimlapi-embeddings, and both ship "
        "the package `langchain_aimlapi`. This one, aimlapi-embeddings', was installed last and "
        "replaced its `__init__.py`: ChatAimlapi, AimlapiLLM, AimlapiImageModel and "
        "AimlapiVideoModel can no longer be imported from `langchain_aimlapi`, and "
        f"{OTHER_DISTRIBUTION}'s requirement langchain-core<0.4 is not met (this package needs "
        "langchain-core>=1). Keep one of the two: `pip uninstall -y langchain-aimlapi "
        "aimlapi-embeddings`, then reinstall the one you want (uninstalling either one deletes "
        "files the other shares)."
    )
    # stacklevel 3: the warning points at the line that imported langchain_aimlapi.
    warnings.warn(msg, UserWarning, stacklevel=3)
