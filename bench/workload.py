"""The benchmark's data: a subscriber CSV, a personalised campaign with a layout, settings."""

from __future__ import annotations

import json
from pathlib import Path

FIRST = ("Ada", "Alan", "Grace", "Édith", "Søren", "Zoë", "Linus", "Björk", "Chidi", "Mei")
LAST = ("Lovelace", "Turing", "Hopper", "Piaf", "Kierkegaard", "Saldana", "Pauling", "Okafor")
CITIES = ("Oslo", "London", "Lagos", "São Paulo", "Kraków", "Osaka", "Montréal", "")
PLANS = ("free", "pro", "team")

LAYOUT = """<!doctype html>
<html>
  <head><meta charset="utf-8"><title>{{ campaign.subject }}</title></head>
  <body style="font-family: sans-serif; max-width: 40em; margin: auto; color: #222;">
    <table role="presentation" width="100%"><tr><td style="padding: 1em 0;">
      <strong>The campaignd benchmark weekly</strong>
    </td></tr></table>
    <div class="content">{{ content }}</div>
    <hr>
    <p style="font-size: small; color: #666;">
      You get this because you subscribed as {{ subscriber.email }}.
      <a href="{{ unsubscribe_url() }}">Unsubscribe</a> at any time.
    </p>
  </body>
</html>
"""

_PARAGRAPH = (
    "<p>Every recipient has a row in the delivery ledger, every message carries a signed "
    "one-click unsubscribe link, and a crash never loses anyone. This paragraph is here to make "
    "the message as long as a real newsletter: about four kilobytes once the layout, the text "
    "part and the headers are in.</p>\n"
)

BODY = (
    "<h1>Hello {{ subscriber.name }}!</h1>\n"
    "{% if subscriber.attributes.city %}<p>News for our readers in "
    "{{ subscriber.attributes.city }}.</p>{% endif %}\n"
    "<p>You are on the <b>{{ subscriber.attributes.plan }}</b> plan.</p>\n"
    + _PARAGRAPH * 3
    + '<p><a href="https://example.com/blog?utm_source=bench">Read more on the blog</a></p>\n'
)

SUBJECT = "{{ subscriber.name }}, your weekly campaignd news"


def write_csv(path: Path, n: int) -> None:
    """n subscribers with names and JSON attributes (non-ASCII included)."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,name,attributes\n")
        chunk: list[str] = []
        for i in range(n):
            name = f"{FIRST[i % len(FIRST)]} {LAST[i % len(LAST)]}"
            attrs = json.dumps({"city": CITIES[i % len(CITIES)], "plan": PLANS[i % 3], "n": i})
            quoted = attrs.replace('"', '""')
            chunk.append(f'user{i}@bench{i % 97}.example.com,{name},"{quoted}"\n')
            if len(chunk) >= 10000:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))


def write_settings(
    path: Path,
    db_url: str,
    port: int,
    *,
    workers: int,
    concurrency: int,
    dkim_key: Path | None = None,
) -> None:
    """A settings file: the sink as the pool's one server with 10 connections, no rate limit;
    with `dkim_key`, mail From example.com is DKIM-signed with it."""
    dkim = (
        f'\n[[dkim]]\ndomain = "example.com"\nselector = "bench"\nprivate_key_file = "{dkim_key}"\n'
        if dkim_key is not None
        else ""
    )
    path.write_text(
        f"""[app]
concurrency = {concurrency}
message_rate = 0
batch_size = 1000
workers = {workers}
poll_interval = "1s"
instance_id = "bench"
root_url = "https://news.example.com"
from_email = "Bench Weekly <news@example.com>"

[db]
url = "{db_url}"

[security]
secret = "bench-secret-0123456789abcdef"

[log]
level = "INFO"

[[smtp]]
host = "127.0.0.1"
port = {port}
tls_type = "none"
auth_protocol = "none"
max_conns = 10
timeout = 30
{dkim}""",
        encoding="utf-8",
    )
    path.chmod(0o600)  # it holds the signing secret
