"""Secrets kept in files: reading one, and warning once if such a file is readable by others."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

# The records keep the name they had when all of config was one module.
log = logging.getLogger("campaignd.config")

_warned: set[str] = set()  # files already warned about, once per process


def read_secret_file(path: Path, key: str, holds: str) -> str:
    """The stripped text of a secret file; ValueError naming `key` if it cannot be read."""
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{key} cannot be read: {exc.strerror}") from exc
    warn_if_readable(path, [holds])
    return secret


def warn_if_readable(path: Path, holds: list[str]) -> None:
    """Warn once if a file holding secrets (named by key, never shown) is group/other-readable."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if holds and mode & (stat.S_IRGRP | stat.S_IROTH) and str(path) not in _warned:
        _warned.add(str(path))
        log.warning(
            "%s holds %s and is readable by other users (mode %04o); chmod 600 it",
            path,
            ", ".join(holds),
            mode,
            extra={"action": "config.permissions"},
        )
