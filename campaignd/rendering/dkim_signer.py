"""The DKIM signer process, ``python -m campaignd.rendering.dkim_signer`` (dkim_pool starts it)."""

from __future__ import annotations

from campaignd.rendering.dkim import load_keys, sign_batch
from campaignd.rendering.dkim_pool import serve

if __name__ == "__main__":
    serve(load_keys, sign_batch)
