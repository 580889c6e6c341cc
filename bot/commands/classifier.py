"""``sendiass-bot classifier``: train, evaluate and feed the trained text classifier.

* ``classifier train [--output DIR] [--extra-jsonl FILE ...] [--include-corrections]
  [--seed N]``: cross-validate on
  the labelled corpora in ``tests/data/corpus`` (grouped by file) plus any extra files in the
  same format, calibrate, choose thresholds, train on everything and write the model
  (default: the one shipped in the package, ``classifiers/model``). ``--include-corrections``
  adds the coordinators' confirmations and corrections from the configured database.
* ``classifier evaluate --jsonl FILE [--model DIR | --rules-only]``: per-kind precision,
  recall and F1, the flags and a confusion matrix against the records' labels.
* ``classifier export-labels [--output FILE] [--since DATE] [--service S]``: coordinators'
  confirmations and corrections from the web UI as corpus records (JSON Lines in the format
  of ``tests/data/corpus/README.md``), the latest verdict per message. The records carry
  message text: keep the file as carefully as the database.

spaCy and scikit-learn are imported only when one of these runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import date
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
    t.add_argument(
        "--include-corrections",
        action="store_true",
        help="also train on coordinators' confirmations and corrections (from the database)",
    )
    t.add_argument("--corpus-dir", metavar="DIR", help="labelled corpora (default: the repo's)")
    t.add_argument(
        "--training-config", metavar="FILE", help="spaCy training config (default: the shipped one)"
    )
    t.add_argument("--seed", type=int, help="random seed (default: the config's)")
    t.set_defaults(func=handle_train)
    e = sub.add_parser("evaluate", help="score the classifier on a labelled JSONL file")
    e.add_argument("--jsonl", metavar="FILE", required=True)
    g = e.add_mutually_exclusive_group()
    g.add_argument("--model", metavar="DIR", help="model directory (default: the shipped one)")
    g.add_argument("--rules-only", action="store_true", help="score the rules alone")
    e.set_defaults(func=handle_evaluate)
    add_export_labels(sub)


def handle_train(args: argparse.Namespace) -> int:
    from classifiers.model import MODEL_DIR
    from classifiers.scoring import CorpusError
    from classifiers.trainer import CONFIG_PATH, TrainingError, default_paths, train_model

    paths = default_paths(Path(args.corpus_dir)) if args.corpus_dir else default_paths()
    paths = [p for p in paths if p.is_file()] if args.corpus_dir else paths
    paths += [Path(f) for f in args.extra_jsonl]
    cfg = Path(args.training_config) if args.training_config else CONFIG_PATH
    if not cfg.is_file():
        raise UserError(f"{cfg}: no such config file")
    output = Path(args.output) if args.output else MODEL_DIR
    with tempfile.TemporaryDirectory(prefix="sendiass-corrections-") as tmp:
        if args.include_corrections:
            paths.append(_corrections_file(args, Path(tmp)))
        try:
            train_model(paths, output, cfg, args.seed, log=lambda m: print(m, file=sys.stderr))
        except (CorpusError, TrainingError) as exc:
            raise UserError(str(exc)) from None
    return 0


def _corrections_file(args: argparse.Namespace, folder: Path) -> Path:
    """The coordinators' labels as one more corpus file (mode 0600: it holds message text)."""
    from bot.app import build_app
    from bot.learning import export_labels

    app = build_app(args.config)
    with app.sessions() as s:
        records = export_labels(s, since=None, services=None)
    path = folder / "corrections.jsonl"
    _write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    print(f"including {len(records)} labelled record(s) from coordinators", file=sys.stderr)
    return path


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


def add_export_labels(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ex = group.add_parser(
        "export-labels",
        help="coordinators' confirmations and corrections as corpus JSONL",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ex.add_argument("--output", metavar="FILE", help="write here (default: standard output)")
    ex.add_argument("--since", type=_date, metavar="DATE", help="only labels made on or after")
    ex.add_argument("--service", action="append", help="only this service (repeatable)")
    ex.set_defaults(func=cmd_export_labels)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def cmd_export_labels(args: argparse.Namespace) -> int:
    from bot.app import build_app
    from bot.learning import export_labels

    app = build_app(args.config)
    services = None
    if args.service:
        unknown = [s for s in args.service if s not in app.services]
        if unknown:
            raise UserError(
                f"unknown service {unknown[0]!r} (known: {', '.join(sorted(app.services))})"
            )
        services = sorted(set(args.service))
    with app.sessions() as s:
        records = export_labels(s, since=args.since, services=services)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if args.output is None:
        sys.stdout.write(text)
    else:
        _write_atomic(Path(args.output), text)
        print(f"{len(records)} labelled record(s) written to {args.output}", file=sys.stderr)
    return 0


def _write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder (mode 0600: it holds message text)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"--output: no such folder {str(folder)!r}")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"--output: cannot write {path}: {exc.strerror}") from None
