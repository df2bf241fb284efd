"""docs/api.md names every endpoint of the table (a new row without docs fails here)."""

from __future__ import annotations

import re
from pathlib import Path

from campaignd.api.app import ENDPOINTS

DOC = (Path(__file__).parents[2] / "docs" / "api.md").read_text()


def _documented(method: str, path: str) -> bool:
    """`METHOD /path` in a row, or an action like `POST /campaigns/{id}/start`, `/pause`."""
    generic = re.sub(r"{\w+}", "{id}", path)
    for row in DOC.splitlines():
        if not row.startswith("| `") or method not in row.split("|")[1]:
            continue
        cell = row.split("|")[1]
        if (
            path in cell
            or generic in cell
            or ("/" in path and f"`/{path.rsplit('/', 1)[1]}`" in cell)
        ):
            return True
    return False


def test_every_endpoint_is_in_the_docs() -> None:
    missing = [f"{e.method} {e.path}" for e in ENDPOINTS if not _documented(e.method, e.path)]
    assert not missing, f"docs/api.md lacks {missing}"
