"""Rendering, pure: Jinja2 sandbox, campaign templates, Markdown/text conversion, MIME, tokens.

Lives here: the sandbox (sandbox.py: the environment; sandbox_sizes.py: pure size estimates;
sandbox_filters.py: the filter guards), a campaign's templates (template_source.py: joined into
one source; templates.py: compiled once, rendered per subscriber; template_data.py: what
templates see; attributes.py: the attributes they use, found statically; listmonk.py: listmonk
syntax spotted in a failing template, and the Jinja2 to write), source conversions
(source.py, textify.py), sample data (sample.py), MIME building blocks (mime.py,
address_headers.py), signed link tokens (tokens.py), VERP addresses (verp.py), message
assembly per recipient (compose.py) over what it settles once per campaign: the signed links
(links.py), the From line, envelope sender, Message-ID and mailto (envelope.py), the campaign's
own header lines and the Date (header_lines.py); DKIM signing (dkim.py; its local check and
sample message in dkim_check.py; the signer processes in dkim_pool.py and dkim_signer.py).
May import: the core (campaignd.errors, domain, config, policy, addresses). No I/O (but
DkimKey.load reading its key file, and dkim_pool's pipes to its signer processes), no
database, no network.
"""
