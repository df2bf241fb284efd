"""The development capture server writes one .eml per message, byte for byte."""

from __future__ import annotations

from pathlib import Path

from campaignd.config import SmtpSettings
from campaignd.devtools.devsmtp import start
from campaignd.domain import OutcomeKind
from campaignd.messengers.pool import SmtpMessenger
from campaignd.messengers.server import SmtpServer


async def test_each_message_becomes_an_eml_file(tmp_path: Path) -> None:
    outdir = tmp_path / "outbox"
    server, capture = await start("127.0.0.1", 0, outdir)
    port = server.sockets[0].getsockname()[1]
    settings = SmtpSettings(
        host="127.0.0.1", port=port, tls_type="none", auth_protocol="none", timeout=2
    )
    m = SmtpMessenger("email", [SmtpServer(settings)])
    messages = [b"Subject: %d\r\n\r\nline\r\n.leading dot\r\n..two dots\r\n" % i for i in range(3)]
    try:
        outcomes = [await m.send("a@example.org", ["b@example.net"], msg) for msg in messages]
    finally:
        await m.close()
        server.close()
        await server.wait_closed()
    assert [o.kind for o in outcomes] == [OutcomeKind.SENT] * 3
    assert capture.count == 3
    files = sorted(outdir.glob("*.eml"))
    assert [f.read_bytes() for f in files] == messages
    assert not list(outdir.glob("*.tmp"))
