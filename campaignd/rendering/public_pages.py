"""The public pages' HTML (subscription form, preferences, archive index): Jinja2, autoescaped.

These templates are ours, not the operator's, so they run in a plain autoescaping environment
(campaign templates use the sandbox). No external assets: the pages work offline, and the
Content-Security-Policy the HTTP layer sends allows no scripts.
"""

from __future__ import annotations

from typing import Any

import jinja2

_BASE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto;
       padding: 0 1rem; color: #222; line-height: 1.5; }
label { display: block; margin: .8rem 0 .2rem; }
input[type=email], input[type=text] { width: 100%; font-size: 1rem; padding: .4rem;
       box-sizing: border-box; }
.list label { display: inline; margin: 0; }
.list { margin: .4rem 0; }
.hp { position: absolute; left: -10000px; width: 1px; height: 1px; overflow: hidden; }
button { font-size: 1rem; padding: .6rem 1.2rem; margin-top: 1rem; cursor: pointer; }
form.inline { display: inline; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
{% block body %}{% endblock %}
</body>
</html>
"""

_SUBSCRIBE = """{% extends "base" %}{% block body %}
{% for line in intro %}<p>{{ line }}</p>{% endfor %}
<form method="post" action="{{ action }}" id="subscribe">
<label for="email">Email address</label>
<input type="email" id="email" name="email" required maxlength="320" autocomplete="email">
<label for="name">Name (optional)</label>
<input type="text" id="name" name="name" maxlength="256" autocomplete="name">
{% for m in lists %}
<div class="list"><input type="checkbox" id="l{{ loop.index }}" name="l" value="{{ m.uuid }}"
{%- if lists|length == 1 %} checked{% endif %}>
<label for="l{{ loop.index }}">{{ m.name }}</label>
{%- if m.description and lists|length > 1 %} <small>{{ m.description }}</small>{% endif %}</div>
{% endfor %}
<div class="hp" aria-hidden="true"><label for="nonce">Leave this empty</label>
<input type="text" id="nonce" name="nonce" tabindex="-1" autocomplete="off"></div>
<button type="submit">Subscribe</button>
</form>
{% endblock %}"""

_MANAGE = """{% extends "base" %}{% block body %}
<p>Subscriptions of {{ email }}.</p>
<form method="post" action="" id="preferences">
<input type="hidden" name="action" value="save">
<label for="name">Name</label>
<input type="text" id="name" name="name" value="{{ name }}" maxlength="256" required>
{% for p in prefs %}
<div class="list"><input type="checkbox" id="l{{ loop.index }}" name="l" value="{{ p.list.uuid }}"
{%- if p.subscribed %} checked{% endif %}>
<label for="l{{ loop.index }}">{{ p.list.name }}</label></div>
{% else %}<p>There are no lists to choose from.</p>{% endfor %}
<button type="submit">Save</button>
</form>
<form method="post" action="" class="inline"><input type="hidden" name="action" value="data">
<button type="submit">Download my data</button></form>
<form method="post" action="" class="inline"><input type="hidden" name="action" value="delete">
<button type="submit">Delete me</button></form>
{% endblock %}"""

_ARCHIVE_INDEX = """{% extends "base" %}{% block body %}
{% if description %}<p>{{ description }}</p>{% endif %}
<ul>
{% for c in campaigns %}<li><a href="{{ c.href }}">{{ c.subject }}</a>
{%- if c.date %} <small>{{ c.date }}</small>{% endif %}</li>
{% else %}<li>Nothing here yet.</li>{% endfor %}
</ul>
{% endblock %}"""

_ENV = jinja2.Environment(
    loader=jinja2.DictLoader(
        {"base": _BASE, "subscribe": _SUBSCRIBE, "manage": _MANAGE, "archive": _ARCHIVE_INDEX}
    ),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def render_page(template: str, **context: Any) -> str:
    """One of "subscribe" (title, intro, action, lists), "manage" (title, email, name,
    prefs) or "archive" (title, description, campaigns: href, subject, date)."""
    return _ENV.get_template(template).render(**context)
