"""``sendiass-bot classify``: run the rule classifier on corpus JSONL or on .eml files.

* ``classify --jsonl FILE``: one JSON object per input record on stdout
  (``Classification.to_json(id)``).
* ``classify --jsonl FILE --score``: the same records on stdout, and the score table against
  the records' ``label`` (per-kind P/R/F1, macro-F1, flag scores, within_12_months accuracy,
  event_date / stage1_reference exact accuracy, automated messages in a letter-getting kind)
  on **stderr**, so stdout stays valid JSONL.
* ``classify FILE.eml ...``: a readable explanation per message.

A missing or unreadable file, or a malformed JSONL line, is a one-line error (exit 2).
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import sys
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import UserError

if TYPE_CHECKING:  # spaCy comes with the classifier: imported where used, not at start-up
    from classifiers import Classification, ClassifierInput


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "classify",
        help="classify messages (corpus JSONL or .eml files) and explain why",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="*", metavar="FILE.eml", help=".eml files to explain")
    p.add_argument("--jsonl", metavar="FILE", help="corpus-format JSON Lines file to classify")
    p.add_argument(
        "--score",
        action="store_true",
        help="with --jsonl: print scores against the records' labels to stderr",
    )
    p.add_argument(
        "--errors",
        action="store_true",
        help="with --score: also list each record whose labels differ (ids only)",
    )
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    if args.jsonl and args.files:
        raise UserError("give either --jsonl FILE or .eml files, not both")
    if args.score and not args.jsonl:
        raise UserError("--score needs --jsonl FILE")
    if args.jsonl:
        return _run_jsonl(Path(args.jsonl), args.score, args.errors)
    if not args.files:
        raise UserError("nothing to classify: give --jsonl FILE or one or more .eml files")
    return _run_eml([Path(f) for f in args.files])


def _run_jsonl(path: Path, with_score: bool, list_errors: bool) -> int:
    from classifiers import get_classifier
    from classifiers.scoring import CorpusError, read_jsonl, score

    try:
        records = read_jsonl(path)
    except CorpusError as exc:
        raise UserError(str(exc)) from None
    clf = get_classifier()
    results = clf.classify_many([r["_input"] for r in records])
    out = sys.stdout
    for rec, res in zip(records, results, strict=True):
        out.write(json.dumps(res.to_json(str(rec["id"])), ensure_ascii=False) + "\n")
    out.flush()
    if with_score:
        s = score(records, results)
        print(s.table(), file=sys.stderr)
        if list_errors:
            for line in s.errors:
                print(line, file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------- .eml


def _text_of(msg: Message) -> tuple[str, bool]:
    """Best-effort plain text of a message: text/plain parts, else text from text/html."""
    plain: list[str] = []
    html: list[str] = []
    parts = msg.walk() if msg.is_multipart() else iter([msg])
    for part in parts:
        try:
            if part.is_multipart():
                continue
            if part.get_content_disposition() == "attachment":
                continue
            ctype = part.get_content_type()
            if ctype not in ("text/plain", "text/html"):
                continue
            try:
                content = part.get_content() if isinstance(part, EmailMessage) else None
            except Exception:  # odd charsets / encodings: decode by hand below
                content = None
            if not isinstance(content, str):
                payload = part.get_payload(decode=True)
                if not isinstance(payload, bytes):
                    payload = str(part.get_payload()).encode("utf-8", "replace")
                charset = part.get_content_charset() or "utf-8"
                try:
                    content = payload.decode(charset, "replace")
                except LookupError:
                    content = payload.decode("utf-8", "replace")
            (plain if ctype == "text/plain" else html).append(content)
        except Exception:  # never let one odd part stop the message
            continue
    if any(p.strip() for p in plain):
        return "\n".join(plain).replace("\r\n", "\n"), False
    if html:
        from bot.htmltext import html_to_text

        try:
            return html_to_text("\n".join(html)), True
        except Exception:
            return "", True
    return "", False


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
        return "" if value is None else str(value)
    except Exception:
        raw = msg.get_all(name, failobj=[]) if hasattr(msg, "get_all") else []
        return str(raw[0]) if raw else ""


def eml_to_input(path: Path) -> ClassifierInput:
    """Parse one .eml file (robustly) into a :class:`ClassifierInput`."""
    from classifiers import ClassifierInput

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    headers: dict[str, str] = {}
    for key in {k.lower() for k in msg}:
        headers[key] = _header(msg, key)
    from_header = headers.get("from", "")
    try:
        addrs = getaddresses([from_header])
    except Exception:
        addrs = []
    from_name, from_addr = addrs[0] if addrs else ("", "")
    received = datetime.now(UTC)
    try:
        if headers.get("date"):
            parsed = parsedate_to_datetime(headers["date"])
            received = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except Exception:
        pass
    body, is_html = _text_of(msg)
    reason: str | None = None
    try:
        from bot.automated import automated_reason

        reason = automated_reason(headers, msg.get_content_type(), from_addr.lower())
    except Exception:
        reason = None
    return ClassifierInput(
        service="",
        received=received,
        from_name=from_name,
        from_addr=from_addr,
        subject=headers.get("subject", "").split("\n")[0],
        body=body,
        html=is_html,
        headers=headers,
        automated_reason=reason,
    )


def explain(c: Classification) -> str:
    from classifiers import LOW_CONFIDENCE

    flags = [f for f in ("safeguarding", "about_coordinator", "out_of_scope") if getattr(c, f)]
    low = c.model_version is None and c.confidence < LOW_CONFIDENCE
    lines = [
        f"  kind: {c.kind}  (confidence {c.confidence:.2f}"
        + (", LOW: send to triage" if low else "")
        + ")",
        f"  flags: {', '.join(flags) if flags else 'none'}",
    ]
    if c.model_version is not None:
        lines.append(f"  model: {c.model_version}; rules alone: {c.rule_kind}")
        lines += [f"  held: {h}" for h in c.holds]
    if c.event_date:
        lines.append(f"  event date: {c.event_date} (within 12 months: {c.within_12_months})")
    if c.stage1_reference or c.stage1_response_date:
        lines.append(
            f"  stage 1: reference {c.stage1_reference or '-'}, "
            f"response dated {c.stage1_response_date or '-'}"
        )
    lines.append("  why:")
    for r in c.reasons:
        span = f' "{r.text[:60]}"' if r.text else ""
        lines.append(f"    - {r.rule} -> {r.decision} [{r.source}]{span}")
    return "\n".join(lines)


def _run_eml(paths: list[Path]) -> int:
    for p in paths:
        if not p.is_file():
            raise UserError(f"{p}: no such file")
    from classifiers import get_classifier

    clf = get_classifier()
    for p in paths:
        inp = eml_to_input(p)
        c = clf.classify(inp)
        print(f"{p}:")
        print(explain(c))
    return 0
