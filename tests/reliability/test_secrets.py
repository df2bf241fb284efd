"""Secrets: SMTP passwords and the signing secret never appear in logs (even at DEBUG, even
base64-encoded as AUTH sends them), errors, `--json` output, `messengers ls` or the database;
a settings file that holds a password and is readable by others gets a warning."""

from __future__ import annotations

import base64
from pathlib import Path

from campaignd.domain import CampaignStatus
from tests.reliability.conftest import Measurement
from tests.reliability.harness import SECRET, Deployment, seed_store, store_state
from tests.support import SmtpTestServer

WRONG = "wrong-Pw-7Hq2Zr9Kx4Vb"
RIGHT = "right-Pw-3Nd8Lp6Tc1Ys"
USER = "acme"


def _forbidden() -> dict[str, str]:
    def b64(raw: str) -> str:
        return base64.b64encode(raw.encode()).decode()

    out = {"signing secret": SECRET}
    for label, pw in (("wrong password", WRONG), ("right password", RIGHT)):
        out[label] = pw
        out[f"{label} (AUTH PLAIN base64)"] = b64(f"\0{USER}\0{pw}")
        out[f"{label} (AUTH LOGIN base64)"] = b64(pw)
    return out


def _leaks(text: str) -> list[str]:
    return [label for label, value in _forbidden().items() if value in text]


async def test_secrets_never_leak(tmp_path: Path, measure: Measurement) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    campaign_id = str(await seed_store(url, [f"user{i}@example.com" for i in range(5)]))
    dep = Deployment(tmp_path, url)
    outputs: dict[str, str] = {}
    async with SmtpTestServer(users={USER: RIGHT}) as srv:

        def server(password: str, mechanism: str) -> list[dict[str, object]]:
            return [
                {
                    "port": srv.port,
                    "auth_protocol": mechanism,
                    "username": USER,
                    "password": password,
                    "timeout": "2s",
                    "max_msg_retries": 0,
                }
            ]

        async def cli(name: str, *args: str) -> tuple[int, str]:
            code, out, err = await dep.acli(*args)
            outputs[name] = out + err
            return code, out + err

        app = {"message_rate": 0, "retry_backoff": 0.1}
        dep.write(app, server(WRONG, "plain"), log={"level": "DEBUG"})
        assert (await cli("run (wrong password, DEBUG)", "run", "--until-idle"))[0] == 0
        campaign, _, _ = await store_state(url, int(campaign_id))
        assert campaign.status is CampaignStatus.PAUSED
        assert "authentication failed" in (campaign.pause_reason or "")
        for name, args in {
            "campaigns show --json": ("campaigns", "show", campaign_id, "--json"),
            "campaigns ls --json": ("campaigns", "ls", "--json"),
            "campaigns failures --json": ("campaigns", "failures", campaign_id, "--json"),
            "messengers ls": ("messengers", "ls"),
            "messengers ls --json": ("messengers", "ls", "--json"),
        }.items():
            assert (await cli(name, *args))[0] == 0
        code, text = await cli("messengers test (wrong password)", "messengers", "test")
        assert code != 0 and "authentication failed" in text

        dep.write(app, server(RIGHT, "login"), log={"level": "DEBUG", "format": "json"})
        assert (await cli("campaigns resume", "campaigns", "resume", campaign_id))[0] == 0
        srv.faults.add("RCPT", "451 4.3.0 try later")  # one retry: a DEBUG line per failure
        assert (await cli("run (right password, DEBUG, JSON)", "run", "--until-idle"))[0] == 0
        assert len(srv.messages) == 5  # it really sent, with the secret-signed links

    outputs["database file"] = (tmp_path / "c.db").read_bytes().decode("latin-1")
    leaks = {name: _leaks(text) for name, text in outputs.items() if _leaks(text)}

    # Readable by others and holding a password: a warning (that names no secret).
    dep.config.chmod(0o644)
    _, _, err_open = await dep.acli("lists", "ls")
    dep.config.chmod(0o600)
    _, _, err_closed = await dep.acli("lists", "ls")

    measure.record(
        group="Hostile input",
        injected="daemon at DEBUG (text and JSON) with a wrong then a right SMTP password "
        "(AUTH PLAIN, LOGIN); CLI error and --json outputs; the database file; a 0644 "
        "settings file",
        expected="no password, AUTH encoding of one, or signing secret anywhere; a warning "
        "for the readable settings file",
        places_checked=len(outputs),
        leaks=sum(len(v) for v in leaks.values()),
    )
    assert not leaks, leaks
    # The runs really logged at DEBUG (else the check above would prove little).
    assert "DEBUG" in outputs["run (wrong password, DEBUG)"]
    assert '"level": "debug"' in outputs["run (right password, DEBUG, JSON)"]
    assert "readable by other users" in err_open and not _leaks(err_open)
    assert "readable by other users" not in err_closed
