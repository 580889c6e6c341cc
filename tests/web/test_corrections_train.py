"""Corrections made in the web page change the next training run, end to end.

A coordinator, signed in to the real web server (waitress on 127.0.0.1) through the HTTP
client, corrects several messages written in a distinctive fictional wording ("the
Zindlewort rota at Quibbleham") that the classifier did not read as comments. Then
``classifier export-labels`` writes them with the corrected kind, and ``classifier train
--include-corrections`` (a small training config: few epochs, two of the corpus files, so
that it runs in seconds) writes a model that differs from the one trained the same way without
the corrections and reads a new message in that wording as a comment, where the model
without the corrections does not. It can fail: if the corrections did not reach the
training data, both models would be the same and neither would say comment.

All people, places and words are fictional.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from thinc.api import Config

from bot.cli import main
from classifiers.engine import Classifier
from classifiers.model import TextModel
from classifiers.trainer import CONFIG_PATH, CORPUS_DIR
from classifiers.types import ClassifierInput
from tests.web.conftest import COORD, Web, build_web
from tests.web.httpclient import HttpClient
from tests.web.livesrv import LiveServer

#: The wording coordinators keep correcting (made-up words the corpora never use).
NOTES = [
    "Zindlewort rota at Quibbleham again on Thursday, the marrowfen sprockets were all there.",
    "Quibbleham zindlewort notes attached, marrowfen sprockets sorted.",
    "The zindlewort sprockets at Quibbleham are done, marrowfen is next.",
    "Marrowfen sprockets for the Quibbleham zindlewort went out today.",
    "Zindlewort and marrowfen at Quibbleham: every sprocket accounted for.",
    "Another Quibbleham zindlewort morning, the marrowfen sprockets came back.",
]
PROBE = ClassifierInput(
    service="durham",
    from_name="Pip Marrow",
    subject="Quibbleham",
    body="Zindlewort marrowfen sprockets at Quibbleham this week.\n\nPip",
    from_addr="pip.marrow@example.org",
    received=datetime(2026, 11, 6, 9, 0, tzinfo=UTC),
)
CORRECTED = "comment"


@pytest.fixture
def web_db(tmp_path: Path) -> Iterator[Web]:
    w = build_web(f"sqlite:///{tmp_path / 'teach.db'}", tmp_path)
    yield w
    w.app.engine.dispose()


def _small_config(path: Path) -> Path:
    """The shipped training config with fewer epochs (the same model, trained for less)."""
    cfg = Config().from_disk(CONFIG_PATH)
    cfg["sendiass_training"]["max_epochs"] = 4
    cfg.to_disk(path)
    return path


def _kind(model_dir: Path) -> str:
    return Classifier(model=TextModel.load(model_dir)).classify(PROBE).kind


def test_corrections_in_the_web_page_change_the_next_model(web_db: Web, tmp_path: Path) -> None:
    web = web_db
    case_ids = [
        web.ingest(
            from_name=f"Pip Marrow {i}",
            from_addr=f"pip.marrow{i}@example.org",
            subject="Quibbleham",
            body=f"{text}\n\nPip",
        )
        for i, text in enumerate(NOTES)
    ]
    before = {web.case(c).kind for c in case_ids}
    assert CORRECTED not in before, before  # the classifier did not read them as comments

    with LiveServer(web.flask) as srv:
        cora = HttpClient(srv.url)
        assert cora.login(COORD).status == 303
        for case_id in case_ids:
            page = f"/cases/{case_id}"
            assert cora.get(page).status == 200
            reply = cora.post(f"{page}/classify", {"kind": CORRECTED}, csrf_from=page)
            assert reply.status == 303, reply.text[:300]
    assert all(web.case(c).kind == CORRECTED for c in case_ids)

    cfg = tmp_path / "sendiass.toml"
    cfg.write_text(
        f'[database]\nurl = "{web.app.config.database.url}"\n'
        f'[outbound]\ntransport = "maildir"\npath = "{tmp_path / "out"}"\n'
    )
    # export-labels: every correction, with the coordinator's kind.
    labels = tmp_path / "labels.jsonl"
    assert main(["--config", str(cfg), "classifier", "export-labels", "--output", str(labels)]) == 0
    records = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    zindle = [r for r in records if "zindlewort" in r["body"].lower()]
    assert len(zindle) == len(NOTES)
    assert {r["label"]["kind"] for r in zindle} == {CORRECTED}

    # The next training run, with and without the corrections (same data, config and seed).
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("dev.jsonl", "heldout3.jsonl"):  # two files: cross-validation needs two
        shutil.copy(CORPUS_DIR / name, corpus / name)
    small = _small_config(tmp_path / "small.cfg")
    common = ["classifier", "train", "--corpus-dir", str(corpus), "--training-config", str(small)]
    without, taught = tmp_path / "model-without", tmp_path / "model-taught"
    assert main(["--config", str(cfg), *common, "--output", str(without)]) == 0
    args = [*common, "--include-corrections", "--output", str(taught)]
    assert main(["--config", str(cfg), *args]) == 0

    meta_without = json.loads((without / "meta.json").read_text(encoding="utf-8"))
    meta_taught = json.loads((taught / "meta.json").read_text(encoding="utf-8"))
    assert meta_taught["records"] == meta_without["records"] + len(NOTES)
    assert meta_taught["version"] != meta_without["version"]
    assert _kind(without) != CORRECTED
    assert _kind(taught) == CORRECTED
