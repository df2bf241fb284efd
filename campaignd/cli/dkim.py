"""`campaignd dkim check`: the DNS record to publish for a DKIM key, and a local signing test."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from campaignd.cli.common import fail, print_json
from campaignd.rendering.dkim import DkimKey, DkimSigner
from campaignd.rendering.dkim_check import sample_message, signature_problem


@click.group()
def dkim() -> None:
    """DKIM keys for senders on their own MTA."""


@dkim.command("check")
@click.argument("domain")
@click.option("--selector", required=True, help="The DKIM selector (s= tag), e.g. 2026a.")
@click.option(
    "--key-file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="PEM private key: RSA (2048 bits) or Ed25519.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def check_cmd(domain: str, selector: str, key_file: Path, as_json: bool) -> None:
    """Load a key, print the TXT record to publish and sign + verify a sample message locally
    (no DNS lookup: it checks the key and the record agree, not what DNS serves)."""
    key = DkimKey.load(domain, selector, key_file)
    signer = DkimSigner([key]).for_campaign(key.domain)
    assert signer is not None
    signed = signer.sign(sample_message(key.domain, dt.datetime.now(dt.UTC)))
    problem = signature_problem(signed, key.txt_value())
    if as_json:
        print_json(
            {
                "domain": key.domain,
                "selector": key.selector,
                "algorithm": key.algorithm,
                "record_name": key.record_name,
                "txt": key.txt_value(),
                "dns_record": key.dns_record(),
                "verified": problem is None,
                "problem": problem,
            }
        )
    else:
        click.echo(f"key {key_file}: {key.algorithm}, domain {key.domain}, selector {key.selector}")
        click.echo("publish this DNS record:")
        click.echo(f"  {key.dns_record()}")
        if problem is None:
            click.echo("a sample message was signed and verified against this record: ok")
    if problem is not None:
        fail(f"DKIM check for {key.domain}: the sample signature does not verify: {problem}")
