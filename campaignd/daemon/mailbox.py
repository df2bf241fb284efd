"""The mailbox scanner ([[mailbox]]): poll hosted bounce mailboxes over IMAP or POP3.

Each configured mailbox is polled every `interval` by a task the daemon owns. A poll opens
one session (on a thread: imaplib and poplib block), lists at most `max_messages`, and for
each message: fetch it, find our signed VERP address in its trace headers
(campaignd.bounces.mailroute), apply it like the SMTP receiver does, then delete or move it.
A message is deleted or moved only after it was applied: when the database fails the poll
stops and the message is read again next time (the same report counts once: the bounce's
event id dedups it). Mail that names none of our addresses (a forged token, another domain,
spam) and mail over `max_message_size` changes nothing and is deleted or moved too, so it
is not read again every poll: give campaignd a dedicated mailbox. A mailbox that cannot be
reached is logged once, and again when it recovers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parseaddr
from functools import partial
from typing import TypeVar

from campaignd.bounces.mailin import MailApplier
from campaignd.bounces.mailroute import apply_mail, mailbox_targets
from campaignd.bounces.suppression import Suppressor
from campaignd.config import Settings
from campaignd.config.mailbox import MailboxSettings
from campaignd.daemon.mailfetch import MailboxClient, open_mailbox
from campaignd.errors import MailboxError, StoreError
from campaignd.rendering.verp import VerpCodec
from campaignd.store.protocol import Store

log = logging.getLogger(__name__)

Opener = Callable[[MailboxSettings], MailboxClient]
T = TypeVar("T")


@dataclass(slots=True)
class PollResult:
    """What one poll did with the messages it read."""

    applied: int = 0  # named one of our addresses and changed what it says
    foreign: int = 0  # named none of our addresses: nothing changed
    oversized: int = 0
    kept: int = 0  # left in the mailbox to read again (the database failed)


class MailboxScanner:
    """Polls one mailbox."""

    def __init__(
        self,
        settings: MailboxSettings,
        codec: VerpCodec,
        applier: MailApplier,
        opener: Opener = open_mailbox,
    ) -> None:
        self.settings = settings
        self.codec = codec
        self.applier = applier
        self.opener = opener
        self.down = False  # the last poll could not reach the mailbox (logged once)

    async def run(self, stopping: asyncio.Event) -> None:
        """Poll every interval until `stopping` is set."""
        while not stopping.is_set():
            await self.poll_logged()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.settings.interval)

    async def poll_logged(self) -> PollResult | None:
        """One poll; a mailbox error is logged once until the mailbox answers again."""
        try:
            result = await self.poll()
        except MailboxError as exc:
            if not self.down:
                log.error("%s (retrying every poll)", exc, extra={"action": "mailbox.down"})
            self.down = True
            return None
        if self.down:
            log.info("mailbox %s reachable again", self.label, extra={"action": "mailbox.up"})
        self.down = False
        return result

    @property
    def label(self) -> str:
        return self.settings.label

    async def poll(self) -> PollResult:
        """Read, apply and finish the waiting messages; raise MailboxError."""
        client = await asyncio.to_thread(self.opener, self.settings)
        try:
            return await self._read_all(client)
        finally:
            await asyncio.to_thread(client.close)

    async def _read_all(self, client: MailboxClient) -> PollResult:
        result = PollResult()
        listing = await self._io(client.list)
        for position, (message_id, size) in enumerate(listing):
            too_big = size > self.settings.max_message_size
            raw = b"" if too_big else await self._io(partial(client.fetch, message_id))
            try:
                outcome = (
                    "oversized"
                    if too_big or len(raw) > self.settings.max_message_size
                    else ("applied" if await self._apply(raw) else "foreign")
                )
            except StoreError as exc:
                result.kept = len(listing) - position
                log.error(
                    "mailbox %s: not applied, %d message(s) left for the next poll: %s",
                    self.label,
                    result.kept,
                    exc,
                    extra={"action": "mailbox.store_error"},
                )
                break
            if outcome == "oversized":
                log.warning(
                    "mailbox %s: message %s is larger than max_message_size (%d bytes), not read",
                    self.label,
                    message_id,
                    self.settings.max_message_size,
                    extra={"action": "mailbox.oversized"},
                )
            setattr(result, outcome, getattr(result, outcome) + 1)
            await self._io(partial(client.finish, message_id))
        return result

    async def _fetch(self, client: MailboxClient, message_id: str) -> bytes:
        return await self._io(lambda: client.fetch(message_id))

    async def _apply(self, raw: bytes) -> bool:
        """Apply the mail to the addresses it names; False when it names none of ours.
        StoreError propagates: the message stays for the next poll."""
        targets = mailbox_targets(raw, self.codec)
        if not targets:
            log.info(
                "mailbox %s: a message for none of our addresses (or a forged token), ignored",
                self.label,
                extra={"action": "mailbox.foreign"},
            )
            return False
        await apply_mail(raw, targets, self.applier)
        return True

    async def _io(self, call: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(call)
        except MailboxError:
            raise
        except (OSError, EOFError) as exc:
            raise MailboxError(self.label, str(exc) or type(exc).__name__) from None
        except Exception as exc:  # imaplib/poplib protocol errors
            raise MailboxError(self.label, str(exc)[:300] or type(exc).__name__) from None


def scanners(settings: Settings, store: Store, suppressor: Suppressor) -> list[MailboxScanner]:
    """A scanner per enabled [[mailbox]], reading the same addresses as the SMTP receiver."""
    enabled = [m for m in settings.mailbox if m.enabled]
    if not enabled:
        return []
    return_path = settings.bounces.return_path
    if not return_path:
        log.warning(
            "[[mailbox]] is configured but bounces.return_path is not set: no message carries a "
            "VERP address, so every mail found is ignored",
            extra={"action": "mailbox.no_verp"},
        )
    mailto = parseaddr(settings.app.unsubscribe_mailto)[1] if return_path else ""
    codec = VerpCodec(settings.require_secret(), return_path, mailto)
    applier = MailApplier(store, suppressor)
    return [MailboxScanner(m, codec, applier) for m in enabled]
