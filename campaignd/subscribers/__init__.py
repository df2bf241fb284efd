"""Subscriber use cases: double opt-in confirmation mails (optin.py); the public form's sign-up
and the preference page's changes, data export and deletion (public.py).

May import: the core, rendering/, messengers/ and store/ (their protocols).
"""
