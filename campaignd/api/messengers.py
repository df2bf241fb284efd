"""/api/v1/messengers: the configured messengers and their servers (no credentials)."""

from __future__ import annotations

from pydantic import BaseModel

from campaignd.api.endpoints import Call, Endpoint


class Server(BaseModel):
    label: str
    host: str
    port: int


class Messenger(BaseModel):
    messenger: str
    servers: list[Server]


async def list_messengers(call: Call) -> list[Messenger]:
    return [
        Messenger(
            messenger=name,
            servers=[Server(label=s.label, host=s.host, port=s.port) for s in servers],
        )
        for name, servers in sorted(call.settings.messengers().items())
    ]


ENDPOINTS = [
    Endpoint("GET", "/messengers", list_messengers, "Messengers: names, hosts and ports",
             list[Messenger], "messengers"),
]  # fmt: skip
