"""docs/api.md names every endpoint of the table (a new row without docs fails here)."""

from __future__ import annotations

import re
from pathlib import Path

from campaignd.api.app import ENDPOINTS

DOC = (Path(__file__).parents[2] / "docs" / "api.md").read_text()


def _documented(method: str, path: str) -> bool:
    """`METHOD /path` in a row, or an action like `POST /campaigns/{id}/start`, `/pause`."""
    generic = re.sub(r"{\w+}", "{id}", path)
    parent, _, last = generic.rpartition("/")
    for row in DOC.splitlines():
        cell = row.split("|")[1] if row.startswith("| `") else ""
        for shown in (path, generic):
            if re.search(rf"`{method} {re.escape(shown)}[`?]", cell):
                return True
        if re.search(rf"`{method} {re.escape(parent)}/[\w-]+`", cell) and f"`/{last}`" in cell:
            return True
    return False


def test_every_endpoint_is_in_the_docs() -> None:
    missing = [f"{e.method} {e.path}" for e in ENDPOINTS if not _documented(e.method, e.path)]
    assert not missing, f"docs/api.md lacks {missing}"
