"""Reliability tier: fixtures, and the measurements each scenario records for docs/reliability.md.

Every scenario test takes the `measure` fixture and records what it injected and what it
measured (delivered, duplicated, lost, unknown, time to recover). When the environment
variable CAMPAIGND_RELIABILITY_RESULTS names a file, each test appends one JSON line to it with
its measurements and its pytest outcome; `scripts/reliability_report.py` runs this tier that
way and renders the Markdown report, so the report only ever shows what a run measured.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Generator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.fixtures import smtp_server, smtp_servers, test_ca, trusted_ca  # noqa: F401

RESULTS_ENV = "CAMPAIGND_RELIABILITY_RESULTS"


@dataclass
class Measurement:
    """What one scenario injected and what it measured; None where it does not apply."""

    scenario: str = ""
    group: str = ""
    injected: str = ""
    recipients: int | None = None
    delivered: int | None = None
    duplicated: int | None = None
    lost: int | None = None
    unknown: int | None = None
    failed: int | None = None
    recover_s: float | None = None
    time_means: str = ""
    expected: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def record(self, **values: Any) -> None:
        for key, value in values.items():
            if not hasattr(self, key) or key == "details":
                self.details[key] = value
            else:
                setattr(self, key, value)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    setattr(item, f"rel_{report.when}", report)
    return report


@pytest.fixture
def measure(request: pytest.FixtureRequest) -> Iterator[Measurement]:
    """A Measurement for this scenario; written to CAMPAIGND_RELIABILITY_RESULTS afterwards."""
    m = Measurement(scenario=request.node.name)
    started = time.monotonic()
    yield m
    target = os.environ.get(RESULTS_ENV)
    if not target:
        return
    node = request.node
    call = getattr(node, "rel_call", None)
    setup = getattr(node, "rel_setup", None)
    if call is not None:
        outcome = call.outcome
    elif setup is not None and setup.skipped:
        outcome = "skipped"
    else:
        outcome = "error"
    row = {
        "nodeid": node.nodeid,
        "outcome": outcome,
        "seconds": round(time.monotonic() - started, 2),
        **asdict(m),
    }
    if outcome == "skipped" and call is not None and isinstance(call.longrepr, tuple):
        row["details"]["skip_reason"] = call.longrepr[2]
    with Path(target).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, default=str) + "\n")
