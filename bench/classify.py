"""Benchmark the classifier: emails/second on one core and peak memory.

Usage: ``taskset -c 0 python bench/classify.py [--n 10000] [--jsonl PATH] [--model DIR |
--rules-only]``. Repeats the dev corpus up to ``--n`` messages, classifies them (with the
shipped model, or the rules alone) with ``Classifier.classify_many`` (batches of
``--batch-size``: each message tokenised once, the rules and the model reading the same
tokens), and prints throughput per second of CPU time (the process's own, so other work on a
shared machine does not count) and of wall-clock time, start-up time and peak memory
(tracemalloc for Python allocations during the run, plus the process's max RSS from
``resource``). ``taskset -c 0`` keeps it on one core.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from classifiers.engine import Classifier  # noqa: E402
from classifiers.model import MODEL_DIR, TextModel  # noqa: E402
from classifiers.scoring import read_jsonl  # noqa: E402

DEFAULT = REPO / "tests" / "data" / "corpus" / "dev.jsonl"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--jsonl", type=Path, default=DEFAULT)
    ap.add_argument("--batch-size", type=int, default=256)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--rules-only", action="store_true", help="without the trained model")
    g.add_argument("--model", type=Path, default=MODEL_DIR, help="model directory")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    clf = Classifier(model=None if args.rules_only else TextModel.load(args.model))
    startup = time.perf_counter() - t0
    records = read_jsonl(args.jsonl)
    inputs = [r["_input"] for r in records]
    msgs = (inputs * (args.n // len(inputs) + 1))[: args.n]

    clf.classify_many(inputs[:50])  # warm up
    t1, c1 = time.perf_counter(), time.process_time()
    results = clf.classify_many(msgs, batch_size=args.batch_size)
    elapsed, cpu = time.perf_counter() - t1, time.process_time() - c1

    c2 = time.process_time()
    for inp in msgs[:2000]:
        clf.classify(inp)
    single = 2000 / (time.process_time() - c2)

    # Memory: a separate, shorter pass (tracemalloc slows Python code several times over).
    tracemalloc.start()
    clf.classify_many(msgs[:1000], batch_size=args.batch_size)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    who = "rules alone" if clf.model is None else f"model {clf.model.version} + rules"
    print(f"{who}; rules loaded: {len(clf.rules)}; start-up {startup:.2f}s")
    print(
        f"messages: {len(results)} in {cpu:.2f} CPU-s -> {len(results) / cpu:,.0f} emails/CPU-s "
        f"(wall {elapsed:.2f}s: {len(results) / elapsed:,.0f}/s; classify_many, batch "
        f"{args.batch_size})"
    )
    print(f"one at a time (classify): {single:,.0f} emails/CPU-s")
    print(f"peak traced Python allocations classifying 1,000 messages: {peak / 1e6:.1f} MB")
    print(f"process max RSS: {rss_kb / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
