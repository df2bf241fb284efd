"""Rendering, pure: Jinja2 sandbox, campaign templates, Markdown/text conversion, MIME, tokens.

Lives here: the sandbox (sandbox.py), a campaign's templates compiled once (templates.py), source
conversions (source.py, textify.py), sample data (sample.py), MIME building blocks (mime.py),
signed link tokens (tokens.py) and message assembly per recipient (compose.py).
May import: the core (campaignd.errors, domain, config, policy, addresses). No I/O, no database,
no network.
"""
