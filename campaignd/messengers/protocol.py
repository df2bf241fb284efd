"""The messenger seam: hand a finished message to a transport and get an outcome back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from campaignd.domain import SendOutcome

#: The last change to a message before it goes out, once the server's `email_headers` are in:
#: a DKIM signature (campaignd.rendering.dkim.CampaignSigner.sign). Bytes in, bytes out.
Sign = Callable[[bytes], bytes]


@runtime_checkable
class OffloadedSign(Protocol):
    """A Sign that can run away from the event loop: ``await sign.offloaded(m)`` gives what
    ``sign(m)`` would, or raises CampaigndError when it could not sign (the messenger then sends
    nothing and answers a transient failure). A plain Sign runs in a thread."""

    def __call__(self, message: bytes) -> bytes: ...

    async def offloaded(self, message: bytes) -> bytes: ...


class Messenger(Protocol):
    """A named way out: the `email` pool or one named SMTP server.

    `send` never raises for delivery problems: every failure is an outcome (transient,
    permanent or unknown) with the server, reply code, enhanced code and text. Transient
    failures before the final "." are retried silently (another connection, and in a pool
    another server) up to the server's max_msg_retries; `attempts` says how many were made.
    """

    @property
    def name(self) -> str: ...

    @property
    def servers(self) -> Sequence[str]:
        """Labels of the servers behind this messenger."""
        ...

    async def send(
        self, sender: str, recipients: Sequence[str], message: bytes, sign: Sign | None = None
    ) -> SendOutcome:
        """Deliver `message` (complete RFC 5322 bytes, CRLF line ends). `sign`, when given,
        is applied to the message as it will go on the wire (with the server's headers), once
        per distinct set of server headers, not per attempt."""
        ...

    async def close(self) -> None:
        """Close every connection; later sends fail as transient."""
        ...
