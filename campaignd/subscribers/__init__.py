"""Subscriber use cases: double opt-in confirmation mails.

May import: the core, rendering/, messengers/ and store/ (their protocols).
"""
