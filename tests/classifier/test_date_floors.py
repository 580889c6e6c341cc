"""The date reader scored on its own: for every complaint and Stage 2 request in the labelled
corpora, :func:`classifiers.dates.read_dates` is given the labelled kind, so these figures do
not move when the kind decision changes. Floors are the figures reached (rounded down a
little). ``train_a``, ``train_b`` and ``heldout3`` were used to develop the reader;
``heldout4`` was scored once at the end (event date 0.804, within 12 months 0.980, Stage 1
letter date 1.000; before this reader 0.804, 0.980 and 0.944)."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.dates import local_date, read_dates, within_12_months
from classifiers.quoting import split_reply
from classifiers.scoring import read_jsonl

from .conftest import CORPUS_DIR

#: corpus -> (event date exact, within 12 months, Stage 1 letter date exact)
FLOORS = {
    "dev": (0.98, 0.98, 0.98),
    "heldout": (0.9, 0.92, 0.98),
    "heldout3": (0.98, 0.98, 0.98),
    "heldout4": (0.78, 0.96, 0.98),
    "train_a": (0.9, 0.95, 0.98),
    "train_b": (0.9, 0.97, 0.98),
}


def _scores(path: Path) -> tuple[float, float, float]:
    n = event = w12 = s1n = s1 = 0
    for rec in read_jsonl(path):
        label = rec["label"]
        kind = label["kind"]
        if kind not in ("complaint", "stage2_request"):
            continue
        inp = rec["_input"]
        split = split_reply(inp.body)
        facts = read_dates(
            kind, inp.received, split.new, inp.subject, split.quoted, split.forwarded
        )
        n += 1
        event += facts.event_date == label["event_date"]
        w12 += (
            within_12_months(facts.event_date, local_date(inp.received))
            == (label["within_12_months"])
        )
        if kind == "stage2_request":
            s1n += 1
            s1 += facts.stage1_response_date == label["stage1_response_date"]
    return event / n, w12 / n, s1 / s1n


@pytest.mark.parametrize("corpus", sorted(FLOORS))
def test_date_reader_floors(corpus: str) -> None:
    event, w12, s1 = _scores(CORPUS_DIR / f"{corpus}.jsonl")
    floor_event, floor_w12, floor_s1 = FLOORS[corpus]
    report = f"{corpus}: event {event:.3f} within12 {w12:.3f} stage1 {s1:.3f}"
    assert event >= floor_event, report
    assert w12 >= floor_w12, report
    assert s1 >= floor_s1, report
