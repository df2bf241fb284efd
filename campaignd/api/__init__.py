"""The admin HTTP API (/api/v1, JSON, RFC 9457 problems, bearer tokens) on its own listener.

Lives here: the token use cases (tokens.py), authentication (auth.py), problem+json (problems.py),
the endpoint table and the request plumbing (endpoints.py), idempotent creates (idempotency.py),
the response and request schemas (schemas.py), one module per resource (lists.py,
subscribers.py, templates.py, campaigns.py, messengers.py), the OpenAPI 3.1 document built
from the endpoint table (openapi.py) and the Starlette app (app.py). The daemon serves it.
May import: the use cases (campaigns/, subscribers/), store/ (the protocol), rendering/,
messengers/, config and the core. Beside http/ (neither imports the other); never daemon/ or cli/.
"""
