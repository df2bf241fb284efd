"""The shipped systemd unit verifies cleanly and reaches systemd's "OK" exposure band."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).parents[2] / "systemd" / "campaignd.service"

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


@pytest.fixture
def unit(tmp_path: Path) -> Path:
    # verify checks that ExecStart exists: point it at this environment's campaignd.
    exe = Path(sys.executable).with_name("campaignd")
    text = UNIT.read_text().replace("/opt/campaignd/.venv/bin/campaignd", str(exe))
    path = tmp_path / "campaignd.service"
    path.write_text(text)
    return path


def test_unit_verifies(unit: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "campaignd.service" not in result.stderr, result.stderr


def test_unit_exposure_is_ok(unit: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for campaignd.service: ([\d.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0


def test_unit_contract() -> None:
    text = UNIT.read_text()
    for line in (
        "Type=notify",
        "RestartPreventExitStatus=78",
        "Restart=on-failure",
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "LoadCredential=",
    ):
        assert line in text
    stop = int(re.search(r"TimeoutStopSec=(\d+)s", text).group(1))  # type: ignore[union-attr]
    assert stop > 30  # longer than the default app.shutdown_grace
    high = int(re.search(r"^MemoryHigh=(\d+)M$", text, re.M).group(1))  # type: ignore[union-attr]
    top = int(re.search(r"^MemoryMax=(\d+)G$", text, re.M).group(1))  # type: ignore[union-attr]
    assert 0 < high < top * 1024  # a bound, and reclaim before the kill
