"""Bad settings name the fix: "did you mean" for unknown keys, sections and environment
variables, and [smtp] / [[app]] written with the wrong brackets."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from campaignd.config import load_settings
from campaignd.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def refusal(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), env=env or {})
    return info.value


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        (
            "[app]\nmesage_rate = 5\n",
            "unknown setting app.mesage_rate (did you mean app.message_rate?)",
            "app.mesage_rate",
        ),
        (
            "[app]\nconcurency = 3\n",
            "unknown setting app.concurency (did you mean app.concurrency?)",
            "app.concurency",
        ),
        (
            '[[smtp]]\nhots = "x"\n',
            "unknown setting smtp[0].hots (did you mean smtp[0].host?)",
            "smtp[0].hots",
        ),
        (
            "[bounces.hard]\ncuont = 2\n",
            "unknown setting bounces.hard.cuont (did you mean bounces.hard.count?)",
            "bounces.hard.cuont",
        ),
        ("[ap]\nmessage_rate = 5\n", "unknown section [ap] (did you mean [app]?)", "ap"),
        ("[app]\nzzzzzz = 5\n", "unknown setting app.zzzzzz", "app.zzzzzz"),
        ("[qqqq]\nx = 1\n", "unknown section [qqqq]", "qqqq"),
    ],
)
def test_an_unknown_key_names_the_closest_known_one(
    tmp_path: Path, text: str, line: str, key: str
) -> None:
    error = refusal(tmp_path, text)
    assert str(error) == line
    assert error.key == key


def test_an_unknown_environment_variable_names_the_variable_meant(tmp_path: Path) -> None:
    error = refusal(tmp_path, "", {"CAMPAIGND_APP__MESAGE_RATE": "5"})
    assert str(error) == (
        "unknown setting app.mesage_rate (from CAMPAIGND_APP__MESAGE_RATE) "
        "(did you mean CAMPAIGND_APP__MESSAGE_RATE?)"
    )
    section = refusal(tmp_path, "", {"CAMPAIGND_AP__MESSAGE_RATE": "5"})
    assert "(did you mean CAMPAIGND_APP__MESSAGE_RATE?)" in str(section)
    assert "CAMPAIGND_AP__MESSAGE_RATE" in str(section)


def test_a_variable_with_one_underscore_for_two_is_named_in_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="campaignd.config.load"):
        settings = load_settings(
            write(tmp_path, ""),
            env={"CAMPAIGND_APP_MESSAGE_RATE": "5", "CAMPAIGND_TEST_PG_URL": "x"},
        )
    assert settings.app.message_rate == 10.0  # ignored, as before
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "environment variable CAMPAIGND_APP_MESSAGE_RATE is ignored: "
        "did you mean CAMPAIGND_APP__MESSAGE_RATE?"
    ]


@pytest.mark.parametrize(
    ("text", "fix", "key"),
    [
        ('[smtp]\nhost = "smtp.example.com"\n', "write [[smtp]] (two brackets)", "smtp"),
        ("[[app]]\nmessage_rate = 5\n", "write [app] (one bracket), not [[app]]", "app"),
        ("[[bounces]]\nenabled = false\n", "write [bounces] (one bracket)", "bounces"),
    ],
)
def test_wrong_brackets_name_the_fix(tmp_path: Path, text: str, fix: str, key: str) -> None:
    error = refusal(tmp_path, text)
    assert fix in str(error)
    assert error.key == key


def test_right_brackets_still_load(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, '[app]\nmessage_rate = 5\n[[smtp]]\nhost = "a"\n[[smtp]]\nhost = "b"\n'),
        env={},
    )
    assert settings.app.message_rate == 5
    assert [s.host for s in settings.smtp] == ["a", "b"]
