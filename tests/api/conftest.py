"""The admin API over the in-memory store, through httpx's ASGI transport; tokens made ready."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from campaignd.api.app import create_api_app
from campaignd.api.tokens import create_token
from campaignd.config import SecuritySettings, Settings, SmtpSettings
from campaignd.domain import utcnow
from campaignd.messengers.recording import RecordingMessenger
from campaignd.store.memory import MemoryStore

BASE = "http://api.test/api/v1"


def api_settings(**api: Any) -> Settings:
    return Settings(
        security=SecuritySettings(secret=SecretStr("s" * 32)),
        smtp=(SmtpSettings(host="127.0.0.1", port=2525),),
        api={"enabled": True, **api},
    )


@dataclass
class Api:
    client: httpx.AsyncClient  # with the read-write token
    store: MemoryStore
    writer: str
    reader: str
    mail: RecordingMessenger

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    store = MemoryStore()
    mail = RecordingMessenger()
    app = create_api_app(
        store, api_settings(max_body_size=4096), messengers=lambda s: {"email": mail}
    )
    _, writer = await create_token(store, "shop", read_only=False, now=utcnow())
    _, reader = await create_token(store, "reports", read_only=True, now=utcnow())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE, headers={"Authorization": f"Bearer {writer}"}
    ) as client:
        yield Api(client, store, writer, reader, mail)
