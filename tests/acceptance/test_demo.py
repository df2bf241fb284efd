"""`make demo` as a new user runs it: the whole main job ends with every message captured."""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
from pathlib import Path


def test_the_demo_sends_its_campaign_and_says_where_to_look(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "campaignd.devtools.demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    mails = sorted((tmp_path / ".demo" / "mail").glob("*.eml"))
    assert mails, result.stdout[-2000:]
    assert f"Demo finished: {len(mails)} messages captured" in result.stdout
    message = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default)
    assert message["List-Unsubscribe"]
    assert "{{" not in mails[0].read_text(errors="replace")  # every template was rendered
