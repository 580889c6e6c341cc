"""Every rule in classifiers/patterns/*.jsonl fires on its positive examples and not on its
negative ones; the loader rejects malformed pattern files with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifiers import Classifier, PatternError
from classifiers.rules import load_rules

RULES = load_rules()


def test_every_rule_has_examples() -> None:
    assert RULES
    for rule in RULES:
        assert rule.pos_examples, rule.id
        assert rule.neg_examples, rule.id


def test_ids_unique() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("rule_id", [r.id for r in RULES])
def test_rule_examples(classifier: Classifier, rule_id: str) -> None:
    rule = classifier.by_id[rule_id]
    for text in rule.pos_examples:
        assert classifier.rule_fires(rule_id, text), f"{rule_id} should fire on {text!r}"
    for text in rule.neg_examples:
        assert not classifier.rule_fires(rule_id, text), f"{rule_id} should not fire on {text!r}"


def _write(tmp_path: Path, *objs: object) -> Path:
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(json.dumps(o) for o in objs) + "\n", encoding="utf-8")
    return path


GOOD = {
    "id": "test.rule",
    "decision": "kind=comment",
    "weight": 1,
    "phrases": ["an idea"],
    "examples": {"pos": ["just an idea"], "neg": ["no"]},
}


def test_loader_accepts_good(tmp_path: Path) -> None:
    assert [r.id for r in load_rules([_write(tmp_path, GOOD)])] == ["test.rule"]
    (rule,) = load_rules([_write(tmp_path, {**GOOD, "in_sample": True})])
    assert rule.in_sample


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({**GOOD, "colour": "red"}, "unknown field(s) colour"),
        ({**GOOD, "decision": "kind=spam"}, "unknown decision"),
        ({**GOOD, "weight": 0}, "weight must be a positive number"),
        ({k: v for k, v in GOOD.items() if k != "phrases"}, "needs phrases, pattern or regex"),
        ({**GOOD, "examples": {"pos": ["x"], "neg": []}}, "at least one"),
        ({**GOOD, "id": "NoDot"}, "must look like"),
        ({**GOOD, "in_sample": "yes"}, "in_sample must be true or false"),
    ],
)
def test_loader_rejects(tmp_path: Path, obj: dict[str, object], message: str) -> None:
    with pytest.raises(PatternError, match=r"x\.jsonl:1") as err:
        load_rules([_write(tmp_path, obj)])
    assert message in str(err.value)


def test_loader_rejects_duplicate_ids(tmp_path: Path) -> None:
    with pytest.raises(PatternError, match=r"x\.jsonl:2.*duplicate id 'test.rule'"):
        load_rules([_write(tmp_path, GOOD, GOOD)])


def test_loader_rejects_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": \n', encoding="utf-8")
    with pytest.raises(PatternError, match=r"x\.jsonl:1: invalid JSON"):
        load_rules([path])


def test_matcher_skipped_only_where_a_pattern_cannot_match(tmp_path: Path) -> None:
    pattern = [[{"IS_TITLE": True}, {"LOWER": "'s"}, {"LOWER": "letter"}]]
    rule = {"id": "test.named", "decision": "stage2.prior", "weight": 1, "pattern": pattern}
    rule["examples"] = {"pos": ["Mrs Khan's letter"], "neg": ["a letter"]}
    c = Classifier(load_rules([_write(tmp_path, rule)]))
    words = c.nlp.make_doc("I read Mrs Khan's letter twice.").to_array("LOWER")
    assert c._matcher_may_match(words)
    assert c.rule_fires("test.named", "I read Mrs Khan's letter twice.")
    # Both needed words must be there: "letter" alone cannot match.
    assert not c._matcher_may_match(c.nlp.make_doc("I read the letter twice.").to_array("LOWER"))


def test_a_lemma_in_a_pattern_matches_every_inflection(tmp_path: Path) -> None:
    pattern = [[{"LEMMA": "hit"}, {"LOWER": {"IN": ["her", "him"]}}]]
    rule = {"id": "test.lemma", "decision": "flag=safeguarding", "weight": 1, "pattern": pattern}
    rule["examples"] = {"pos": ["He hits her."], "neg": ["He hitched her trailer."]}
    c = Classifier(load_rules([_write(tmp_path, rule)]))
    for text in ("He hit her.", "He hits her.", "He keeps hitting him."):
        assert c.rule_fires("test.lemma", text), text
    assert not c.rule_fires("test.lemma", "He hitched her trailer.")
    # The word pre-check knows the forms too.
    assert c._matcher_may_match(c.nlp.make_doc("hitting him").to_array("LOWER"))
    assert not c._matcher_may_match(c.nlp.make_doc("hitched him").to_array("LOWER"))
