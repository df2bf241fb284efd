"""Reusable SMTP test servers (aiosmtpd on 127.0.0.1, port 0) with TLS, AUTH and fault injection."""

from tests.support.certs import TestCA, self_signed_context
from tests.support.smtpd import Captured, CaptureHandler, Faults, SmtpTestServer

__all__ = [
    "CaptureHandler",
    "Captured",
    "Faults",
    "SmtpTestServer",
    "TestCA",
    "self_signed_context",
]
