"""Admin API access: its tokens."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An admin API token: only the SHA-256 of the secret is kept (campaignd.api.auth)."""

    id: int
    name: str
    token_hash: str  # hex SHA-256 of the token; never shown
    read_only: bool
    created_at: dt.datetime
