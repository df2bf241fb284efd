"""A scriptable fault server: tests/support's aiosmtpd server, with faults chosen per recipient.

    srv = ScriptedServer(script)            # several servers may share one Script
    script.add("RCPT", "a@example.com", "451 4.7.1 greylisted", "451 4.7.1 greylisted")
    script.add("END", "b@example.com", "accept-then-drop")

Stages: RCPT, DATA (the DATA command), DATA_MID (drop after 354, while the message comes in),
END (after the final "."). Actions as in tests/support (a reply line; 421 also closes; "drop";
"hang"), plus "accept-then-drop" at END: the message is stored, then the connection drops
before the reply (the client cannot know it was delivered). Each action is used once, by the
next transaction for that recipient; `script.injected` lists what was used.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from tests.support.smtpd import FOREVER, CaptureHandler, FaultySMTP, SmtpTestServer


@dataclass
class Script:
    queued: dict[tuple[str, str], deque[str]] = field(default_factory=lambda: defaultdict(deque))
    injected: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, stage: str, address: str, *actions: str) -> None:
        self.queued[(stage.upper(), address)].extend(actions)

    def take(self, stage: str, address: str) -> str | None:
        queue = self.queued.get((stage, address))
        if not queue:
            return None
        action = queue.popleft()
        self.injected.append((stage, address, action))
        return action


def _rcpt_address(arg: str | None) -> str:
    arg = (arg or "").strip()
    start, end = arg.find("<"), arg.find(">")
    return arg[start + 1 : end] if 0 <= start < end else ""


class ScriptedSMTP(FaultySMTP):
    owner: ScriptedServer

    async def smtp_RCPT(self, arg: str | None) -> None:
        action = self.owner.script.take("RCPT", _rcpt_address(arg))
        if action is None:
            await super().smtp_RCPT(arg)
        else:
            await self.push(await self.fault(action))

    async def smtp_DATA(self, arg: str) -> None:
        if self.envelope is not None and self.envelope.rcpt_tos and not arg:
            address = self.envelope.rcpt_tos[0]
            action = self.owner.script.take("DATA", address)
            if action is not None:
                await self.push(await self.fault(action))
                return
            if self.owner.script.take("DATA_MID", address) is not None:
                self.handler.data_started += 1
                await self.push("354 End data with <CR><LF>.<CR><LF>")
                await self._reader.readuntil(b"\r\n")
                if self.transport is not None:
                    self.transport.abort()
                await asyncio.sleep(FOREVER)
        await super().smtp_DATA(arg)


class ScriptedHandler(CaptureHandler):
    def __init__(self, owner: ScriptedServer) -> None:
        super().__init__(owner.faults)
        self.owner = owner

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        action = self.owner.script.take("END", envelope.rcpt_tos[0])
        if action == "accept-then-drop":
            await super().handle_DATA(server, session, envelope)
            return await server.fault("drop")
        if action is not None:
            self.data_commands += 1
            return str(await server.fault(action))
        return await super().handle_DATA(server, session, envelope)


class ScriptedServer(SmtpTestServer):
    """SmtpTestServer whose faults can also be scripted per recipient (shared Script)."""

    def __init__(self, script: Script, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script = script
        self.handler = ScriptedHandler(self)

    def _protocol(self) -> FaultySMTP:
        protocol = super()._protocol()
        protocol.__class__ = ScriptedSMTP  # same state, per-recipient fault hooks added
        assert isinstance(protocol, ScriptedSMTP)
        # aiosmtpd looks commands up in a table of bound methods made in __init__.
        protocol._smtp_methods.update(RCPT=protocol.smtp_RCPT, DATA=protocol.smtp_DATA)
        return protocol
