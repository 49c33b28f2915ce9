"""Where roadmark keeps its state on this machine."""

from __future__ import annotations

import os
from pathlib import Path


def roadmark_home() -> Path:
    """Return the state folder: ``$ROADMARK_HOME``, else ``./.roadmark`` in the working directory.

    It holds the lake, the Dagster instance, the Label Studio data and the demo's device folders.
    """
    configured = os.environ.get("ROADMARK_HOME")
    return Path(configured).expanduser().resolve() if configured else Path.cwd() / ".roadmark"
