"""Run the reliability tier and write docs/reliability.md from what it measured.

    python scripts/reliability_report.py                 # run the suites, write the report
    python scripts/reliability_report.py --render-only --results R.jsonl --junit J.xml

Each scenario test in tests/reliability records what it injected and what it measured through
the `measure` fixture (one JSON line per test, CAMPAIGND_RELIABILITY_RESULTS); the hostile-input
suites of other tiers are counted from pytest's JUnit XML. Nothing in the report is typed by
hand: rerun this after a change and the report says what the code does now. The exit code is
pytest's, so a failing scenario fails `make reliability-report` too (the report still shows it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TIER = "tests/reliability"
HOSTILE = {
    "tests/unit/test_csv_hostile.py": "CSV import, property-based: random bytes, BOMs, mixed "
    "newlines, huge cells, NUL bytes, broken JSON, duplicates, formula cells",
    "tests/unit/test_header_injection.py": "header injection, property-based: CR, LF and NUL in "
    "names, attributes and campaign headers never add a header or a body",
    "tests/unit/test_render_hostile.py": "templates: sandbox escapes blocked, runaway loops and "
    "huge output stopped with a clear error",
}
# The attacks of the hostile trial (issue 15): what was tried, what campaignd does now, and the
# tests that show it (a file, or "file::name-prefix"). The outcome column is read from the run.
ATTACKS: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "CSV row with a quote never closed",
        "that row reported by line (`quote never closed`), "
        "every other row imported; both import paths",
        (
            "tests/unit/test_csv_unclosed_quote.py",
            "tests/integration/test_importer.py::test_an_unclosed",
            "tests/acceptance/test_cli_import_hostile.py",
        ),
    ),
    (
        "`--overwrite-info` with a file lacking columns",
        "absent columns left alone; an empty cell clears; memory, SQLite, PostgreSQL",
        (
            "tests/integration/test_store_contract.py::test_overwrite_info",
            "tests/integration/test_importer.py::test_overwrite_info",
        ),
    ),
    (
        "international domain `x@faß.de`, full-width `＞` in an address",
        "IDNA 2008 (`xn--fa-hia.de`) in envelope and headers; characters that normalise to "
        "SMTP syntax refused",
        (
            "tests/unit/test_messenger_envelope.py",
            "tests/integration/test_smtp_idna.py",
            "tests/unit/test_addresses.py",
        ),
    ),
    (
        "`{{ campaign.subject }}` in a layout",
        "the subject as rendered for that subscriber",
        ("tests/unit/test_render_subject.py",),
    ),
    (
        "a template attribute some subscribers lack",
        "blank by default; `start`/`schedule` count who lacks it; `fail` refuses without --force",
        (
            "tests/unit/test_preflight.py",
            "tests/integration/test_store_audience.py",
            "tests/acceptance/test_cli_campaigns.py::test_start_under",
        ),
    ),
    (
        "every SMTP server down",
        "recipients counted once; the campaign pauses with the reason "
        "after app.pause_after_unreachable; nobody lost",
        (
            "tests/unit/test_dispatch.py::test_tally_counts",
            "tests/unit/test_dispatch.py::test_all_servers",
            "tests/acceptance/test_cli_campaigns.py::test_all_servers_down",
        ),
    ),
    (
        "SES webhook from a foreign topic, look-alike certificate hosts, failing fetches",
        "topic checked before any fetch; only real SNS hosts; failures cached and rationed (503)",
        (
            "tests/unit/test_http_hostile.py::test_ses",
            "tests/unit/test_http_hostile.py::test_a_",
            "tests/unit/test_http_hostile.py::test_look",
            "tests/unit/test_http_hostile.py::test_cert",
            "tests/unit/test_http_hostile.py::test_good",
            "tests/unit/test_http_hostile.py::test_real",
        ),
    ),
    (
        "200 idle connections, half-sent requests",
        "closed after http.header_timeout; capped per "
        "client; /healthz and one-click unsubscribe keep answering",
        ("tests/unit/test_http_slow_clients.py",),
    ),
    (
        "template bombs (format widths, `~` doubling, wordwrap, huge lists, slow renders)",
        "refused before allocating; slow renders leave the event loop; pause after "
        "max_render_failures",
        (
            "tests/unit/test_render_hostile.py",
            "tests/unit/test_render_event_loop.py",
            "tests/unit/test_dispatch.py::test_a_template_failing",
        ),
    ),
    (
        "CR/LF in `app.root_url` and header settings",
        "refused at load, exit 78 naming the key",
        ("tests/unit/test_config_hostile.py", "tests/acceptance/test_cli_config.py"),
    ),
    (
        "formula cells in `campaigns failures --csv`",
        "neutralised with a leading `'`",
        ("tests/unit/test_csvsafe.py", "tests/acceptance/test_cli_failures.py"),
    ),
    (
        "AUTH over plaintext, a server echoing AUTH",
        "refused without allow_plaintext_auth; credentials redacted from every output",
        (
            "tests/unit/test_messenger_redact.py",
            "tests/unit/test_config_hostile.py::test_auth_over",
            "tests/acceptance/test_cli_messengers.py::test_test_redacts",
            "tests/integration/test_smtp_messenger.py::test_credentials",
        ),
    ),
    (
        "a new SQLite database file",
        "created 0600",
        ("tests/acceptance/test_cli_db.py::test_a_new_sqlite",),
    ),
    (
        "deeply nested JSON, oversized bodies, old SendGrid signatures",
        "400 / 413; SendGrid outside ±10 minutes refused",
        (
            "tests/unit/test_http_hostile.py::test_hostile",
            "tests/unit/test_http_hostile.py::test_bodies",
            "tests/unit/test_http_hostile.py::test_sendgrid",
        ),
    ),
    (
        "encrypted or damaged archives",
        "one clear error line",
        (
            "tests/unit/test_csvrows.py::test_encrypted",
            "tests/unit/test_csvrows.py::test_corrupt",
            "tests/unit/test_csvrows.py::test_zip",
        ),
    ),
    (
        "an opt-in link used for other lists; rotating security.secret",
        "links name their lists; previous_secrets verify only",
        (
            "tests/unit/test_tokens.py",
            "tests/unit/test_config_secrets.py",
            "tests/unit/test_http_optin_send.py",
        ),
    ),
    (
        "a subscriber name that redirects Reply-To",
        "addresses are literal; names quoted",
        ("tests/unit/test_address_headers.py",),
    ),
]
ATTACK_FILES = sorted({s.split("::")[0] for _, _, sel in ATTACKS for s in sel})
GROUPS = ["SMTP faults", "Crashes", "Database outages", "Hostile input"]
COLUMNS = [
    ("recipients", "Recipients"),
    ("delivered", "Delivered"),
    ("duplicated", "Duplicated"),
    ("lost", "Lost"),
    ("unknown", "Unknown"),
    ("failed", "Failed"),
    ("recover_s", "Time (s)"),
]


def run_suites(results: Path, junit: Path) -> int:
    env = {**os.environ, "CAMPAIGND_RELIABILITY_RESULTS": str(results)}
    command = [
        sys.executable, "-m", "pytest", TIER, *HOSTILE, *ATTACK_FILES, "-q",
        "-p", "no:cacheprovider", f"--junitxml={junit}",
    ]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode  # noqa: S603


def load_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def junit_cases(path: Path) -> dict[str, str]:
    """Every test case of the run as "file::name" -> passed / failed / skipped."""
    cases: dict[str, str] = {}
    if not path.exists():
        return cases
    root = ET.parse(path).getroot()  # noqa: S314 (our own pytest output)
    for case in root.iter("testcase"):
        parts = [p for p in case.get("classname", "").split(".") if not p[:1].isupper()]
        kinds = {child.tag for child in case}
        outcome = (
            "failed"
            if kinds & {"failure", "error"}
            else ("skipped" if "skipped" in kinds else "passed")
        )
        cases["/".join(parts) + ".py::" + case.get("name", "")] = outcome
    return cases


def attack_rows(cases: dict[str, str]) -> list[str]:
    out = [
        "## Attacks of the hostile trial",
        "",
        "Each attack a hostile trial made on the earlier code, what campaignd does now, and the "
        "tests that show it (each failed on the code before the fix); the counts are this run's.",
        "",
        "| Attack | Outcome now | Tests | Passed | Failed | Result |",
        "|---|---|---|---|---|---|",
    ]
    for attack, outcome, selectors in ATTACKS:
        hits = [v for k, v in cases.items() if any(k.startswith(s) for s in selectors)]
        passed, failed = hits.count("passed"), hits.count("failed")
        result = "**not run**" if not hits else ("pass" if not failed and passed else "**FAIL**")
        tests = ", ".join(f"`{s}`" for s in selectors)
        out.append(f"| {attack} | {outcome} | {tests} | {passed} | {failed} | {result} |")
    out.append("")
    return out


def junit_counts(path: Path) -> tuple[dict[str, dict[str, int]], float]:
    """Per test file: passed/failed/skipped, and the total seconds of the run."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if not path.exists():
        return {}, 0.0
    root = ET.parse(path).getroot()  # noqa: S314 (our own pytest output)
    total = 0.0
    for suite in root.iter("testsuite"):
        total += float(suite.get("time", 0))
    for case in root.iter("testcase"):
        classname = case.get("classname", "")
        file = classname.split(".")
        # "tests.unit.test_csv_hostile" or "tests.unit.test_csv_hostile.TestX"
        parts = [p for p in file if not p[:1].isupper()]
        name = "/".join(parts) + ".py"
        kinds = {child.tag for child in case}
        if kinds & {"failure", "error"}:
            counts[name]["failed"] += 1
        elif "skipped" in kinds:
            counts[name]["skipped"] += 1
        else:
            counts[name]["passed"] += 1
    return {k: dict(v) for k, v in counts.items()}, total


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _result(row: dict[str, Any]) -> str:
    return {"passed": "pass", "failed": "**FAIL**", "skipped": "skipped"}.get(
        row["outcome"], f"**{row['outcome'].upper()}**"
    )


def _title(row: dict[str, Any]) -> str:
    name = str(row["scenario"]).removeprefix("test_").replace("_", " ")
    return name[:1].upper() + name[1:]


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def render(
    rows: list[dict[str, Any]],
    junit: dict[str, dict[str, int]],
    seconds: float,
    cases: dict[str, str] | None = None,
) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    by_outcome: dict[str, int] = defaultdict(int)
    for row in rows:
        by_outcome[row["outcome"]] += 1
    out = [
        "# Reliability and security: measured results",
        "",
        "<!-- Generated by `make reliability-report` (scripts/reliability_report.py) from the",
        "     suite's own measurements. Do not edit by hand: rerun it. -->",
        "",
        f"Generated {now} at commit `{_git_commit()}` on {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}. "
        f"{len(rows)} scenarios: "
        + ", ".join(f"{n} {k}" for k, n in sorted(by_outcome.items()))
        + (f"; the suites took {seconds:.0f} s." if seconds else "."),
        "",
        "Each row is one test in `tests/reliability/`: the fault it injected into real servers "
        "on 127.0.0.1 (aiosmtpd, a counting SMTP sink, SQLite, a PostgreSQL cluster of the "
        "test's own) and what it then measured. *Delivered*: distinct recipients the SMTP "
        "servers accepted; *Duplicated*: extra copies; *Lost*: eligible recipients neither "
        "delivered nor recorded as `unknown`/`failed`; *Unknown*: ledger rows whose outcome the "
        'server never confirmed (no reply after the final "."; never re-sent). *Time* is '
        "explained per scenario. A scenario passes only if every assertion in its test held; the "
        "promise it checks is listed under the table.",
        "",
    ]
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row.get("group") or "Other"].append(row)
    for group in [*GROUPS, *sorted(set(grouped) - set(GROUPS))]:
        if group not in grouped:
            continue
        out += [f"## {group}", ""]
        out.append("| Scenario | Injected | " + " | ".join(t for _, t in COLUMNS) + " | Result |")
        out.append("|---" * (len(COLUMNS) + 3) + "|")
        for row in grouped[group]:
            cells = [_title(row), row.get("injected") or "–"]
            cells += [row.get(key) for key, _ in COLUMNS]
            cells.append(_result(row))
            out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        out.append("")
        for row in grouped[group]:
            notes = []
            if row.get("expected"):
                notes.append(f"promise: {row['expected']}")
            if row.get("time_means"):
                notes.append(f"time: {row['time_means']}")
            details = row.get("details") or {}
            if details:
                notes.append("; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in details.items()))
            out.append(f"- **{_title(row)}** (`{row['nodeid']}`, {row['seconds']:.1f} s): ")
            out[-1] += _cell(" — ".join(notes))
        out.append("")
    if junit:
        out += [
            "## Hostile-input suites in other tiers",
            "",
            "| Suite | Covers | Passed | Failed | Skipped |",
            "|---|---|---|---|---|",
        ]
        for path, covers in HOSTILE.items():
            c = junit.get(path, {})
            out.append(
                f"| `{path}` | {covers} | {c.get('passed', 0)} | {c.get('failed', 0)} | "
                f"{c.get('skipped', 0)} |"
            )
        out.append("")
    if cases:
        out += attack_rows(cases)
    out += [
        "## Reproduce",
        "",
        "```sh",
        "make reliability-report          # runs the suites above and rewrites this file",
        ".venv/bin/pytest tests/reliability -q   # the scenarios alone",
        "CAMPAIGND_CRASH_SEED=123 .venv/bin/pytest tests/reliability/test_crash_recovery.py",
        "```",
        "",
        "The PostgreSQL outage needs the server binaries (`initdb`, `pg_ctl` under "
        "`/usr/lib/postgresql/*/bin`); without them it is skipped, and with "
        "`CAMPAIGND_TEST_REQUIRE_PG` set (CI) it fails instead.",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "reliability.md")
    parser.add_argument("--render-only", action="store_true", help="do not run the suites")
    parser.add_argument("--results", type=Path, help="JSON lines from a run (with --render-only)")
    parser.add_argument("--junit", type=Path, help="JUnit XML from a run (with --render-only)")
    args = parser.parse_args(argv)
    code = 0
    with tempfile.TemporaryDirectory(prefix="campaignd-reliability-") as tmp:
        results = args.results or Path(tmp) / "results.jsonl"
        junit = args.junit or Path(tmp) / "junit.xml"
        if not args.render_only:
            code = run_suites(results, junit)
        rows = load_results(results)
        if not rows:
            print("no measurements recorded; nothing written", file=sys.stderr)
            return code or 1
        counts, seconds = junit_counts(junit)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        text = render(rows, counts, seconds, junit_cases(junit))
        args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(rows)} scenarios)")
    return code


if __name__ == "__main__":
    sys.exit(main())
