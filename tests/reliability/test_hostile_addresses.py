"""Hostile addresses through import and send: internationalised domains, SMTPUTF8 local parts,
quoted and over-long addresses.

Other hostile input has its own suites: CSV files (tests/unit/test_csv_hostile.py), header
injection (tests/unit/test_header_injection.py) and templates (tests/unit/test_render_hostile.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from campaignd.domain import CampaignStatus, NewCampaign, OptIn, utcnow
from campaignd.store.sql import SqlStore, upgrade_schema
from tests.reliability.conftest import Measurement
from tests.reliability.faultserver import Script, ScriptedServer
from tests.reliability.harness import Deployment, run_daemon, settings_tree, store_state

PLAIN = "plain@example.com"
UTF8_LOCAL = "jörg@example.com"
IDN = "user@bücher.example.com"
IDN_ASCII = "user@xn--bcher-kva.example.com"
BOTH = "ÄÖ@exämple.com"
LONG_LOCAL = "l" * 70 + "@example.com"  # over RFC 5321's 64 bytes: refused at import
QUOTED = ['"john doe"@example.com', '"a@b"@example.com']
TOO_LONG = "a" * 60 + "@" + ".".join(["b" * 60] * 3) + ".example.com"  # > 254 characters


def _csv(path: Path) -> Path:
    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"'

    rows = ["email,name", *(f"{cell(a)},x" for a in [PLAIN, UTF8_LOCAL, IDN, BOTH, LONG_LOCAL])]
    rows += [f"{cell(a)},x" for a in [*QUOTED, TOO_LONG]]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


async def test_addresses_through_import_and_send(tmp_path: Path, measure: Measurement) -> None:
    script = Script()
    async with ScriptedServer(script, smtputf8=True) as utf8, ScriptedServer(script) as ascii_:
        url = f"sqlite:///{tmp_path / 'c.db'}"
        servers: list[dict[str, Any]] = [
            {"name": "utf8", "port": utf8.port},
            {"name": "ascii", "port": ascii_.port},
        ]
        app = {"message_rate": 0, "retry_backoff": 0.1}
        dep = Deployment(tmp_path, url)
        dep.write(app, servers)
        await upgrade_schema(url)
        store = await SqlStore.open(url)
        try:
            await store.create_list("news", OptIn.SINGLE, "")
            code, out, err = await dep.acli(
                "subscribers", "import", str(_csv(tmp_path / "s.csv")), "--list", "news",
                "--status", "confirmed", "--json",
            )  # fmt: skip
            assert code == 0, err
            report = json.loads(out)
            ids = {}
            for messenger in ("utf8", "ascii"):
                campaign = await store.create_campaign(
                    NewCampaign(
                        name=messenger,
                        subject="Hi",
                        from_email="News <news@example.com>",
                        body="<p>Hi {{ subscriber.email }}</p>",
                        lists=("news",),
                        messenger=messenger,
                    ),
                    None,
                )
                ids[messenger] = campaign.id
                await store.transition(
                    campaign.id, frozenset({CampaignStatus.DRAFT}), CampaignStatus.RUNNING,
                    now=utcnow(),
                )  # fmt: skip
        finally:
            await store.close()
        # Bounce actions off: a 5.1.3 in one campaign would otherwise blocklist the address
        # (correctly) and the other campaign would skip it, depending on which ran first.
        tree = settings_tree(url, app, servers)
        tree = tree.model_copy(
            update={"bounces": tree.bounces.model_copy(update={"enabled": False})}
        )
        assert await run_daemon(tree) == 0
        states = {m: await store_state(url, i) for m, i in ids.items()}
        got = {
            "utf8": {r for m in utf8.messages for r in m.rcpt_tos},
            "ascii": {r for m in ascii_.messages for r in m.rcpt_tos},
        }
        utf8_options = {r: m.mail_options for m in utf8.messages for r in m.rcpt_tos}

    # Import: quoted local parts and over-long addresses are refused, each with its line.
    assert (report["inserted"], report["errors"]) == (4, 4)
    samples = " ".join(json.dumps(s, ensure_ascii=False) for s in report["error_samples"])
    assert "Quoting" in samples and "254" in samples and "64 bytes" in samples
    for n in (6, 7, 8, 9):  # the header is line 1
        assert f'"line": {n}' in samples or f"line {n}" in samples, samples

    # A server with SMTPUTF8 gets every address; the domain always goes out as IDNA.
    assert got["utf8"] == {PLAIN, UTF8_LOCAL, IDN_ASCII, "ÄÖ@xn--exmple-cua.com"}
    assert "SMTPUTF8" in utf8_options[UTF8_LOCAL]
    assert "SMTPUTF8" not in utf8_options[IDN_ASCII]  # an IDN domain alone needs no SMTPUTF8
    # Without SMTPUTF8 a non-ASCII local part is a permanent, explained failure.
    assert got["ascii"] == {PLAIN, IDN_ASCII}
    for messenger, (campaign, counts, failures) in states.items():
        assert campaign.status is CampaignStatus.FINISHED
        by_email = {f.email: f for f in failures}
        if messenger == "ascii":
            for address in (UTF8_LOCAL, BOTH):
                assert by_email[address].status.value == "failed"
                assert "SMTPUTF8" in by_email[address].text
            assert (counts.sent, counts.failed) == (2, 2)
        else:
            assert (counts.sent, counts.failed) == (4, 0)
    measure.record(
        group="Hostile input",
        injected="import of IDN domain, SMTPUTF8 local part, both, a 70-character local part, "
        "two quoted local parts, a 255+ character address; sent through a server with and one "
        "without SMTPUTF8",
        recipients=8,  # 4 imported addresses x 2 campaigns (with / without SMTPUTF8)
        delivered=len(got["utf8"]) + len(got["ascii"]),
        duplicated=0,
        lost=0,
        failed=states["utf8"][1].failed + states["ascii"][1].failed,
        expected="refused at import with line and reason (quoted, local part > 64 bytes, > 254); "
        "IDNA domains; "
        "non-ASCII local part only over SMTPUTF8, else failed saying so",
        import_errors=report["errors"],
    )
