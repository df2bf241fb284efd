"""Messengers: the send seam (protocol.py), the SMTP pool on aiosmtplib and its in-memory twin.

Also the MX look-ups of [[domain_limits]] `mx` grouping (mx.py: the resolver seam, dnspython,
its twin). aiosmtplib and dnspython live here only.
May import: the core (errors, domain, config, replies, addresses,
ratelimit). Never store/, db/, use cases, http/, daemon/ or cli/.
"""
