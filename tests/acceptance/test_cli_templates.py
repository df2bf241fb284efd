"""`campaignd templates` run as real commands: layouts are checked before they are stored."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from campaignd.db.migrate import upgrade


def test_templates_add_checks_the_layout_and_ls_shows_it(sqlite_url: str, tmp_path: Path) -> None:
    asyncio.run(upgrade(sqlite_url))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
    env["CAMPAIGND_DB__URL"] = sqlite_url

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "campaignd", "templates", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    good = tmp_path / "layout.html"
    good.write_text("<html><body>\n{{ content }}\n<p>{{ subscriber.name }}</p></body></html>\n")
    no_content = tmp_path / "no-content.html"
    no_content.write_text("<html><body>hello</body></html>\n")
    broken = tmp_path / "broken.html"
    broken.write_text("<html>\n{{ content }}\n{% if %}\n</html>\n")

    added = cli("add", "main", "--file", str(good))
    assert added.returncode == 0, added.stderr
    assert "added template 'main'" in added.stdout
    for bad, reason in ((no_content, "{{ content }}"), (broken, "line 3")):
        result = cli("add", "bad", "--file", str(bad))
        assert result.returncode == 1
        assert result.stderr.startswith("error: ")
        assert reason in result.stderr
    dup = cli("add", "main", "--file", str(good))
    assert dup.returncode == 1
    assert "already exists" in dup.stderr

    listed = json.loads(cli("ls", "--json").stdout)
    assert [(t["name"], t["body"]) for t in listed] == [("main", good.read_text())]
    table = cli("ls").stdout.splitlines()
    assert table[0].split() == ["ID", "NAME", "SIZE", "CREATED"]
    assert table[1].split()[:2] == ["1", "main"]
