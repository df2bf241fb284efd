"""The read-only operator dashboard (/dashboard on the admin [api] listener).

Lives here: the signed session cookie and CSRF tokens (session.py), the figures the pages show
(views.py) and the Starlette routes (routes.py); the HTML is campaignd.rendering.dashboard_pages.
May import: the use cases (campaigns/, importing/), store/ (the protocol), rendering/, config and
the core. The API's app mounts it and hands it the token check; it never imports api/ or http/.
"""
