"""Where the stack's files live: the clone, and the cache of downloads shared by every root."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def default_cache_dir() -> Path:
    """SWITCHBOARD_CACHE_DIR, else ~/.cache/switchboard (the only environment read here)."""
    given = os.environ.get("SWITCHBOARD_CACHE_DIR")
    return Path(given) if given else Path.home() / ".cache" / "switchboard"
