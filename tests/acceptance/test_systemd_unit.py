"""The shipped systemd units (one daemon, and the template for N daemons on one PostgreSQL)
verify cleanly and reach systemd's "OK" exposure band."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).parents[2] / "systemd"
UNIT = SYSTEMD / "campaignd.service"
#: Each shipped unit, and the name it is checked under (a template as one of its instances).
UNITS = {"campaignd.service": UNIT, "campaignd@2.service": SYSTEMD / "campaignd@.service"}

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


@pytest.fixture(params=sorted(UNITS))
def unit(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    # verify checks that ExecStart exists: point it at this environment's campaignd.
    exe = Path(sys.executable).with_name("campaignd")
    text = UNITS[request.param].read_text()
    path = tmp_path / request.param
    path.write_text(text.replace("/opt/campaignd/.venv/bin/campaignd", str(exe)))
    return path


def test_unit_verifies(unit: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert unit.name not in result.stderr, result.stderr


def test_unit_exposure_is_ok(unit: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(
        rf"Overall exposure level for {re.escape(unit.name)}: ([\d.]+)", result.stdout
    )
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0


@pytest.mark.parametrize("path", sorted(UNITS.values()))
def test_unit_contract(path: Path) -> None:
    text = path.read_text()
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


def test_the_template_names_each_instance_and_has_no_sqlite_file() -> None:
    text = (SYSTEMD / "campaignd@.service").read_text()
    assert "Environment=CAMPAIGND_APP__INSTANCE_ID=%H-%i" in text
    assert "sqlite" not in text.split("[Service]")[1].lower()  # N daemons share PostgreSQL
    assert "EnvironmentFile=-/etc/campaignd/environment" in text
