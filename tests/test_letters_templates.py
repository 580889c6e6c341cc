"""Letter templates: golden files for every letter (Durham: the default set; Stoke: with its
shipped override), per-service overrides, autoescaping, strict undefined variables, and
the start-up check that names a broken file.

Regenerate the golden files after an intended wording change with
``SENDIASS_UPDATE_GOLDEN=1 pytest tests/test_letters_templates.py`` and review the diff.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.letters import PURPOSES
from bot.letters.context import letter_context, long_date, sample_extra
from bot.letters.render import (
    PROCEDURE_PURPOSES,
    TEMPLATE_DIR,
    LetterRenderer,
    _sample_for,
    applicable,
)
from bot.services import Service, load_services

GOLDEN = Path(__file__).parent / "golden" / "letters"
UPDATE = os.environ.get("SENDIASS_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def services() -> dict[str, Service]:
    return load_services()


def render(
    renderer: LetterRenderer, service: Service, purpose: str, **changes: object
) -> tuple[str, str]:
    facts = replace(_sample_for(service, purpose), **changes)  # type: ignore[arg-type]
    out = renderer.render(
        service.key, purpose, letter_context(service, purpose, facts, sample_extra(purpose))
    )
    return f"Subject: {out.subject}\n\n{out.text}", out.html


GOLDEN_CASES = [
    (key, purpose)
    for key, service in sorted(load_services().items())
    for purpose in PURPOSES
    if applicable(service, purpose)
]


@pytest.mark.parametrize(("service_key", "purpose"), GOLDEN_CASES)
def test_golden(services: dict[str, Service], service_key: str, purpose: str) -> None:
    text, html = render(LetterRenderer(TEMPLATE_DIR), services[service_key], purpose)
    for suffix, got in ((".txt", text), (".html", html)):
        path = GOLDEN / service_key / f"{purpose}{suffix}"
        if UPDATE:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(got, encoding="utf-8")
        assert path.exists(), f"{path} missing: run with SENDIASS_UPDATE_GOLDEN=1"
        assert got == path.read_text(encoding="utf-8"), f"{path} differs"


def test_stoke_override_speaks_of_its_own_stage_1(services: dict[str, Service]) -> None:
    r = LetterRenderer(TEMPLATE_DIR)
    stoke, _ = render(r, services["stoke"], "complaint_ack")
    durham, _ = render(r, services["durham"], "complaint_ack")
    assert "in person or by phone" in stoke and "four stages" in stoke
    assert "sets no time limit" in stoke
    assert "in person or by phone" not in durham
    # Stoke's other letters are the defaults.
    assert render(r, services["stoke"], "compliment_thanks")[0].count("member of staff") == 1


def test_no_golden_file_for_a_letter_that_can_never_be_sent() -> None:
    # Stoke's procedure describes no extension at any stage, so it has no extension letter.
    assert not (GOLDEN / "stoke" / "extension_notice.txt").exists()
    assert ("durham", "extension_notice") in GOLDEN_CASES
    assert ("stoke", "extension_notice") not in GOLDEN_CASES


def test_every_letter_renders_for_every_service(services: dict[str, Service]) -> None:
    # every letter, except those of a route a procedure does not have (bot/procedure.py)
    expected = sum(
        1
        for service in services.values()
        for purpose in PURPOSES
        if purpose not in PROCEDURE_PURPOSES or applicable(service, purpose)
    )
    assert expected >= len(PURPOSES) * len(services) - 8
    assert LetterRenderer(TEMPLATE_DIR).check(services.values()) == expected


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    folder = tmp_path / "letters"
    shutil.copytree(TEMPLATE_DIR, folder)
    return folder


def test_a_service_folder_overrides_only_that_service(
    templates: Path, services: dict[str, Service]
) -> None:
    (templates / "durham").mkdir()
    (templates / "durham" / "compliment_thanks.subject.txt").write_text("Thank you from Durham\n")
    (templates / "durham" / "_footer.txt").write_text("Durham footer {{ reference }}\n")
    r = LetterRenderer(templates)
    text, _ = render(r, services["durham"], "compliment_thanks")
    assert text.startswith("Subject: Thank you from Durham\n")
    assert text.rstrip().endswith("Durham footer DUR-2026-0007")
    coventry, _ = render(r, services["coventry"], "compliment_thanks")
    assert coventry.startswith("Subject: Thank you for your kind words\n")


def test_html_is_autoescaped_and_text_is_not(services: dict[str, Service]) -> None:
    text, html = render(
        LetterRenderer(TEMPLATE_DIR), services["durham"], "complaint_ack",
        sender_name="Sam <b>O'Neil</b> & co",
    )  # fmt: skip
    assert "Dear Sam <b>O'Neil</b> & co," in text
    assert "Dear Sam &lt;b&gt;O&#39;Neil&lt;/b&gt; &amp; co," in html


def test_undefined_variable_is_an_error_naming_file_and_line(
    templates: Path, services: dict[str, Service]
) -> None:
    path = templates / "comment_thanks.txt"
    path.write_text("Hello\n{{ recipient_name }}\n{{ no_such_thing }}\n")
    with pytest.raises(ConfigError) as err:
        LetterRenderer(templates).check(services.values())
    assert str(err.value) == f"{path}: line 3: 'no_such_thing' is undefined"


def test_syntax_error_and_missing_file_name_the_file(
    templates: Path, services: dict[str, Service]
) -> None:
    (templates / "stoke" / "out_of_scope.html").write_text("<p>{% if %}</p>\n")
    with pytest.raises(ConfigError) as err:
        LetterRenderer(templates).check([services["stoke"]])
    assert str(err.value).startswith(f"{templates / 'stoke' / 'out_of_scope.html'}: line 1: ")
    (templates / "final_stage.subject.txt").unlink()
    with pytest.raises(ConfigError) as err:
        LetterRenderer(templates).check([services["durham"]])
    assert "final_stage.subject.txt" in str(err.value) and "not found" in str(err.value)


def test_dates_are_written_out_in_full() -> None:
    assert long_date(date(2026, 11, 27)) == "Friday 27 November 2026"
    assert long_date(date(2027, 1, 4)) == "Monday 4 January 2027"
    assert long_date(None) is None
