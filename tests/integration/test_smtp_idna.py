"""International domains on the wire: IDNA 2008 in MAIL FROM and RCPT TO, on both SMTP paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from campaignd.config import SmtpSettings
from campaignd.domain import OutcomeKind
from campaignd.messengers.pool import SmtpMessenger
from campaignd.messengers.server import SmtpServer
from tests.integration.test_smtp_pipelining import RawServer, settings_for

pytest_plugins = ["tests.support.fixtures"]

MESSAGE = b"From: news@xn--fa-hia.de\r\nTo: x@xn--fa-hia.de\r\nSubject: hi\r\n\r\nhello\r\n"


def _messenger(port: int) -> SmtpMessenger:
    settings: SmtpSettings = settings_for(port)
    return SmtpMessenger("email", [SmtpServer(settings)])


async def test_aiosmtpd_receives_the_idna_2008_domain(smtp_servers: Callable[..., Any]) -> None:
    srv = await smtp_servers()
    m = _messenger(srv.port)
    try:
        outcome = await m.send("News <news@faß.de>", ["x@faß.de", "y@bücher.example"], MESSAGE)
    finally:
        await m.close()
    assert outcome.kind is OutcomeKind.SENT, outcome
    [captured] = srv.messages
    assert captured.mail_from == "news@xn--fa-hia.de"
    assert captured.rcpt_tos == ("x@xn--fa-hia.de", "y@xn--bcher-kva.example")  # not fass.de
    assert "SMTPUTF8" not in captured.mail_options


async def test_the_pipelined_path_sends_the_same_envelope() -> None:
    async with RawServer("one") as raw:
        m = _messenger(raw.port)
        try:
            outcome = await m.send("news@faß.de", ["x@faß.de"], MESSAGE)
            refused = await m.send(
                "news@faß.de", ["x\uff1e\u3000NOTIFY\uff1dNEVER@faß.de"], MESSAGE
            )
        finally:
            await m.close()
    assert outcome.kind is OutcomeKind.SENT, outcome
    [batch] = raw.batches
    assert batch[0].startswith(b"MAIL FROM:<news@xn--fa-hia.de>")
    assert batch[1] == b"RCPT TO:<x@xn--fa-hia.de>\r\n"
    assert refused.kind is OutcomeKind.PERMANENT
    assert refused.text.startswith("the recipient address is not usable: invalid address")
    assert len(raw.batches) == 1  # nothing of it was sent
