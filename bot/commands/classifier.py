"""``sendiass-bot classifier``: train and evaluate the trained text classifier.

* ``classifier train [--output DIR] [--extra-jsonl FILE ...] [--seed N]``: cross-validate on
  the labelled corpora in ``tests/data/corpus`` (grouped by file) plus any extra files in the
  same format, calibrate, choose thresholds, train on everything and write the model
  (default: the one shipped in the package, ``classifiers/model``).
* ``classifier evaluate --jsonl FILE [--model DIR | --rules-only]``: per-kind precision,
  recall and F1, the flags and a confusion matrix against the records' labels.

spaCy and scikit-learn are imported only when one of these runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.errors import UserError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "classifier",
        help="train or evaluate the trained text classifier",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="classifier_command", metavar="ACTION")
    sub.required = True
    t = sub.add_parser("train", help="train the model on the labelled corpora")
    t.add_argument("--output", metavar="DIR", help="where to write the model")
    t.add_argument(
        "--extra-jsonl",
        metavar="FILE",
        action="append",
        default=[],
        help="more labelled records in the corpus format (repeatable)",
    )
    t.add_argument("--corpus-dir", metavar="DIR", help="labelled corpora (default: the repo's)")
    t.add_argument("--config", metavar="FILE", help="spaCy training config")
    t.add_argument("--seed", type=int, help="random seed (default: the config's)")
    t.set_defaults(func=handle_train)
    e = sub.add_parser("evaluate", help="score the classifier on a labelled JSONL file")
    e.add_argument("--jsonl", metavar="FILE", required=True)
    g = e.add_mutually_exclusive_group()
    g.add_argument("--model", metavar="DIR", help="model directory (default: the shipped one)")
    g.add_argument("--rules-only", action="store_true", help="score the rules alone")
    e.set_defaults(func=handle_evaluate)


def handle_train(args: argparse.Namespace) -> int:
    from classifiers.model import MODEL_DIR
    from classifiers.scoring import CorpusError
    from classifiers.trainer import CONFIG_PATH, TrainingError, default_paths, train_model

    paths = default_paths(Path(args.corpus_dir)) if args.corpus_dir else default_paths()
    paths = [p for p in paths if p.is_file()] if args.corpus_dir else paths
    paths += [Path(f) for f in args.extra_jsonl]
    cfg = Path(args.config) if args.config else CONFIG_PATH
    if not cfg.is_file():
        raise UserError(f"{cfg}: no such config file")
    output = Path(args.output) if args.output else MODEL_DIR
    try:
        train_model(paths, output, cfg, args.seed, log=lambda m: print(m, file=sys.stderr))
    except (CorpusError, TrainingError) as exc:
        raise UserError(str(exc)) from None
    return 0


def handle_evaluate(args: argparse.Namespace) -> int:
    from classifiers import Classifier
    from classifiers.model import MODEL_DIR, ModelError, TextModel
    from classifiers.scoring import CorpusError, confusion_table, read_jsonl, score

    try:
        records = read_jsonl(Path(args.jsonl))
    except CorpusError as exc:
        raise UserError(str(exc)) from None
    records = [r for r in records if isinstance(r.get("label"), dict)]
    if not records:
        raise UserError(f"{args.jsonl}: no labelled records")
    model = None
    if not args.rules_only:
        try:
            model = TextModel.load(Path(args.model) if args.model else MODEL_DIR)
        except ModelError as exc:
            raise UserError(str(exc)) from None
    clf = Classifier(model=model)
    results = clf.classify_many([r["_input"] for r in records])
    s = score(records, results)
    who = f"model {model.version} + rules" if model else "rules alone"
    print(f"classifier: {who}")
    print(s.table())
    print()
    print(confusion_table(records, results))
    return 0
