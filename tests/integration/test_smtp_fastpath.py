"""The message and its final "." in one write, and where a lost connection leaves a send.

On a pipelined plain connection a message that fits half the socket's send buffer goes out
with its "." in one write: once written, the "." has left us, so a loss is unknown (never
retried). A larger message, or any message over TLS, goes out first and its "." only once
every byte of it has left this process: a loss before that is transient and retried (over TLS
the bytes leave the TLS transport at once, so a loss while the message goes out is unknown,
as before).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from campaignd.domain import OutcomeKind
from tests.integration.test_smtp_pipelining import MESSAGE, PipeliningServer, send, sending

pytest_plugins = ["tests.support.fixtures"]


def _larger_than_any_send_buffer() -> bytes:
    """A message the kernel cannot take in one write: larger than the most TCP may buffer."""
    try:
        most = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, ValueError, IndexError):
        most = 4 * 1024 * 1024
    line = b"x" * 900 + b"\r\n"
    return MESSAGE + line * (2 * most // len(line) + 1)


def _tls(trusted_ca: Any) -> dict[str, Any]:
    return {"tls": "starttls", "tls_context": trusted_ca.server_context()}


@pytest.fixture(params=["plain", "starttls"])
def tls(request: pytest.FixtureRequest, trusted_ca: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(server options, messenger settings) for a plain or a STARTTLS connection."""
    if request.param == "plain":
        return {}, {}
    return _tls(trusted_ca), {"tls_type": "STARTTLS"}


async def test_a_drop_once_a_small_message_is_written_is_unknown_and_never_retried(
    tls: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    server_options, settings = tls
    async with PipeliningServer(**server_options) as server:
        server.faults.add("DATA_MID", "drop")
        outcome = await sending(server.port, send, max_msg_retries=3, **settings)
        assert outcome.kind is OutcomeKind.UNKNOWN, outcome
        assert outcome.attempts == 1
        assert server.data_started == 1
        assert server.messages == []


async def test_a_drop_before_a_large_message_has_left_is_retried_and_delivered_once() -> None:
    # Plain TCP only: over TLS the transport hands its bytes on to the socket's transport at
    # once, so "left this process" cannot be told and such a loss is unknown (as before).
    big = _larger_than_any_send_buffer()
    async with PipeliningServer() as server:
        server.faults.add("DATA_MID", "drop")
        outcome = await sending(server.port, lambda m: send(m, big), max_msg_retries=1, timeout=10)
        assert outcome.kind is OutcomeKind.SENT, outcome
        assert (outcome.attempts, server.data_started, len(server.messages)) == (2, 2, 1)


@pytest.mark.parametrize("stage", ["MAIL", "RCPT", "DATA"])
async def test_a_drop_before_the_message_is_written_is_retried(stage: str) -> None:
    async with PipeliningServer() as server:
        server.faults.add(stage, "drop")
        outcome = await sending(server.port, send, max_msg_retries=1)
        assert outcome.kind is OutcomeKind.SENT, outcome
        assert outcome.attempts == 2
        assert len(server.messages) == 1


@pytest.mark.parametrize("action", ["drop", "hang"])
async def test_no_reply_after_a_small_message_is_unknown(
    tls: tuple[dict[str, Any], dict[str, Any]], action: str
) -> None:
    server_options, settings = tls
    async with PipeliningServer(**server_options) as server:
        server.faults.add("END", action)
        outcome = await sending(server.port, send, max_msg_retries=3, timeout=0.3, **settings)
        assert outcome.kind is OutcomeKind.UNKNOWN, outcome
        assert outcome.attempts == 1
        assert server.data_commands == 1


async def test_small_and_large_messages_arrive_whole_and_the_connection_is_reused(
    tls: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    server_options, settings = tls
    big = _larger_than_any_send_buffer()
    async with PipeliningServer(**server_options) as server:

        async def three(m: Any) -> list[Any]:
            return [await send(m), await send(m, big), await send(m)]

        outcomes = await sending(server.port, three, timeout=10, **settings)
        assert [o.kind for o in outcomes] == [OutcomeKind.SENT] * 3, outcomes
        assert [c.data for c in server.messages] == [MESSAGE, big, MESSAGE]
        assert server.total_connections == 1
