"""Where one message's CPU goes, part by part, in-process (`make bench` measures the whole).

    python -m bench.parts build       # CampaignMailer.build: render + MIME, the bench's campaign
    python -m bench.parts build-tracked     # ... with opens and clicks tracked (anonymous)
    python -m bench.parts build-individual  # ... tracked in [tracking] mode "individual"
    python -m bench.parts engine      # the daemon on SQLite with a messenger that answers 250 at
                                      # once: claims, build, dispatch, ledger commits, no SMTP
    python -m bench.parts engine-tracked  # ... the campaign tracking opens and clicks (anonymous)
                                      # (PARTS_DKIM=rsa|ed25519: the campaign DKIM-signed)
    python -m bench.parts messenger   # pre-built bytes through SmtpMessenger to smtp-sink,
                                      # 10 connections, 100 in flight (PIPELINING)
    python -m bench.parts commit      # one ledger commit of 1 / 10 / 100 outcomes on SQLite
                                      # (per message: the 10-outcome commit, a typical group)
    python -m bench.parts dkim-rsa    # CampaignSigner.sign on the built messages: RSA-2048
    python -m bench.parts dkim-ed25519  # ... and Ed25519 (the signature alone is printed too)

Each prints CPU microseconds per message (process time, all threads), which moves much less
with the machine's load than a rate does. For `engine` with PARTS_DKIM that is the sending
process's; the signer processes' (with their start-up, ~0.3 s each) is printed beside it.
PARTS_N sets the message count (default 20,000).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from bench import workload
from bench.sink import ensure_sink, running_sink
from campaignd.config import AppSettings, SmtpSettings, load_settings
from campaignd.daemon.service import Daemon
from campaignd.devtools.devsmtp import free_port
from campaignd.domain import (
    Campaign,
    CampaignStatus,
    ContentType,
    DeliveryRecord,
    DeliveryStatus,
    OutcomeKind,
    Recipient,
    SendOutcome,
    Template,
    TrackingMode,
    utcnow,
)
from campaignd.messengers.pool import SmtpMessenger
from campaignd.messengers.protocol import OffloadedSign, Sign
from campaignd.messengers.recording import RecordingMessenger
from campaignd.messengers.server import SmtpServer
from campaignd.rendering.compose import CampaignMailer
from campaignd.rendering.dkim import DkimKey, DkimSigner
from campaignd.store.sql import SqlStore

N = int(os.environ.get("PARTS_N", "20000"))
SECRET = "bench-secret-0123456789abcdef"


def _mailer(tracking: TrackingMode = TrackingMode.OFF) -> CampaignMailer:
    now = utcnow()
    campaign = Campaign(
        id=1,
        uuid=uuid.uuid4(),
        name="bench",
        subject=workload.SUBJECT,
        from_email=None,
        body=workload.BODY,
        alt_body=None,
        content_type=ContentType.HTML,
        template_id=1,
        messenger="email",
        headers=(("X-Bench-Plan", "{{ subscriber.attributes.plan }}"),),
        tags=(),
        status=CampaignStatus.RUNNING,
        send_at=None,
        list_ids=(1,),
        created_at=now,
        updated_at=now,
        track=("opens", "clicks"),
    )
    app = AppSettings(root_url="https://news.example.com", from_email="Bench <news@example.com>")
    return CampaignMailer.prepare(
        campaign, Template(1, "layout", workload.LAYOUT, now), app, SECRET, tracking=tracking
    )


def _recipients(n: int) -> list[Recipient]:
    return [
        Recipient(
            i,
            1,
            i,
            uuid.uuid4(),
            f"user{i}@bench{i % 97}.example.com",
            f"{workload.FIRST[i % 10]} {workload.LAST[i % 8]}",
            {"city": workload.CITIES[i % 8], "plan": workload.PLANS[i % 3], "n": i},
            0,
        )
        for i in range(n)
    ]


def build(tracking: TrackingMode = TrackingMode.OFF) -> float:
    mailer, people = _mailer(tracking), _recipients(N)
    for r in people[:200]:  # warm the caches a campaign builds up
        mailer.build(r, utcnow())
    start = time.process_time()
    for r in people:
        mailer.build(r, dt.datetime.now(dt.UTC))
    return (time.process_time() - start) / N


class _Instant(RecordingMessenger):
    async def send(
        self, sender: str, recipients: Sequence[str], message: bytes, sign: Sign | None = None
    ) -> SendOutcome:
        if isinstance(sign, OffloadedSign):  # DKIM (PARTS_DKIM): as SmtpMessenger signs
            await sign.offloaded(message)
        elif sign is not None:
            sign(message)
        return SendOutcome(OutcomeKind.SENT, code=250, text="2.0.0 ok", server="instant")


def engine(track: tuple[str, ...] = ()) -> float:
    with tempfile.TemporaryDirectory(prefix="campaignd-parts-") as tmp:
        work = Path(tmp)
        settings_path = work / "settings.toml"
        kind = os.environ.get("PARTS_DKIM", "")  # rsa or ed25519: the campaign is signed
        key_file = None
        if kind:
            private = (
                rsa.generate_private_key(65537, 2048)
                if kind == "rsa"
                else ed25519.Ed25519PrivateKey.generate()
            )
            key_file = work / "dkim.pem"
            key_file.write_bytes(
                private.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        workload.write_settings(
            settings_path,
            f"sqlite:///{work / 'p.db'}",
            25,
            workers=1,
            concurrency=100,
            dkim_key=key_file,
        )
        env = {**os.environ, "CAMPAIGND_CONFIG": str(settings_path)}

        def cli(*args: str) -> str:
            command = [sys.executable, "-m", "campaignd", *args]
            return subprocess.run(
                command, env=env, check=True, capture_output=True, text=True
            ).stdout

        workload.write_csv(work / "s.csv", N)
        (work / "layout.html").write_text(workload.LAYOUT, encoding="utf-8")
        (work / "body.html").write_text(workload.BODY, encoding="utf-8")
        cli("db", "upgrade")
        cli("lists", "create", "bench")
        cli("templates", "add", "layout", "--file", str(work / "layout.html"))
        cli("subscribers", "import", str(work / "s.csv"), "--list", "bench")
        campaign_id = cli(
            *("campaigns", "create", "--name", "parts", "--subject", workload.SUBJECT),
            *("--list", "bench", "--body-file", str(work / "body.html"), "--template", "layout"),
            *("--header", "X-Bench-Plan: {{ subscriber.attributes.plan }}"),
            *track,
        ).strip()
        cli("campaigns", "start", campaign_id)
        daemon = Daemon(
            load_settings(settings_path),
            until_idle=True,
            messengers=lambda _s: {"email": _Instant()},
        )
        start, wall = time.process_time(), time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        asyncio.run(daemon.run())
        took = time.perf_counter() - wall
        loop_side = time.process_time() - start
        batches = ""
        if daemon.engine is not None and daemon.engine.dkim is not None:
            pool = daemon.engine.dkim.pool
            batches = f" ({pool.messages / max(pool.batches, 1):.1f} messages a batch)"
            daemon.engine.dkim.close()  # waits for the signer process: its CPU is counted
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        signer = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        signed = f"; the signer processes {signer / N * 1e6:.0f} us CPU per message" if kind else ""
        print(
            f"engine{' DKIM ' + kind if kind else ''}: {N / took:,.0f} msg/s wall{signed}{batches}"
        )
        return loop_side / N


def messenger() -> float:
    message = _mailer().build(_recipients(1)[0], utcnow())[1]
    port = free_port()

    async def blast() -> float:
        settings = SmtpSettings(
            host="127.0.0.1", port=port, tls_type="none", auth_protocol="none", max_conns=10
        )
        m = SmtpMessenger("email", [SmtpServer(settings)])
        in_flight = asyncio.Semaphore(100)

        async def one(i: int) -> None:
            async with in_flight:
                outcome = await m.send("news@example.com", [f"u{i}@example.com"], message)
                if outcome.kind is not OutcomeKind.SENT:
                    raise SystemExit(f"bench: the sink refused a message: {outcome}")

        await asyncio.gather(*(one(i) for i in range(200)))  # connections open, caches warm
        start = time.process_time()
        await asyncio.gather(*(one(i) for i in range(N)))
        seconds = time.process_time() - start
        await m.close()
        return seconds / N

    with running_sink(ensure_sink(), port):
        return _run(blast())


def commit() -> float:
    async def commits() -> float:
        with tempfile.TemporaryDirectory(prefix="campaignd-parts-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'c.db'}"
            from campaignd.store.sql import upgrade_schema

            await upgrade_schema(url)
            store = await SqlStore.open(url)
            try:
                per_message = 0.0
                for size in (1, 10, 100):
                    records = [
                        DeliveryRecord(i, DeliveryStatus.SENT, 1, 250, "2.0.0", "ok", "s", "<m@x>")
                        for i in range(1, size + 1)
                    ]
                    start = time.process_time()
                    for _ in range(500):
                        await store.record_deliveries(records, utcnow())
                    per_commit = (time.process_time() - start) / 500
                    print(f"commit of {size:>3} outcomes: {per_commit * 1e6:.0f} us CPU")
                    if size == 10:  # a typical group commit while sending
                        per_message = per_commit / size
                return per_message
            finally:
                await store.close()

    return _run(commits())


def _dkim(make_key: Callable[[], rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey]) -> float:
    private = make_key()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = DkimSigner([DkimKey.load("example.com", "bench", pem)]).for_campaign("example.com")
    assert signer is not None
    mailer, now = _mailer(), utcnow()
    n = min(N, 5000)
    messages = [mailer.build(r, now)[1] for r in _recipients(n)]
    size = sum(map(len, messages)) / n
    for message in messages[:100]:
        signer.sign(message)
    digest = hashlib.sha256(b"x").digest()
    start = time.process_time()
    if isinstance(private, rsa.RSAPrivateKey):
        for _ in range(n):
            private.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    else:
        for _ in range(n):
            private.sign(digest)
    alone = (time.process_time() - start) / n
    start = time.process_time()
    for message in messages:
        signer.sign(message)
    per_message = (time.process_time() - start) / n
    print(f"{size:.0f}-byte messages; the signature primitive alone: {alone * 1e6:.0f} us CPU")
    return per_message


def dkim_rsa() -> float:
    return _dkim(lambda: rsa.generate_private_key(65537, 2048))


def dkim_ed25519() -> float:
    return _dkim(ed25519.Ed25519PrivateKey.generate)


def _run(coro: object) -> float:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type,no-any-return]


PARTS = {
    "build": build,
    "build-tracked": lambda: build(TrackingMode.ANONYMOUS),
    "build-individual": lambda: build(TrackingMode.INDIVIDUAL),
    "engine": engine,
    "engine-tracked": lambda: engine(("--track", "opens,clicks")),
    "messenger": messenger,
    "commit": commit,
    "dkim-rsa": dkim_rsa,
    "dkim-ed25519": dkim_ed25519,
}


def main() -> None:
    names = sys.argv[1:] or list(PARTS)
    for name in names:
        if name not in PARTS:
            raise SystemExit(f"bench.parts: unknown part {name!r}; one of {', '.join(PARTS)}")
        print(f"{name}: {PARTS[name]() * 1e6:.0f} us CPU per message (N={N:,})", flush=True)


if __name__ == "__main__":
    main()
