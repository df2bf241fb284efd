"""A private Postfix submission server for tests, relaying to a recording aiosmtpd server.

Everything lives in one temporary directory (config, queue, data, SASL database, TLS key, log):
the system's /etc/postfix instance and port 25 are never touched. The instance is started with
``postfix -c DIR start`` and stopped with ``postfix -c DIR stop``; any process left over is
found by its MAIL_CONFIG environment (Postfix passes it to every daemon) and killed by pid.

Debian's postfix, sasl2-bin, libsasl2-modules, swaks and libnet-ssleay-perl (swaks's TLS) are
installed when missing and the tests run as root with apt-get; otherwise they skip, or fail
when the environment says they must run (``CI=true`` or ``CAMPAIGND_TEST_REQUIRE_MTA=1``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from campaignd.devtools.devsmtp import free_port, wait_for_port

REQUIRE_ENV = "CAMPAIGND_TEST_REQUIRE_MTA"
PACKAGES = ("postfix", "sasl2-bin", "libsasl2-modules", "swaks", "libnet-ssleay-perl")
REALM = "campaignd.test"
_TOOLS = {
    "postfix": "postfix",
    "postconf": "postfix",
    "saslpasswd2": "sasl2-bin",
    "swaks": "swaks",
}
_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
_SASL_PLUGIN_DIRS = (
    "/usr/lib/x86_64-linux-gnu/sasl2",
    "/usr/lib/aarch64-linux-gnu/sasl2",
    "/usr/lib/sasl2",
)


class Unavailable(Exception):
    """Postfix or its tools cannot be set up here; the message says why and what to do."""


class StartFailed(RuntimeError):
    """The tools are there but the private Postfix did not come up: a real error, not a skip."""


def required() -> bool:
    """Must the MTA tests run (CI) rather than skip when the tools cannot be set up?"""
    ci = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
    return ci or bool(os.environ.get(REQUIRE_ENV))


# -- tools --------------------------------------------------------------------------------------


def _missing() -> list[str]:
    packages = {pkg for tool, pkg in _TOOLS.items() if not shutil.which(tool, path=_PATH)}
    if not any(Path(d, "libcrammd5.so.2").exists() for d in _SASL_PLUGIN_DIRS):
        packages.add("libsasl2-modules")
    if shutil.which("swaks", path=_PATH) and "=== TLS supported" not in _swaks_support():
        packages.add("libnet-ssleay-perl")
    return sorted(packages)


def _swaks_support() -> str:
    done = subprocess.run(
        ["swaks", "--support"], capture_output=True, text=True, check=False, timeout=30
    )
    return done.stdout + done.stderr


def ensure_tools() -> None:
    """Install the Debian packages the MTA tests need; raise Unavailable if that is impossible."""
    missing = _missing()
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Unavailable(
            f"the MTA tests need {' '.join(missing)} (Debian packages), which are missing and "
            "cannot be installed here (needs root and apt-get); install them with "
            "scripts/ensure_mta_tools.sh as root"
        )
    # Postfix stays unconfigured: the tests run a private instance of their own.
    _apt("debconf-set-selections", stdin=_NO_CONFIGURATION)
    install = ("apt-get", "install", "-y", "--no-install-recommends", *PACKAGES)
    done = _apt(*install)
    if done.returncode != 0:
        _apt("apt-get", "update")
        done = _apt(*install)
    if done.returncode != 0 or _missing():
        raise Unavailable(f"apt-get install {' '.join(PACKAGES)} failed: {done.stderr[-2000:]}")


_NO_CONFIGURATION = "postfix postfix/main_mailer_type select No configuration\n"


def _apt(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        args, input=stdin, capture_output=True, text=True, env=env, check=False, timeout=600
    )


# -- the recording server behind Postfix ---------------------------------------------------------


@dataclass(frozen=True)
class Relayed:
    """One message as Postfix relayed it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    mail_options: tuple[str, ...]
    data: bytes

    @property
    def head(self) -> bytes:
        return self.data.split(b"\r\n\r\n", 1)[0]

    @property
    def body(self) -> bytes:
        return self.data.split(b"\r\n\r\n", 1)[1]

    def header_fields(self) -> list[tuple[str, bytes]]:
        """(lower-case name, raw value with folding) of each header field, in order."""
        fields: list[tuple[str, bytes]] = []
        for line in self.head.split(b"\r\n"):
            if line[:1] in (b" ", b"\t") and fields:
                name, value = fields[-1]
                fields[-1] = (name, value + b"\r\n" + line)
            else:
                name, _, value = line.partition(b":")
                fields.append((name.decode("ascii").strip().lower(), value))
        return fields


class _Recording:
    def __init__(self) -> None:
        self.messages: list[Relayed] = []
        self.changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        relayed = Relayed(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            mail_options=tuple(envelope.mail_options),
            data=bytes(envelope.original_content or envelope.content),
        )
        with self.changed:
            self.messages.append(relayed)
            self.changed.notify_all()
        return "250 2.0.0 recorded"


class Recorder:
    """An aiosmtpd server in a thread of its own on 127.0.0.1 that keeps what it receives."""

    def __init__(self) -> None:
        self._handler = _Recording()
        self.port = free_port()
        self._controller = Controller(
            self._handler,
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="recorder.campaignd.test",
            enable_SMTPUTF8=True,
        )

    def start(self) -> Recorder:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[Relayed]:
        with self._handler.changed:
            return list(self._handler.messages)

    def wait_for(self, count: int, within: float = 20.0) -> list[Relayed]:
        """The messages once there are at least `count` (or all there are after `within` s)."""
        deadline = time.monotonic() + within
        with self._handler.changed:
            while len(self._handler.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._handler.changed.wait(left)
            return list(self._handler.messages)

    def clear(self) -> None:
        with self._handler.changed:
            self._handler.messages.clear()


# -- Postfix -------------------------------------------------------------------------------------

_SERVICES = """\
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


@dataclass(frozen=True)
class Account:
    username: str
    password: str


ACCOUNT = Account("news", "correct horse battery staple")
#: Recipients the submission server refuses (check_recipient_access), with its reply.
REJECTED = {"nobody@example.net": "550 5.1.1 no such user"}


class Postfix:
    """A Postfix instance under `root`: submission on 127.0.0.1:`port` (STARTTLS, SASL, PIPELINING)
    and the same without PIPELINING on `port_nopipe`; all mail relayed to 127.0.0.1:`relay_port`.
    """

    def __init__(
        self,
        root: Path,
        *,
        relay_port: int,
        cert_chain_pem: bytes,
        key_pem: bytes,
        accounts: Iterable[Account],
        rejected: Mapping[str, str],
    ) -> None:
        self.root = root
        self.conf = root / "conf"
        self.queue = root / "queue"
        self.data = root / "data"
        self.maillog = root / "maillog"
        self.port = free_port()
        self.port_nopipe = free_port()
        self.relay_port = relay_port
        self.accounts = tuple(accounts)
        self._cert_chain_pem = cert_chain_pem
        self._key_pem = key_pem
        self._rejected = dict(rejected)

    # configuration

    def _main_cf(self) -> str:
        conf = self.conf
        return f"""\
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.data}
mail_owner = postfix
setgid_group = postdrop
maillog_file = {self.maillog}
maillog_file_prefixes = {self.root}
myhostname = mta.{REALM}
mydomain = {REALM}
myorigin = $myhostname
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
relayhost = [127.0.0.1]:{self.relay_port}
default_transport = smtp
smtp_host_lookup = native
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtpd_peername_lookup = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
biff = no
smtpd_banner = $myhostname ESMTP campaignd test submission
smtpd_tls_security_level = may
smtpd_tls_cert_file = {conf / "server.pem"}
smtpd_tls_key_file = {conf / "server.key"}
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = {conf / "sasl"}
smtpd_sasl_local_domain = {REALM}
smtpd_sasl_security_options = noanonymous
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = check_recipient_access texthash:{conf / "recipient_access"}
"""

    def _master_cf(self) -> str:
        return (
            f"127.0.0.1:{self.port} inet n - n - - smtpd\n"
            "  -o syslog_name=postfix/submission\n"
            f"127.0.0.1:{self.port_nopipe} inet n - n - - smtpd\n"
            "  -o syslog_name=postfix/nopipelining\n"
            "  -o smtpd_discard_ehlo_keywords=pipelining\n" + _SERVICES
        )

    def _write(self) -> None:
        for directory in (self.root, self.conf, self.conf / "sasl", self.queue):
            directory.mkdir(exist_ok=True)
            directory.chmod(0o755)  # the daemons run as postfix and must reach their files
        (self.conf / "main.cf").write_text(self._main_cf())
        (self.conf / "master.cf").write_text(self._master_cf())
        (self.conf / "server.pem").write_bytes(self._cert_chain_pem)
        key = self.conf / "server.key"
        key.write_bytes(self._key_pem)
        key.chmod(0o600)
        (self.conf / "recipient_access").write_text(
            "".join(f"{addr} {reply}\n" for addr, reply in self._rejected.items())
        )
        sasldb = self.root / "sasldb2"  # not in conf: postfix-script wants conf owned by root
        (self.conf / "sasl" / "smtpd.conf").write_text(
            "pwcheck_method: auxprop\n"
            "auxprop_plugin: sasldb\n"
            "mech_list: PLAIN LOGIN CRAM-MD5\n"
            f"sasldb_path: {sasldb}\n"
        )
        for account in self.accounts:
            _run(
                ["saslpasswd2", "-f", str(sasldb), "-u", REALM, "-c", "-p", account.username],
                input=account.password,
            )
        shutil.chown(sasldb, user="postfix")
        sasldb.chmod(0o600)

    # life cycle

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run(["postfix", "-c", str(self.conf), *args], check=False)

    def start(self) -> Postfix:
        self._write()
        done = self._postfix("start")
        if done.returncode != 0:
            raise StartFailed(f"postfix start failed: {done.stderr.strip()}\n{self.log()[-3000:]}")
        for port in (self.port, self.port_nopipe):
            if not wait_for_port(port):
                raise StartFailed(f"postfix does not listen on 127.0.0.1:{port}\n{self.log()}")
        return self

    def stop(self) -> None:
        self._postfix("stop")
        for pid in self.leftovers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def leftovers(self) -> list[int]:
        """Processes of this instance still running (by MAIL_CONFIG in their environment)."""
        marker = f"MAIL_CONFIG={self.conf}".encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
        return pids

    # observation

    def log(self) -> str:
        try:
            return self.maillog.read_text(errors="replace")
        except FileNotFoundError:
            return "(no Postfix log yet)"

    def mark(self) -> int:
        """A position in the log; `since` reads only what was logged after it."""
        return len(self.log().encode())

    def since(self, mark: int) -> str:
        try:
            with self.maillog.open("rb") as f:
                f.seek(mark)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, mark: int, needle: str, within: float = 10.0) -> str:
        """What was logged after `mark`, once it holds `needle` (postlogd writes a bit later)."""
        deadline = time.monotonic() + within
        while needle not in (text := self.since(mark)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return text

    def disconnects(self, mark: int, service: str = "submission") -> list[dict[str, str]]:
        """Per-connection command counts Postfix logged after `mark` for one smtpd service:
        {"ehlo": "2", "mail": "3", "rcpt": "2/3", ...} ("ok/total" where some were refused).
        Connections that sent no command at all are left out."""
        pattern = re.compile(rf"postfix/{service}/smtpd\[\d+\]: disconnect from \S+ (.*)$")
        found = []
        for line in self.since(mark).splitlines():
            m = pattern.search(line)
            if m and m.group(1) != "commands=0/0":  # not port probes (wait_for_port)
                found.append(dict(w.partition("=")[::2] for w in m.group(1).split()))
        return found

    def wait_for_disconnects(
        self, mark: int, count: int, service: str = "submission", within: float = 10.0
    ) -> list[dict[str, str]]:
        """`disconnects` once there are `count` of them (or whatever there is after `within` s)."""
        deadline = time.monotonic() + within
        while True:
            found = self.disconnects(mark, service)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def _run(
    args: list[str], *, input: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": _PATH}
    done = subprocess.run(
        args, input=input, capture_output=True, text=True, env=env, check=False, timeout=60
    )
    if check and done.returncode != 0:
        raise StartFailed(f"{' '.join(args)} failed: {done.stderr.strip()}")
    return done


@contextlib.contextmanager
def private_postfix(
    *,
    relay_port: int,
    cert_chain_pem: bytes,
    key_pem: bytes,
    accounts: Iterable[Account],
    rejected: Mapping[str, str],
) -> Iterator[Postfix]:
    """A started Postfix in a fresh directory under the system temp dir; stopped and removed."""
    if os.geteuid() != 0:
        raise Unavailable("postfix start needs root (the master daemon runs as root)")
    for attempt in range(3):
        # Not pytest's tmp_path: its parents are 0700 root, and the daemons run as postfix.
        root = Path(tempfile.mkdtemp(prefix="campaignd-postfix-"))
        postfix = Postfix(
            root,
            relay_port=relay_port,
            cert_chain_pem=cert_chain_pem,
            key_pem=key_pem,
            accounts=accounts,
            rejected=rejected,
        )
        try:
            try:
                postfix.start()
            except StartFailed:
                # Another process may have taken a port free_port() picked: try new ones.
                if attempt < 2 and "Address already in use" in postfix.log():
                    continue
                raise
            yield postfix
            return
        finally:
            postfix.stop()
            shutil.rmtree(root, ignore_errors=True)
