"""Subscriber use cases: double opt-in confirmation mails (optin.py); queries with the filter
language: checked expressions, pages, matching ids (query.py); managing subscribers: update,
blocklist, unblocklist, delete, GDPR wipe (manage.py) and GDPR access (personal.py); the public
form's sign-up and the preference page's changes (public.py); adding, upserting, (un)subscribing
and blocklisting one subscriber for the admin API (membership.py).

May import: the core, rendering/, messengers/ and store/ (their protocols).
"""
