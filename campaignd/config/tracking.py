"""The [tracking] section: privacy mode, machine-open heuristics and the hit buffer's flushing."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import Field, field_validator

from campaignd.config.fields import Duration, Frozen, case_insensitive
from campaignd.domain import TrackingMode

#: User-agent fragments (lowercase) of link scanners and previewers: their hits count as machine.
MACHINE_AGENTS = (
    "bot",
    "crawl",
    "spider",
    "scan",
    "preview",
    "proofpoint",
    "mimecast",
    "barracuda",
    "safelinks",
    "python-",
    "go-http-client",
)
#: Apple's own network: Apple Mail Privacy Protection fetches every image from here.
APPLE_NETWORKS = ("17.0.0.0/8",)


class TrackingSettings(Frozen):
    """Opens and clicks: only for campaigns created with `--track`; see docs/tracking.md."""

    mode: Annotated[TrackingMode, case_insensitive(TrackingMode)] = TrackingMode.ANONYMOUS
    #: A hit this soon after the message was built is a scanner's prefetch, not a reader.
    machine_window: Annotated[Duration, Field(le=3600)] = 5.0
    machine_agents: tuple[str, ...] = MACHINE_AGENTS
    apple_networks: tuple[str, ...] = APPLE_NETWORKS
    #: Hits wait in memory at most this long (or until flush_hits are waiting), then one
    #: transaction writes them all.
    flush_interval: Annotated[Duration, Field(gt=0, le=60)] = 1.0
    flush_hits: int = Field(default=1000, ge=1, le=100_000)
    #: Beyond this many unwritten hits (database down) new hits are dropped and counted.
    max_buffered: int = Field(default=100_000, ge=1, le=10_000_000)

    @field_validator("machine_agents")
    @classmethod
    def _agents(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not part.strip() for part in value):
            raise ValueError("must not hold an empty fragment (it would match every client)")
        return tuple(part.strip().lower() for part in value)

    @field_validator("apple_networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for text in value:
            try:
                out.append(str(ipaddress.ip_network(text, strict=False)))
            except ValueError:
                raise ValueError(f"{text!r} is not an IP network such as 17.0.0.0/8") from None
        return tuple(out)
