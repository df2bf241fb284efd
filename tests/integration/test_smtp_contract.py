"""The Messenger contract, run against the SMTP messenger (aiosmtpd) and the recording twin."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from campaignd.config import SmtpSettings
from campaignd.domain import OutcomeKind, SendOutcome
from campaignd.messengers.pool import SmtpMessenger
from campaignd.messengers.protocol import Messenger
from campaignd.messengers.recording import RecordingMessenger
from campaignd.messengers.server import SmtpServer
from tests.support import SmtpTestServer

pytest_plugins = ["tests.support.fixtures"]

MESSAGE = b"From: a@example.org\r\nSubject: contract\r\n\r\nbody\r\n"


class Twin:
    """A messenger under test plus a view of what it delivered and a way to script a refusal."""

    def __init__(
        self,
        messenger: Messenger,
        delivered: Callable[[], list[bytes]],
        refuse_next: Callable[[str], None],
    ) -> None:
        self.messenger = messenger
        self.delivered = delivered
        self.refuse_next = refuse_next


@pytest.fixture(params=["smtp", "recording"])
async def twin(request: pytest.FixtureRequest, smtp_server: SmtpTestServer) -> AsyncIterator[Twin]:
    if request.param == "smtp":
        settings = SmtpSettings(
            host="127.0.0.1",
            port=smtp_server.port,
            tls_type="none",
            auth_protocol="none",
            name="contract",
            timeout=2,
        )
        m: Any = SmtpMessenger("contract", [SmtpServer(settings)])
        t = Twin(
            m,
            lambda: [c.data for c in smtp_server.messages],
            lambda reply: smtp_server.faults.add("RCPT", reply),
        )
    else:
        rec = RecordingMessenger("contract", ("contract",))

        def refuse(reply: str) -> None:
            code, enhanced, text = reply.split(" ", 2)
            kind = OutcomeKind.PERMANENT if code.startswith("5") else OutcomeKind.TRANSIENT
            rec.script([SendOutcome(kind, code=int(code), enhanced=enhanced, text=text)])

        t = Twin(rec, lambda: [s.message for s in rec.sent], refuse)
    try:
        yield t
    finally:
        await t.messenger.close()


async def test_name_and_servers(twin: Twin) -> None:
    assert twin.messenger.name == "contract"
    assert list(twin.messenger.servers) == ["contract"]


async def test_send_delivers_the_bytes_once(twin: Twin) -> None:
    outcome = await twin.messenger.send("a@example.org", ["b@example.net"], MESSAGE)
    assert outcome.kind is OutcomeKind.SENT
    assert outcome.server == "contract"
    assert outcome.attempts == 1
    assert twin.delivered() == [MESSAGE]


async def test_a_5xx_is_permanent(twin: Twin) -> None:
    twin.refuse_next("550 5.1.1 no such user")
    outcome = await twin.messenger.send("a@example.org", ["b@example.net"], MESSAGE)
    assert outcome.kind is OutcomeKind.PERMANENT
    assert (outcome.code, outcome.enhanced) == (550, "5.1.1")
    assert twin.delivered() == []


async def test_no_recipients_is_permanent(twin: Twin) -> None:
    outcome = await twin.messenger.send("a@example.org", [], MESSAGE)
    assert outcome.kind is OutcomeKind.PERMANENT
    assert twin.delivered() == []


async def test_after_close_sends_fail_as_transient(twin: Twin) -> None:
    await twin.messenger.close()
    outcome = await twin.messenger.send("a@example.org", ["b@example.net"], MESSAGE)
    assert outcome.kind is OutcomeKind.TRANSIENT
    assert twin.delivered() == []
