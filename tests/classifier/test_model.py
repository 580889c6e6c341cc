"""The trained text classifier: shipped model, training command, calibration, guards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from bot.cli import main
from classifiers import Classifier, get_classifier
from classifiers.engine import combine
from classifiers.model import (
    FLAGS,
    MODEL_DIR,
    Prediction,
    TextModel,
    apply_platt,
    apply_temperature,
)
from classifiers.trainer import fit_platt, fit_temperature
from classifiers.types import KINDS

from .conftest import CORPUS_DIR, DEV_JSONL, make_input


@pytest.fixture(scope="module")
def model() -> TextModel:
    return TextModel.load(MODEL_DIR)


@pytest.fixture(scope="module")
def rules_only() -> Classifier:
    return Classifier()


def _pred(kind: str, p: float, **flags: float) -> Prediction:
    rest = (1.0 - p) / (len(KINDS) - 1)
    return Prediction(
        kinds={k: (p if k == kind else rest) for k in KINDS},
        flags={f: flags.get(f, 0.0) for f in FLAGS},
    )


def test_the_shipped_model_loads_from_the_package(model: TextModel) -> None:
    assert (MODEL_DIR / "VERSION").read_text().strip() == model.version
    assert model.version.startswith("textcat-")
    assert set(model.flag_thresholds) == set(FLAGS)
    assert 0.0 < model.send_threshold < 1.0
    size = sum(f.stat().st_size for f in MODEL_DIR.rglob("*") if f.is_file())
    assert size < 5_000_000
    assert get_classifier().model is not None
    pred = model.predict(["subject .\n\nthank you so much, you were brilliant with us"])[0]
    assert abs(sum(pred.kinds.values()) - 1.0) < 1e-6
    assert pred.kind == "compliment"


def test_every_classification_records_the_model_version_and_rule_ids(model: TextModel) -> None:
    c = get_classifier().classify(
        make_input("I want to make a formal complaint about my caseworker. Nobody called back.")
    )
    out = c.to_json()
    assert out["model"]["version"] == model.version
    assert set(out["model"]["kinds"]) == set(KINDS)
    assert out["rule_ids"] and all(isinstance(r, str) for r in out["rule_ids"])
    assert "model.kind" not in out["rule_ids"]
    assert any(r["rule"] == "model.kind" for r in out["reasons"])


def test_a_rule_that_contradicts_the_model_holds_the_letter_and_shows_both(
    model: TextModel, rules_only: Classifier
) -> None:
    rules = rules_only.rules_many(
        [make_input("Thank you so much for all your help, you were brilliant.")]
    )[1][0]
    assert rules.rule_kind == "compliment"
    c = combine(rules, _pred("complaint", 0.97), model)
    assert c.kind == "complaint"
    assert c.rule_kind == "compliment"
    held = [h for h in c.holds if h.startswith("rules disagree")]
    assert held and "complaint (0.97)" in held[0] and "says compliment" in held[0]
    assert any(r.rule == "guard.rules_disagree" for r in c.reasons)
    # Agreement, confident: no hold.
    agree = combine(rules, _pred("compliment", 0.97), model)
    assert agree.holds == []


def test_a_model_that_is_not_confident_holds_the_letter(
    model: TextModel, rules_only: Classifier
) -> None:
    rules = rules_only.rules_many([make_input("Some words about my son and his school.")])[1][0]
    low = max(0.2, model.send_threshold - 0.05)
    c = combine(rules, _pred("comment", low), model)
    assert any(h.startswith("model not confident") for h in c.holds)


def test_safeguarding_is_raised_if_the_model_or_a_rule_says_so(
    model: TextModel, rules_only: Classifier
) -> None:
    disclosure = rules_only.rules_many(
        [make_input("Her dad hit her last night and she has bruises on her arm.")]
    )[1][0]
    assert disclosure.safeguarding
    assert combine(disclosure, _pred("enquiry", 0.9, safeguarding=0.0), model).safeguarding
    plain = rules_only.rules_many([make_input("Can you explain what an EHCP is?")])[1][0]
    assert not plain.safeguarding
    assert combine(plain, _pred("enquiry", 0.9, safeguarding=0.999), model).safeguarding
    assert not combine(plain, _pred("enquiry", 0.9, safeguarding=0.0), model).safeguarding


def test_automated_stays_with_the_rules(model: TextModel, rules_only: Classifier) -> None:
    auto = rules_only.rules_many(
        [make_input("Hello", from_addr="noreply@school.example.org", automated_reason="x")]
    )[1][0]
    assert combine(auto, _pred("complaint", 0.99), model).kind == "automated"
    person = rules_only.rules_many([make_input("Could someone ring me back please?")])[1][0]
    assert combine(person, _pred("automated", 0.6), model).kind != "automated"


def test_calibration_is_monotonic(model: TextModel) -> None:
    p = np.linspace(0.001, 0.999, 200)
    for a, b in model.platt.values():
        q = apply_platt(p, a, b)
        assert np.all(np.diff(q) > 0)
    rows = np.array([[0.1, 0.2, 0.3, 0.15, 0.15, 0.1], [0.5, 0.1, 0.1, 0.1, 0.1, 0.1]])
    cal = apply_temperature(rows, model.temperature)
    assert np.array_equal(np.argsort(rows, axis=1), np.argsort(cal, axis=1))
    # Fitting: an over-confident model gets a temperature above 1; Platt keeps a > 0.
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 400)
    probs = np.full((400, 3), 0.005)
    guess = np.where(rng.random(400) < 0.7, y, (y + 1) % 3)
    probs[np.arange(400), guess] = 0.99
    assert fit_temperature(probs, y) > 1.0
    a, _ = fit_platt(rng.random(400), (rng.random(400) < 0.3).astype(int))
    assert a > 0


def _subset(src: Path, dst: Path, n: int) -> None:
    lines = src.read_text(encoding="utf-8").splitlines()
    dst.write_text("\n".join(lines[:n]) + "\n", encoding="utf-8")


def test_train_and_evaluate_commands_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _subset(DEV_JSONL, corpus / "dev.jsonl", 60)
    _subset(CORPUS_DIR / "train_a.jsonl", corpus / "train_a.jsonl", 60)
    extra = tmp_path / "corrections.jsonl"
    _subset(CORPUS_DIR / "heldout.jsonl", extra, 40)
    out = tmp_path / "model"
    code = main(
        [
            "classifier",
            "train",
            "--corpus-dir",
            str(corpus),
            "--extra-jsonl",
            str(extra),
            "--output",
            str(out),
        ]
    )
    assert code == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["records"] == 160
    assert meta["files"] == {"dev": 60, "train_a": 60, "corrections": 40}
    trained = TextModel.load(out)
    assert trained.version == meta["version"]
    capsys.readouterr()
    assert main(["classifier", "evaluate", "--jsonl", str(extra), "--model", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"model {meta['version']} + rules" in text
    assert "macro-F1" in text and "safeguarding" in text
    assert "confusion (rows: label, columns: classifier)" in text
    # Same data, same seed: the same model version.
    out2 = tmp_path / "model2"
    assert (
        main(
            [
                "classifier",
                "train",
                "--corpus-dir",
                str(corpus),
                "--extra-jsonl",
                str(extra),
                "--output",
                str(out2),
            ]
        )
        == 0
    )
    assert json.loads((out2 / "meta.json").read_text())["version"] == meta["version"]


def test_train_and_evaluate_give_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.jsonl"
    assert main(["classifier", "evaluate", "--jsonl", str(missing)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert (
        main(["classifier", "evaluate", "--jsonl", str(DEV_JSONL), "--model", str(tmp_path)]) == 2
    )
    assert "not a classifier model" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    assert (
        main(["classifier", "train", "--extra-jsonl", str(bad), "--output", str(tmp_path / "m")])
        == 2
    )
    assert "invalid JSON" in capsys.readouterr().err


def test_the_model_version_is_in_the_case_the_event_and_the_trail(
    tmp_path: Path, model: TextModel
) -> None:
    from datetime import UTC, datetime

    from bot.models import Case, Message
    from bot.pipeline.context import Source
    from tests.apphelpers import make_app

    app = make_app(
        f"sqlite:///{tmp_path / 'test.db'}",
        tmp_path,
        clock=lambda: datetime(2026, 11, 5, 12, 0, tzinfo=UTC),
    )
    mail = Path(__file__).parents[1] / "fixtures" / "mail" / "complaint_plain.eml"
    app.intake.process(mail.read_bytes(), Source("durham", "durham"))
    with app.sessions() as s:
        case = s.scalar(select(Case))
        assert case is not None
        assert case.classification["model"]["version"] == model.version
        assert case.classification["rule_ids"]
        classified = next(e for e in case.events if e.kind == "classified")
        assert classified.detail["model_version"] == model.version
        msg = s.scalar(select(Message))
        assert msg is not None
        note = next(t for t in msg.trail if t["stage"] == "classify")["note"]
        assert f"model {model.version}" in note


def test_batched_classification_is_the_same_as_one_at_a_time(model: TextModel) -> None:
    """classify_many (batches, one tokenisation shared by the rules and the model) gives each
    dev message exactly what classify gives it alone, with the model and with the rules."""
    from classifiers.scoring import read_jsonl

    inputs = [r["_input"] for r in read_jsonl(DEV_JSONL)]
    for clf in (Classifier(model=model), Classifier()):
        batched = clf.classify_many(inputs, batch_size=64)
        assert [repr(clf.classify(inp)) for inp in inputs] == [repr(c) for c in batched]
        assert [repr(c) for c in clf.classify_many(inputs, batch_size=7)] == [
            repr(c) for c in batched
        ]


def test_the_model_reads_the_rules_tokens_as_its_own(model: TextModel) -> None:
    """The kind's model scores the rules' Doc as it scores the text it tokenises itself."""
    from classifiers.model import reads_tokens
    from classifiers.scoring import read_jsonl

    assert reads_tokens(model.nlp)
    clf = Classifier(model=model)
    texts, _ = clf.rules_many([r["_input"] for r in read_jsonl(DEV_JSONL)])
    docs = [clf.nlp.make_doc(t) for t in texts]
    shared_k, shared_f = model.raw(texts, docs=docs)
    own_k, own_f = model.raw(texts)
    assert np.array_equal(shared_k, own_k) and np.array_equal(shared_f, own_f)
    one = np.vstack([model.raw([t])[0] for t in texts[:20]])
    assert np.array_equal(one, own_k[:20])  # the same in any batch


def test_in_sample_rules_raise_the_flag_but_do_not_set_the_threshold(tmp_path: Path) -> None:
    """A rule written from the corpora's records (in_sample) raises safeguarding, but the
    threshold is chosen with the rules cross-validation can judge."""
    from classifiers.rules import load_rules
    from classifiers.trainer import load_dataset

    rules = load_rules()
    written = [r for r in rules if r.in_sample]
    assert written and all(r.decision == "flag=safeguarding" for r in written)
    text = "She ran off again and the police brought her back at 3am."
    clf = Classifier()
    assert clf.classify(make_input(text)).safeguarding
    assert (
        not Classifier(rules=[r for r in rules if not r.in_sample])
        .classify(make_input(text))
        .safeguarding
    )
    data = load_dataset([DEV_JSONL], rules=clf)
    assert data.sg_out_of_sample is not None
    assert list(data.sg_out_of_sample) == [
        c.safeguarding
        for c in Classifier(rules=[r for r in rules if not r.in_sample]).rules_many(
            [r["_input"] for r in data.records]
        )[1]
    ]
