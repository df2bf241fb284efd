"""envelope.wire_payload against a plain statement of what DATA needs, on any bytes."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from campaignd.messengers.envelope import wire_payload


def reference(message: bytes) -> bytes:
    """Every line end CRLF, a final CRLF, and a dot doubled at the start of every line."""
    lines = re.split(rb"\r\n|\r|\n", message)
    if len(lines) > 1 and lines[-1] == b"":
        lines.pop()  # the message ended with a line end (an empty one still gets one)
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


# Mostly the bytes that matter, so line ends, dots and their mixes come up often.
MESSAGES = st.lists(
    st.sampled_from([b"\r", b"\n", b"\r\n", b".", b"..", b"a", b" ", b"\xc3\xa9"]), max_size=40
).map(b"".join)


@given(MESSAGES)
def test_any_message_goes_out_as_data_needs_it(message: bytes) -> None:
    assert wire_payload(message) == reference(message)


@given(st.binary(max_size=200))
def test_any_bytes_go_out_as_data_needs_them(message: bytes) -> None:
    assert wire_payload(message) == reference(message)


def test_a_clean_message_is_passed_on_as_it_is() -> None:
    message = b"A: b\r\n\r\nclean. not at a line start\r\n"
    assert wire_payload(message) is message
