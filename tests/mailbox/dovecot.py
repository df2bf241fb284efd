"""A private Dovecot (IMAP and POP3, TLS) under a temporary folder, for the mailbox scanner.

Installed from Debian's packages when missing and the tests run as root; otherwise the tests
skip, or fail when the environment says they must run (CI=true or
CAMPAIGND_TEST_REQUIRE_IMAP=1, which .ci/run sets). One mail user, `bounces`, whose Maildir
the tests fill directly (as a local delivery agent would).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REQUIRE_ENV = "CAMPAIGND_TEST_REQUIRE_IMAP"
PACKAGES = ("dovecot-imapd", "dovecot-pop3d")
USER, PASSWORD = "bounces", "s3cret-mailbox-pw"


class Unavailable(Exception):
    """Dovecot cannot be set up here; the message says why."""


def required() -> bool:
    ci = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
    return ci or bool(os.environ.get(REQUIRE_ENV))


def ensure_tools() -> None:
    if Path("/usr/sbin/dovecot").exists() and Path("/usr/lib/dovecot/pop3").exists():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Unavailable(
            f"the mailbox tests need {' '.join(PACKAGES)} (Debian packages), missing and not "
            "installable here (needs root and apt-get): run scripts/ensure_imap_tools.sh as root"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y"]
    install += ["--no-install-recommends", *PACKAGES]
    done = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True, env=env, check=False)
        done = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise Unavailable(f"apt-get install {' '.join(PACKAGES)} failed: {done.stderr[-1500:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Dovecot:
    imaps: int
    pop3s: int
    imap: int  # plain, STARTTLS offered
    maildir: Path

    def deliver(self, raw: bytes, folder: str = "") -> None:
        """Drop one message into the Maildir (INBOX, or a folder such as ".campaignd-done")."""
        base = self.maildir / folder if folder else self.maildir
        for path in (self.maildir, base, base / "tmp", base / "new", base / "cur"):
            path.mkdir(exist_ok=True)
            os.chown(path, _uid(), _gid())  # the mail user must own its Maildir
        name = f"{time.time():.6f}.{uuid.uuid4().hex}.test"
        tmp = base / "tmp" / name
        tmp.write_bytes(raw)
        os.chown(tmp, _uid(), _gid())
        tmp.rename(base / "new" / name)

    def count(self, folder: str = "") -> int:
        base = self.maildir / folder if folder else self.maildir
        return sum(len(list((base / d).glob("*"))) for d in ("new", "cur") if (base / d).exists())


def _uid() -> int:
    import pwd

    return pwd.getpwnam("nobody").pw_uid


def _gid() -> int:
    import grp

    return grp.getgrnam("nogroup").gr_gid


_CONF = """\
base_dir = {run}
state_dir = {state}
log_path = {log}
info_log_path = {log}
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:{home}/Maildir
mail_privileged_group =
default_login_user = dovenull
default_internal_user = dovecot
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={home}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {pop3s}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
service pop3-login {{
  chroot =
}}
"""


@contextlib.contextmanager
def private_dovecot(root: Path, cert_pem: bytes, key_pem: bytes) -> Iterator[Dovecot]:
    """Start Dovecot in the foreground under `root`; stop it when done."""
    if os.geteuid() != 0:
        raise Unavailable("a private Dovecot needs root here (it switches to the mail user)")
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)  # noqa: S103 - Dovecot's users must reach their files
    for sub in ("run", "state", "home"):
        (root / sub).mkdir(exist_ok=True)
    home = root / "home"
    os.chown(home, _uid(), _gid())
    cert, key = root / "cert.pem", root / "key.pem"
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    os.chmod(key, 0o600)
    passwd = root / "passwd"
    passwd.write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    ports = {"imap": _free_port(), "imaps": _free_port(), "pop3s": _free_port()}
    conf = root / "dovecot.conf"
    conf.write_text(
        _CONF.format(
            run=root / "run",
            state=root / "state",
            log=root / "dovecot.log",
            cert=cert,
            key=key,
            home=home,
            passwd=passwd,
            uid=_uid(),
            gid=_gid(),
            **ports,
        )
    )
    with (root / "stdout.log").open("wb") as out:
        proc = subprocess.Popen(
            ["/usr/sbin/dovecot", "-F", "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_listening(proc, ports["imaps"], root / "dovecot.log")
        maildir = home / "Maildir"
        yield Dovecot(ports["imaps"], ports["pop3s"], ports["imap"], maildir)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = (log.parent / "stdout.log").read_text(errors="replace")
            text = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"dovecot exited {proc.returncode}: {out[-1500:]}{text[-1500:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError("dovecot did not start listening in 20 s")
