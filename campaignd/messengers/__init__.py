"""Messengers: the send seam (protocol.py), the SMTP pool on aiosmtplib and its in-memory twin.

aiosmtplib lives here only. May import: the core (errors, domain, config, replies, addresses,
ratelimit). Never store/, db/, use cases, http/, daemon/ or cli/.
"""
