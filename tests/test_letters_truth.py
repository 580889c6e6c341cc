"""Letters only say what is true (issue 14): every letter of every service, rendered as the
start-up check renders it, is read for placeholders, promises the procedure does not make
and "write to" sentences without a way to write.

Each assertion names the procedure line it holds the letter to.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from bot.letters import PURPOSES
from bot.letters.context import letter_context, sample_extra
from bot.letters.render import TEMPLATE_DIR, LetterRenderer, _sample_for, applicable
from bot.services import Service, load_services

SERVICES = load_services()


def _all(service: Service, **changes: object) -> dict[str, str]:
    r = LetterRenderer(TEMPLATE_DIR)
    out = {}
    for purpose in PURPOSES:
        if not applicable(service, purpose):
            continue
        facts = replace(_sample_for(service, purpose), **changes)  # type: ignore[arg-type]
        got = r.render(
            service.key, purpose, letter_context(service, purpose, facts, sample_extra(purpose))
        )
        out[purpose] = got.subject + "\n" + got.text + "\n" + got.html
    return out


@pytest.mark.parametrize("key", sorted(SERVICES))
def test_no_placeholder_reaches_a_letter(key: str) -> None:
    for purpose, text in _all(SERVICES[key]).items():
        assert "TO BE CONFIRMED" not in text, purpose
        assert not re.search(r"\[[A-Z][^\]]*\]", text.split("\n", 1)[1]), purpose
        # no privacy notice is confirmed in the shipped files, so none is linked
        assert "privacy" not in text.lower(), purpose
        assert "None" not in text, purpose


def test_a_confirmed_privacy_notice_is_linked() -> None:
    durham = replace(SERVICES["durham"], privacy_notice_url="https://example.org/privacy")
    text = _all(durham)["complaint_ack"]
    assert "How we use your information: https://example.org/privacy" in text


def test_stoke_letters_never_promise_an_extension() -> None:
    # stoke-sendiass-complaints-procedure-2026.txt describes no extension at any stage
    # (config: extension = { allowed = false } for stages 1-4).
    stoke = SERVICES["stoke"]
    assert not any(s.extension.allowed for s in stoke.stages)
    for stage in (1, 2, 3, 4):
        for purpose, text in _all(stoke, stage=stage).items():
            assert "need longer" not in text and "new date" not in text, (stage, purpose)
    assert "extension_notice" not in _all(stoke)


def test_durham_letters_keep_the_extension_the_procedure_allows() -> None:
    # durham-sendiass-complaints-procedure.txt:L106 "the person who has complained will be
    # informed of this and the date by which they will receive a response."
    text = _all(SERVICES["durham"])["complaint_ack"]
    assert "we will write to tell you why and give you a new date" in text


@pytest.mark.parametrize("key", sorted(SERVICES))
def test_every_write_to_has_the_documents_contact_details_or_says_there_are_none(
    key: str,
) -> None:
    service = SERVICES[key]
    for stage in service.stages:
        nsr = stage.next_stage_request
        if nsr is None:
            continue
        text = _all(service, stage=stage.number)["stage_response"]
        assert nsr.method in text
        if nsr.write_to is not None and nsr.write_to.reachable:
            for detail in (nsr.write_to.email, nsr.write_to.phone, nsr.write_to.address):
                if detail:
                    assert detail in text, (key, stage.number, detail)
        else:
            assert "Our procedure does not give contact details for this" in text


def test_write_to_details_are_the_documents() -> None:
    durham = SERVICES["durham"].first_stage.next_stage_request
    assert durham is not None and durham.write_to is not None
    # durham-sendiass-complaints-procedure.txt:L173-180
    assert durham.write_to.email == "cascomplaints@durham.gov.uk"
    assert durham.write_to.address.endswith("County Hall, Durham, DH1 5UQ")
    coventry = SERVICES["coventry"].first_stage.next_stage_request
    assert coventry is not None and coventry.write_to is not None
    # coventry-send-iass-complaints-policy.txt:L19, L21
    assert (coventry.write_to.email, coventry.write_to.phone) == (
        "speakup@coventry.gov.uk",
        "0800 269851",
    )
    stoke = SERVICES["stoke"].first_stage.next_stage_request
    assert stoke is not None and stoke.write_to is not None
    # stoke-sendiass-complaints-procedure-2026.txt:L51 "sent to IASS@stoke.gov.uk inbox."
    assert stoke.write_to.email == "iass@stoke.gov.uk"


def test_stoke_sets_no_last_date_to_ask() -> None:
    # The Stoke procedure sets no time limit for asking for the next stage, so the response
    # letter gives none even when a date is passed in.
    text = _all(SERVICES["stoke"])["stage_response"]
    assert "The last date to ask" not in text
    assert "sets no time limit" in text
    durham = _all(SERVICES["durham"])["stage_response"]
    assert "The last date to ask is Tuesday 29 December 2026." in durham


def test_procedure_text_is_phrased_for_the_reader_not_pasted() -> None:
    text = _all(SERVICES["coventry"])["next_stage_ack"]
    assert "handled by a senior manager of Coventry City Council" in text
    assert "Senior manager, or a senior officer" not in text
    for service in SERVICES.values():
        for stage in service.stages:
            if stage.what_happens:
                # one sentence, to the reader
                assert stage.what_happens.count(". ") == 0, (service.key, stage.number)
                assert stage.what_happens.endswith(".")


def test_thanks_say_passed_on_only_when_someone_was_told() -> None:
    durham = SERVICES["durham"]
    told = _all(durham)["compliment_thanks"]
    assert "We have passed your message to our SENDIASS Coordinator" in told
    nobody = _all(durham, passed_to=())
    assert "passed" not in nobody["compliment_thanks"]
    assert "passed" not in nobody["comment_thanks"]
    assert "We have recorded your comments" in nobody["comment_thanks"]


def test_a_complaint_about_the_stage_handler_never_names_them_as_handler() -> None:
    # Stoke's Stage 1 and 2 are the Team Lead's (L37, L53); a complaint about the Team Lead
    # is handled by the Strategic Manager (L69), and the letter says so.
    text = _all(SERVICES["stoke"], about_coordinator=True)["complaint_ack"]
    assert "it will be handled by the Strategic Manager instead" in text
    assert "Our Service Team Lead will invite you" not in text
    # Staffordshire L78: a complaint about the SFPS Manager starts at Stage 2.
    sta = _all(SERVICES["staffordshire"], about_coordinator=True, stage=2)["complaint_ack"]
    assert "our procedure starts it at Stage 2" in sta
    assert "handled by the SENDIASS Commissioner of Service" in sta
