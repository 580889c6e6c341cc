"""Service files: the four shipped procedures load; broken files fail naming file and key."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import bot
from bot.errors import ConfigError
from bot.services import Service, load_service_file, load_services, parse_service
from tests.paths import PROCEDURES_DIR

SERVICES_DIR = bot.ROOT / "config" / "services"
DOCS_DIR = PROCEDURES_DIR


def _durham_text() -> str:
    return (SERVICES_DIR / "durham.toml").read_text(encoding="utf-8")


def _durham_data() -> dict[str, Any]:
    return tomllib.loads(_durham_text())


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------- shipped files


def test_the_four_shipped_services_load() -> None:
    services = load_services()
    assert sorted(services) == ["coventry", "durham", "staffordshire", "stoke"]
    for key, s in services.items():
        assert isinstance(s, Service)
        assert s.key == key
        assert s.timezone == "Europe/London"
        assert s.holiday_region == "england"
        assert s.closure_days == ()
        # no service has confirmed a privacy notice: empty, so letters leave it out
        assert s.privacy_notice_url == ""
        assert "privacy_notice_url: not confirmed (letters leave the link out)" in s.missing()
        assert s.stages[-1].final
        assert s.ombudsman.time_limit_months == 12
        assert "Ombudsman" in s.ombudsman.name


@pytest.mark.parametrize(
    ("key", "prefix", "address"),
    [
        ("durham", "DUR", "sendiass@durham.gov.uk"),
        ("staffordshire", "STA", "sendiass@staffordshire-fp.org.uk"),
        ("coventry", "COV", "iass@coventry.gov.uk"),
        ("stoke", "STO", "iass@stoke.gov.uk"),
    ],
)
def test_intake_fields(key: str, prefix: str, address: str) -> None:
    s = load_services()[key]
    assert s.reference_prefix == prefix
    assert s.addresses == (address,)
    assert s.coordinator_email == address
    assert s.cutoff_hour is None


def test_stage_windows_as_the_documents_say() -> None:
    services = load_services()

    def windows(key: str) -> list[tuple[int, int, str, int, str]]:
        return [
            (s.number, s.acknowledge.amount, s.acknowledge.unit, s.respond.amount, s.respond.unit)
            for s in services[key].stages
        ]

    wd, wk = "working_days", "calendar_weeks"
    assert windows("durham") == [(1, 3, wd, 20, wd), (2, 5, wd, 20, wd)]
    assert windows("staffordshire") == [(1, 5, wd, 20, wd), (2, 5, wd, 20, wd)]
    assert windows("coventry") == [(1, 3, wd, 10, wd), (2, 3, wd, 20, wd)]
    assert windows("stoke") == [
        (1, 3, wd, 5, wd),
        (2, 3, wd, 2, wk),
        (3, 3, wd, 4, wk),
        (4, 3, wd, 5, wk),
    ]
    # Unstated acknowledgement windows are marked as defaults, with a note
    assert not services["coventry"].stage(2).acknowledge.stated
    assert all(not s.acknowledge.stated and s.acknowledge.note for s in services["stoke"].stages)
    assert services["durham"].stage(1).acknowledge.stated


def test_next_stage_requests() -> None:
    services = load_services()
    for key in ("durham", "staffordshire", "coventry"):
        nsr = services[key].stage(1).next_stage_request
        assert nsr is not None and nsr.to_stage == 2
        assert nsr.within is not None
        assert (nsr.within.amount, nsr.within.unit) == (20, "working_days")
    stoke = services["stoke"]
    for n in (1, 2, 3):
        nsr = stoke.stage(n).next_stage_request
        assert nsr is not None and nsr.to_stage == n + 1 and nsr.within is None
    assert stoke.stage(4).next_stage_request is None


def test_routes_and_eligibility() -> None:
    services = load_services()
    assert services["durham"].start_stage(about_coordinator=True) == 2
    assert services["staffordshire"].start_stage(about_coordinator=True) == 2
    assert services["coventry"].start_stage(about_coordinator=True) == 1
    assert services["stoke"].start_stage(about_coordinator=True) == 1
    assert services["coventry"].route("informal_first") is not None
    assert services["stoke"].route("verbal_waiting_or_opening_times") is not None
    direct = services["stoke"].route("direct_to_stage")
    assert direct is not None and direct.start_stage == 3
    staffs = {e.code for e in services["staffordshire"].eligibility.exemptions}
    assert {"other_procedure", "already_investigated", "older_than_window"} <= staffs
    assert services["durham"].eligibility.event_window_basis == "procedure"
    assert services["coventry"].eligibility.event_window_basis == "ombudsman"
    assert services["stoke"].eligibility.event_window_basis == "default"


_CITE = re.compile(r'#.*?([a-z0-9-]+\.txt):L(\d+)\s+"([^"]+)"')


def _norm(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("key", ["durham", "staffordshire", "coventry", "stoke"])
def test_every_quoted_citation_is_on_its_line(key: str) -> None:
    """A comment 'file:L123 "quote"' must quote text that starts on line 123 of the file."""
    text = (SERVICES_DIR / f"{key}.toml").read_text(encoding="utf-8")
    found = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        for m in _CITE.finditer(line):
            doc, n, quote = m.group(1), int(m.group(2)), m.group(3)
            lines = (DOCS_DIR / doc).read_text(encoding="utf-8").splitlines()
            assert 1 <= n <= len(lines), f"{key}.toml:{lineno}: {doc} has no line {n}"
            first = _norm(lines[n - 1])
            joined = _norm(" ".join(lines[n - 1 : n + 5]))
            at = joined.find(_norm(quote))
            assert 0 <= at < len(first), f"{key}.toml:{lineno}: not on {doc}:L{n}: {quote!r}"
            found += 1
    assert found >= 15


def test_every_source_key_points_at_a_real_line() -> None:
    source = re.compile(r'source = "([a-z0-9-]+\.txt):L(\d+)"')
    for path in SERVICES_DIR.glob("*.toml"):
        for m in source.finditer(path.read_text(encoding="utf-8")):
            lines = (DOCS_DIR / m.group(1)).read_text(encoding="utf-8").splitlines()
            assert 1 <= int(m.group(2)) <= len(lines)
            assert lines[int(m.group(2)) - 1].strip(), f"{path.name}: blank line cited"


# ------------------------------------------------------------------- broken files


def test_closure_days_from_a_new_file(tmp_path: Path) -> None:
    text = _durham_text().replace(
        "closure_days = []",
        "closure_days = [\n"
        '  { start = 2026-12-29, end = 2026-12-31, reason = "Christmas shutdown" },\n'
        '  { start = "2027-04-01", reason = "training day" },\n]',
    )
    s = load_service_file(_write(tmp_path, "durham", text))
    assert len(s.closure_days) == 2
    assert s.closure_days[1].start == s.closure_days[1].end == date(2027, 4, 1)
    assert not s.calendar.is_working_day(date(2026, 12, 30))
    assert not s.calendar.is_working_day(date(2027, 4, 1))


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ('key = "durham"\n', 'key = "durham"\nmascot = "owl"\n', "mascot", "unknown key"),
        ('reference_prefix = "DUR"\n', "", "reference_prefix", "missing"),
        (
            'acknowledge = { amount = 3, unit = "working_days", source',
            'acknowledge = { amount = 0, unit = "working_days", source',
            "stages[0].acknowledge.amount",
            "impossible window",
        ),
        (
            'respond = { amount = 20, unit = "working_days", source = "durham-sendiass-complaints'
            '-procedure.txt:L105" }',
            'respond = { amount = 2000, unit = "working_days" }',
            "stages[0].respond.amount",
            "impossible window",
        ),
        (
            'acknowledge = { amount = 3, unit = "working_days", source',
            'acknowledge = { amount = 3, unit = "fortnights", source',
            "stages[0].acknowledge.unit",
            "unknown unit",
        ),
        ("to_stage = 2", "to_stage = 3", "stages[0].next_stage_request.to_stage", "no stage 3"),
        ("start_stage = 2", "start_stage = 5", "routes[0].start_stage", "no stage 5"),
        ("number = 2", "number = 1", "stages[1].number", "duplicate stage number 1"),
        ('holiday_region = "england"', 'holiday_region = "yorkshire"', "holiday_region", "unknown"),
        ("final = true", 'final = "yes"', "stages[1].final", "expected true or false"),
        (
            'reference_prefix = "DUR"',
            'reference_prefix = "DURHAM"',
            "reference_prefix",
            "three capital",
        ),
        ('timezone = "Europe/London"', 'timezone = "Europe/Durham"', "timezone", "unknown"),
        ('key = "durham"', 'key = "durham2"', "key", "must equal the file name"),
        ("closure_days = []", "closure_days = 3", "closure_days", "expected an array"),
        (
            "closure_days = []",
            'closure_days = [{ start = 2026-12-31, end = 2026-12-29, reason = "x" }]',
            "closure_days[0].end",
            "before it starts",
        ),
        ('code = "about_coordinator"', 'code = "vip"', "routes[0].code", "unknown route"),
        ("event_window_months = 12", "event_window_months = 0", "eligibility", "impossible"),
    ],
)
def test_broken_file_names_file_and_key(
    tmp_path: Path, old: str, new: str, key: str, problem: str
) -> None:
    text = _durham_text()
    assert old in text, f"test setup: {old!r} not in durham.toml"
    path = _write(tmp_path, "durham", text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_service_file(path)
    message = str(info.value)
    assert str(path) in message
    assert f": {key}" in message
    assert problem in message
    assert info.value.exit_code == 2


def test_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "durham", _durham_text() + "\nthis is not toml\n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_service_file(path)
    assert str(path) in str(info.value)


def _parse(data: dict[str, Any], tmp_path: Path) -> Service:
    return parse_service(data, tmp_path / "durham.toml")


def test_last_stage_must_be_final(tmp_path: Path) -> None:
    data = _durham_data()
    data["stages"][1]["final"] = False
    with pytest.raises(ConfigError, match=r"stages\[1\]\.final: the last stage must be final"):
        _parse(data, tmp_path)


def test_non_final_stage_needs_next_stage_request(tmp_path: Path) -> None:
    data = _durham_data()
    del data["stages"][0]["next_stage_request"]
    with pytest.raises(ConfigError, match=r"stages\[0\]\.next_stage_request: missing"):
        _parse(data, tmp_path)


def test_stages_out_of_order(tmp_path: Path) -> None:
    data = _durham_data()
    data["stages"] = list(reversed(data["stages"]))
    with pytest.raises(ConfigError, match="stages"):
        _parse(data, tmp_path)


def test_unstated_window_needs_a_note(tmp_path: Path) -> None:
    data = _durham_data()
    data["stages"][0]["acknowledge"]["stated"] = False
    with pytest.raises(ConfigError, match=r"stages\[0\]\.acknowledge\.note"):
        _parse(data, tmp_path)


def test_wrong_type_in_nested_table(tmp_path: Path) -> None:
    data = copy.deepcopy(_durham_data())
    data["stages"][0]["handler"]["role"] = 7
    with pytest.raises(ConfigError, match=r"stages\[0\]\.handler\.role: expected a string"):
        _parse(data, tmp_path)


def test_boolean_is_not_an_integer(tmp_path: Path) -> None:
    data = _durham_data()
    data["stages"][0]["respond"]["amount"] = True
    with pytest.raises(ConfigError, match=r"respond\.amount: expected an integer"):
        _parse(data, tmp_path)


def test_cutoff_hour(tmp_path: Path) -> None:
    data = _durham_data()
    data["cutoff_hour"] = 17
    assert _parse(data, tmp_path).cutoff_hour == 17
    data["cutoff_hour"] = 24
    with pytest.raises(ConfigError, match="cutoff_hour"):
        _parse(data, tmp_path)


def test_a_new_service_is_one_more_file(tmp_path: Path) -> None:
    for f in SERVICES_DIR.glob("*.toml"):
        _write(tmp_path, f.stem, f.read_text(encoding="utf-8"))
    text = (
        _durham_text()
        .replace('key = "durham"', 'key = "newtown"')
        .replace('reference_prefix = "DUR"', 'reference_prefix = "NEW"')
        .replace('addresses = ["sendiass@durham.gov.uk"]', 'addresses = ["iass@newtown.gov.uk"]')
        .replace('holiday_region = "england"', 'holiday_region = "wales"')
    )
    _write(tmp_path, "newtown", text)
    services = load_services(tmp_path)
    assert sorted(services) == ["coventry", "durham", "newtown", "staffordshire", "stoke"]
    assert services["newtown"].calendar.region == "wales"


def test_duplicate_address_across_files(tmp_path: Path) -> None:
    _write(tmp_path, "durham", _durham_text())
    text = (
        _durham_text()
        .replace('key = "durham"', 'key = "other"')
        .replace('reference_prefix = "DUR"', 'reference_prefix = "OTH"')
    )
    path = _write(tmp_path, "other", text)
    with pytest.raises(ConfigError, match="already durham's address") as info:
        load_services(tmp_path)
    assert str(path) in str(info.value)


def test_empty_or_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no service files"):
        load_services(tmp_path)
    with pytest.raises(ConfigError, match="no such directory"):
        load_services(tmp_path / "nope")


def test_holiday_region_defaults_to_england(tmp_path: Path) -> None:
    data = _durham_data()
    del data["holiday_region"]
    assert _parse(data, tmp_path).calendar.region == "england"


def test_service_to_json() -> None:
    for s in load_services().values():
        data = s.to_json()
        assert json.loads(json.dumps(data)) == data
        assert data["stages"][0]["number"] == 1
