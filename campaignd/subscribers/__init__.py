"""Subscriber use cases: double opt-in confirmation mails (optin.py); adding, upserting,
(un)subscribing and blocklisting one subscriber (membership.py).

May import: the core, rendering/, messengers/ and store/ (their protocols).
"""
