"""The [[dkim]] keys: one per From domain (domain, selector, the PEM private key from a file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr, model_validator

from campaignd.config.fields import Frozen, OneLine
from campaignd.config.secret_files import warn_if_readable


class DkimSettings(Frozen):
    """Messages From `domain` are signed with this key (selector `selector`).

    The key is read at start from `private_key_file` (a path, e.g. a systemd credential in
    /run/credentials/campaignd.service/), like an SMTP password_file; the algorithm follows
    from the key (RSA -> rsa-sha256, Ed25519 -> ed25519-sha256). Parsing and checking it is
    campaignd.rendering.dkim's job (``signer_from_settings``). The key text never appears in
    a message, a log line or ``messengers ls``.
    """

    domain: OneLine
    selector: OneLine
    private_key_file: Path
    private_key: SecretStr = SecretStr("")  # filled from private_key_file; never set it inline

    @model_validator(mode="after")
    def _read_key(self) -> DkimSettings:
        if not self.private_key.get_secret_value():
            path = self.private_key_file
            try:
                raw = path.read_bytes()
            except OSError as exc:
                raise ValueError(
                    f"private_key_file: DKIM key {path} cannot be read: {exc.strerror or exc}"
                ) from None
            # Never quote the bytes: a decoding error would show a piece of the key.
            if not raw.strip() or not raw.isascii():
                raise ValueError(f"private_key_file: DKIM key {path} is not a PEM private key")
            warn_if_readable(path, ["a DKIM private key (private_key_file)"])
            text = raw.decode("ascii").strip()
            object.__setattr__(self, "private_key", SecretStr(text))
        return self
