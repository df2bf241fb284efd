"""The dashboard's HTML (login, campaigns, one campaign, lists, one list's growth, errors): Jinja2,
autoescaped, no assets.

The only script is inline (allowed by a per-response CSP nonce): it polls the page's JSON
endpoint every 2 s and swaps the texts of the cells marked data-k inside rows marked data-row.
"""

from __future__ import annotations

from typing import Any

import jinja2

_BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="robots" content="noindex, nofollow">
<title>{{ title }} - campaignd</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .7rem; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
nav a, nav form { margin-right: 1rem; } nav form { display: inline; }
.error { color: #b00; }
</style></head>
<body{% if live %} data-live="{{ live }}"{% endif %}>
{% if csrf %}<nav><a href="/dashboard">Campaigns</a><a href="/dashboard/lists">Lists</a>
<form method="post" action="/dashboard/logout"><input type="hidden" name="csrf" value="{{ csrf }}">
<button type="submit">Log out</button></form></nav>{% endif %}
<h1>{{ title }}</h1>
{% block body %}{% endblock %}
{% if live %}<p><small>Updated <span id="updated">on load</span></small></p>
<script nonce="{{ nonce }}">
(function () {
  var url = document.body.getAttribute("data-live");
  function tick() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (r.status === 401) { window.location.href = "/dashboard/login"; return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (data) {
        if (!data) { return; }
        data.rows.forEach(function (row) {
          var tr = document.querySelector('[data-row="' + row.id + '"]');
          if (!tr) { return; }
          Object.keys(row.cells).forEach(function (k) {
            var cell = tr.querySelector('[data-k="' + k + '"]');
            if (cell) { cell.textContent = row.cells[k]; }
          });
        });
        document.getElementById("updated").textContent = new Date().toLocaleTimeString();
      })
      .catch(function () {});
  }
  window.setInterval(tick, 2000);
})();
</script>{% endif %}
</body></html>
"""

#: An error page: whatever it echoes (a path's id, a name, a message) is escaped like the rest.
_PROBLEM = """{% extends "base" %}{% block body %}
<p class="error">{{ error }}</p>
<p><a href="/dashboard">Back to the campaigns</a></p>
{% endblock %}"""

_LOGIN = """{% extends "base" %}{% block body %}
{% if error %}<p class="error">{{ error }}</p>{% endif %}
<form method="post" action="/dashboard/login" id="login">
<input type="hidden" name="csrf" value="{{ login_csrf }}">
<label for="token">API token</label>
<input type="password" id="token" name="token" autocomplete="off" required maxlength="200">
<button type="submit">Log in</button>
</form>
{% endblock %}"""

_COLUMNS = """<th>Status</th><th>To send</th><th>Sent</th><th>Failed</th><th>Unknown</th>
<th>Remaining</th><th>Rate</th><th>ETA</th>"""

_CELLS = """{% set cells = row.cells() %}
<td data-k="status">{{ cells.status }}</td>
{% for k in ["to_send", "sent", "failed", "unknown", "remaining", "rate", "eta"] %}
<td class="n" data-k="{{ k }}">{{ cells[k] }}</td>{% endfor %}"""

_INDEX = (
    """{% extends "base" %}{% block body %}
<table id="campaigns"><tr><th>Campaign</th>"""
    + _COLUMNS
    + """</tr>
{% for row in rows %}<tr data-row="{{ row.id }}">
<td><a href="/dashboard/campaigns/{{ row.id }}">{{ row.name }}</a></td>"""
    + _CELLS
    + """</tr>
{% else %}<tr><td colspan="9">No campaigns yet.</td></tr>{% endfor %}
</table>
{% endblock %}"""
)

_CHART = """{% macro draw(c) %}{% if c %}
<svg width="{{ c.width }}" height="{{ c.height + 20 }}" role="img" class="chart"
 viewBox="0 0 {{ c.width }} {{ c.height + 20 }}">
<rect x="0" y="0" width="{{ c.width }}" height="{{ c.height }}" fill="#fafafa" stroke="#ccc"/>
{% for line in c.lines %}<polyline fill="none" stroke="{{ line.colour }}" stroke-width="2"
 points="{{ line.points }}"><title>{{ line.name }}</title></polyline>{% endfor %}
<text x="2" y="{{ c.height + 15 }}" font-size="11">{{ c.first }}</text>
<text x="{{ c.width - 2 }}" y="{{ c.height + 15 }}" font-size="11" text-anchor="end">
{{ c.last }}</text><text x="4" y="12" font-size="11">max {{ c.top }}</text>
</svg><p><small>{% for line in c.lines %}<span style="color: {{ line.colour }}">
{{ line.name }}</span> {% endfor %}per {{ bucket }}</small></p>
{% else %}<p>Nothing to chart yet.</p>{% endif %}{% endmacro %}"""

_CAMPAIGN = (
    """{% extends "base" %}"""
    + _CHART
    + """{% block body %}
<table id="progress"><tr>"""
    + _COLUMNS
    + """</tr>
<tr data-row="{{ row.id }}">"""
    + _CELLS
    + """</tr></table>
<h2>Outcomes</h2>
<table id="stats"><tr><th>Measure</th><th>Count</th><th>Rate</th></tr>
{% for name, count, rate in measures %}<tr><td>{{ name }}</td><td class="n">{{ count }}</td>
<td class="n">{{ rate }}</td></tr>{% endfor %}</table>
<h2>Sending over time</h2>{{ draw(send_chart) }}
<h2>Opens and clicks over time</h2>{{ draw(hit_chart) }}
<h2>Clicks per link</h2>
<table id="links"><tr><th>Link</th><th>Clicks</th><th>Machine clicks</th></tr>
{% for link in links %}<tr><td>{{ link.url }}</td><td class="n">{{ link.clicks }}</td>
<td class="n">{{ link.machine_clicks }}</td></tr>
{% else %}<tr><td colspan="3">No clicks recorded.</td></tr>{% endfor %}</table>
<h2>Failures</h2>
<p><a href="/dashboard/campaigns/{{ row.id }}/failures.csv">Download as CSV</a></p>
<table id="failures"><tr><th>Address</th><th>Status</th><th>Attempts</th><th>Reply</th>
<th>Server</th></tr>
{% for f in failures %}<tr><td>{{ f.email }}</td><td>{{ f.status.value }}</td>
<td class="n">{{ f.attempts }}</td><td>{{ f.code or "" }} {{ f.enhanced or "" }} {{ f.text }}</td>
<td>{{ f.server or "" }}</td></tr>
{% else %}<tr><td colspan="5">No failures.</td></tr>{% endfor %}</table>
{% endblock %}"""
)

_LISTS = """{% extends "base" %}{% block body %}
<table id="lists"><tr><th>List</th><th>Opt-in</th><th>Subscribers</th><th>Created</th></tr>
{% for m in lists %}<tr><td><a href="/dashboard/lists/{{ m.id }}">{{ m.name }}</a></td>
<td>{{ m.optin.value }}</td>
<td class="n">{{ m.subscriber_count }}</td><td>{{ m.created_at.date().isoformat() }}</td></tr>
{% else %}<tr><td colspan="4">No lists yet.</td></tr>{% endfor %}</table>
{% endblock %}"""

_LIST = (
    """{% extends "base" %}"""
    + _CHART
    + """{% block body %}
<p id="summary">Subscribers now: <strong data-k="subscribers">{{ growth.subscribers }}</strong>;
on {{ growth.series[0].at }} it started with <span data-k="before">{{ growth.before }}</span>.
Show the last {% for n in [30, 90, 365] %}{% if n == growth.days %}<strong>{{ n }}</strong>
{% else %}<a href="?days={{ n }}">{{ n }}</a> {% endif %}{% endfor %} days.</p>
<h2>New subscriptions and unsubscribes per day</h2>{{ draw(flow_chart) }}
<h2>Subscribers at the end of each day</h2>{{ draw(total_chart) }}
<h2>Days with changes</h2>
<table id="growth"><tr><th>Day (UTC)</th><th>New</th><th>Unsubscribed</th><th>Subscribers</th>
</tr>{% for p in changed %}<tr data-day="{{ p.at }}"><td>{{ p.at }}</td>
<td class="n" data-k="subscribed">{{ p.subscribed }}</td>
<td class="n" data-k="unsubscribed">{{ p.unsubscribed }}</td>
<td class="n" data-k="total">{{ p.total }}</td></tr>
{% else %}<tr><td colspan="4">No changes in these {{ growth.days }} days.</td></tr>{% endfor %}
</table>
<p><small>From the subscriptions' dates: a subscription is new on the day it was created and
counts as unsubscribed on the day of its last change if it is unsubscribed now. Only the latest
state is kept: someone who left and came back counts once, as new; deleted subscribers are not
counted.</small></p>
{% endblock %}"""
)

_ENV = jinja2.Environment(
    loader=jinja2.DictLoader(
        {
            "base": _BASE,
            "login": _LOGIN,
            "problem": _PROBLEM,
            "index": _INDEX,
            "campaign": _CAMPAIGN,
            "lists": _LISTS,
            "list": _LIST,
        }
    ),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def render_dashboard(template: str, **context: Any) -> str:
    """One of "login", "index", "campaign", "lists", "list", "problem" (takes error); every
    page takes title, csrf (None when logged out), live (its JSON URL or None) and nonce (the
    CSP script nonce)."""
    return _ENV.get_template(template).render(**context)
