"""Small HTML pages for people (unsubscribe and opt-in), every value escaped, no cookies."""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

#: Sent with every page: no caching, no referrer (the URL holds the token), no scripts.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto;
       padding: 0 1rem; color: #222; line-height: 1.5; }}
button {{ font-size: 1rem; padding: .6rem 1.2rem; cursor: pointer; }}
</style>
</head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"""


def page(
    title: str,
    paragraphs: list[str],
    *,
    form: tuple[str, str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """A page of escaped paragraphs; `form` = (field name, field value, button label) adds a
    button that POSTs that one field back to the same URL."""
    parts = [f"<p>{escape(p)}</p>" for p in paragraphs]
    if form is not None:
        name, value, label = form
        parts.append(
            '<form method="post" action="">'
            f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
            f'<button type="submit">{escape(label)}</button></form>'
        )
    html = _PAGE.format(title=escape(title), body="\n".join(parts))
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def invalid_link() -> HTMLResponse:
    """The one answer to every unusable link: it says nothing about why."""
    return page(
        "Link not valid",
        ["This link is not valid. If you copied it from an email, check that it is complete."],
        status=404,
    )
