"""Diagnostics for `campaignd messengers test`: open a connection step by step, optionally send."""

from __future__ import annotations

import email.utils
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

from campaignd.domain import OutcomeKind
from campaignd.errors import ConnectFailure, InvalidAddress
from campaignd.messengers.connection import deliver, say_goodbye
from campaignd.messengers.envelope import Envelope
from campaignd.messengers.protocol import Sign
from campaignd.messengers.redact import credential_redactor
from campaignd.messengers.server import SmtpServer


@dataclass(frozen=True, slots=True)
class Step:
    name: str  # connect, tls, greeting, ehlo, starttls, auth, send
    ok: bool
    detail: str
    hint: str = ""


@dataclass(slots=True)
class ServerCheck:
    server: str
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)


def build_test_message(sender: str, to: str, server: str) -> bytes:
    """A small plain-text message for the check."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = f"campaignd test message via {server}"
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=socket.getfqdn() or "localhost")
    msg.set_content(
        f"This is a test message from `campaignd messengers test` through {server}.\n"
        "If you can read it, this server is set up right.\n"
    )
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


async def check_server(
    server: SmtpServer,
    *,
    to: str | None = None,
    sender: str = "",
    on_step: Callable[[Step], None] | None = None,
    sign: Sign | None = None,
) -> ServerCheck:
    """Run the steps against one server; stop at the first failure, which says what to fix.
    The test message is signed by `sign` (the sender domain's DKIM key) when given."""
    result = ServerCheck(server.label)
    settings = server.settings
    redact = credential_redactor(settings.username, settings.password.get_secret_value())

    def record(step: Step) -> None:
        # Every line shown passes through redact: a server may echo credentials in any reply.
        step = Step(step.name, step.ok, redact(step.detail), redact(step.hint))
        result.steps.append(step)
        if on_step is not None:
            on_step(step)

    try:
        client = await server.connect(lambda name, detail: record(Step(name, True, detail)))
    except ConnectFailure as exc:
        record(Step(exc.step, False, exc.reason, exc.hint))
        return result
    try:
        if to is None:
            return result
        try:
            message = build_test_message(sender, to, server.label)
            env = Envelope.build(sender, [to], message)
        except (InvalidAddress, ValueError) as exc:
            record(Step("send", False, str(exc), "give addresses such as you@example.org"))
            return result
        delivery = await deliver(
            client, server.label, env, server.prepare(message, sign), reused=False
        )
        outcome = delivery.outcome
        reply = f"{outcome.code} {outcome.text}" if outcome.code else outcome.text
        ok = outcome.kind is OutcomeKind.SENT
        hint = ""
        if not ok and outcome.code in (550, 553, 554) and outcome.enhanced in (None, "5.7.1"):
            hint = "the server refused the sender or recipient: check --from is allowed to send"
        record(Step("send", ok, f"{sender} -> {to}: {reply}", hint))
        return result
    finally:
        await say_goodbye(client)
