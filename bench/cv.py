"""Cross-validation of the trained classifier, grouped by corpus file (mimics new writers).

For each corpus file: train the spaCy pipeline (``classifiers/training/textcat.cfg``) on all the
other files and predict this one. Prints, per fold, the model alone (kind macro-F1, safeguarding
P/R at the threshold that keeps out-of-fold recall >= 0.98, about_coordinator F1, out_of_scope
F1), then the product's decision (model + rules, calibrated, thresholds chosen on these same
out-of-fold predictions, so slightly optimistic) per fold.

Then the figures for the whole product on those predictions: per-kind F1, each flag's
precision, recall and F1, and within-12-months accuracy (the dates read as the engine reads
them, for the kind the product gave).

Usage: ``python bench/cv.py [--config PATH] [--files dev,train_a,...] [--save oof.npz |
--load oof.npz]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from classifiers.engine import Classifier  # noqa: E402
from classifiers.quoting import split_reply  # noqa: E402
from classifiers.scoring import score  # noqa: E402
from classifiers.trainer import (  # noqa: E402
    CONFIG_PATH,
    CORPUS_DIR,
    CORPUS_FILES,
    Dataset,
    _predictions,
    calibrate_and_choose,
    combined,
    cross_validate,
    default_paths,
    load_dataset,
)
from classifiers.types import KINDS  # noqa: E402


def _prf(pred: np.ndarray, gold: np.ndarray) -> tuple[float, float, float]:
    tp, fp, fn = (pred & gold).sum(), (pred & ~gold).sum(), (~pred & gold).sum()
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return float(p), float(r), float(2 * p * r / (p + r) if p + r else 0.0)


def _macro_f1(pred: np.ndarray, gold: np.ndarray) -> float:
    f1s = [_prf(pred == k, gold == k)[2] for k in range(len(KINDS)) if (gold == k).any()]
    return float(np.mean(f1s))


def recall_threshold(p: np.ndarray, gold: np.ndarray, target: float) -> float:
    for t in sorted(set(np.round(p, 4)), reverse=True):
        if _prf(p >= t, gold)[1] >= target:
            return float(t)
    return 0.0


def fold_report(data: Dataset, kinds: np.ndarray, flags: np.ndarray, sg_t: float) -> None:
    groups = np.array(data.groups)
    gold = data.flags.astype(bool)
    print(
        f"{'fold':<10} {'n':>4} {'macroF1':>8} {'SG P':>6} {'SG R':>6} {'SG@.5 P/R':>10} "
        f"{'AC F1':>6} {'OOS F1':>6}"
    )
    rows = [(name, groups == name) for name in dict.fromkeys(data.groups)]
    rows.append(("ALL", np.ones(len(groups), dtype=bool)))
    for name, m in rows:
        mf = _macro_f1(kinds[m].argmax(axis=1), data.kinds[m])
        sp, sr, _ = _prf(flags[m, 0] >= sg_t, gold[m, 0])
        hp, hr, _ = _prf(flags[m, 0] >= 0.5, gold[m, 0])
        ac = _prf(flags[m, 1] >= 0.5, gold[m, 1])[2]
        oos = _prf(flags[m, 2] >= 0.5, gold[m, 2])[2]
        print(
            f"{name:<10} {int(m.sum()):>4} {mf:8.3f} {sp:6.3f} {sr:6.3f} {hp:4.2f}/{hr:4.2f} "
            f"{ac:6.3f} {oos:6.3f}"
        )
    print(f"(safeguarding threshold for recall >= 0.98 over all folds: {sg_t:.4f})")


def with_dates(data: Dataset, results: list) -> None:
    """Read the dates and the Stage 1 reference as the engine does, for the kind each result
    has."""
    for rec, res in zip(data.records, results, strict=True):
        inp = rec["_input"]
        split = split_reply(inp.body or "")
        if res.kind in ("complaint", "stage2_request"):
            Classifier._dates(inp, split, res)
        if res.kind == "stage2_request":
            Classifier._stage1(inp, split, res)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", type=Path, default=CONFIG_PATH)
    ap.add_argument("--save", type=Path)
    ap.add_argument("--load", type=Path, help="reuse out-of-fold predictions saved by --save")
    ap.add_argument("--files", default=",".join(CORPUS_FILES), help="corpus files (stems)")
    args = ap.parse_args(argv)
    paths = [CORPUS_DIR / f"{name}.jsonl" for name in args.files.split(",")]
    data = load_dataset(paths if args.files else default_paths())
    if args.load:
        z = np.load(args.load)
        kinds, flags = z["kinds"], z["flags"]
    else:
        kinds, flags = cross_validate(data, args.config, log=print)
    if args.save:
        np.savez(args.save, kinds=kinds, flags=flags)
    print(f"spaCy {args.config.name}: model alone, uncalibrated")
    fold_report(data, kinds, flags, recall_threshold(flags[:, 0], data.flags[:, 0] > 0, 0.98))
    meta, ck, cf = calibrate_and_choose(data, kinds, flags)
    res = combined(data, _predictions(ck, cf), meta)
    print(
        "\nProduct decision (model + rules), chosen settings:",
        {k: meta[k] for k in ("flag_thresholds", "flag_modes", "send_threshold", "temperature")},
    )
    groups = np.array(data.groups)
    print(
        f"{'fold':<10} {'macroF1':>8} {'SG P':>6} {'SG R':>6} {'AC F1':>6} {'OOS F1':>6} "
        f"{'enq->letter':>11}"
    )
    for name in [*dict.fromkeys(data.groups), "ALL"]:
        idx = [i for i, g in enumerate(groups) if name in (g, "ALL")]
        s = score([data.records[i] for i in idx], [res[i] for i in idx])
        enq = [i for i in idx if data.records[i]["label"]["kind"] == "enquiry"]
        sent = sum(
            1
            for i in enq
            if res[i].kind in ("complaint", "stage2_request", "compliment", "comment")
            and not res[i].holds
            and not res[i].needs_person
        )
        print(
            f"{name:<10} {s.macro_f1:8.3f} {s.flags['safeguarding'][0]:6.3f} "
            f"{s.flags['safeguarding'][1]:6.3f} {s.flags['about_coordinator'][2]:6.3f} "
            f"{s.flags['out_of_scope'][2]:6.3f} "
            f"{sent:>4}/{len(enq)}"
        )
    with_dates(data, res)
    s = score(data.records, res)
    print("\nWhole product, all folds (cross-validated):")
    print(s.table())
    rules = score(data.records, data.rules)
    print(
        f"\nrules alone (no dates) on all: macro-F1 {rules.macro_f1:.3f}, SG P/R "
        f"{rules.flags['safeguarding'][0]:.3f}/{rules.flags['safeguarding'][1]:.3f}, AC F1 "
        f"{rules.flags['about_coordinator'][2]:.3f}, OOS F1 {rules.flags['out_of_scope'][2]:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
