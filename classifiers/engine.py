"""The rule classifier: spaCy blank English tokenizer + PhraseMatcher/Matcher over rules-as-data.

Reading order for one message:

1. ``split_reply`` separates what the person wrote now from quoted mail, forwarded text and the
   signature. Rules read the new text (plus forwarded text, which is often what a "Fwd:" note
   is about) and the subject; quoted text is used only for threading facts (Stage 1 reference,
   date of the Stage 1 response).
2. Every rule hit is a :class:`Reason` (rule id, decision, matched span). Negatable rules are
   cancelled by a preceding "not / never / don't ..." in the same sentence, unless the sentence
   goes on with "but ..." (hedging: "I don't want to make a formal complaint but ...").
3. Scores per decision are combined into a kind, flags and a confidence.
"""

from __future__ import annotations

import gc
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import spacy
from spacy.attrs import IDX, LENGTH, LOWER
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc

from classifiers.dates import local_date, read_dates, within_12_months
from classifiers.lemmas import expand_lemmas
from classifiers.model import Prediction, TextModel
from classifiers.quoting import SplitText, split_reply
from classifiers.rules import Rule, load_rules
from classifiers.types import LOW_CONFIDENCE, Classification, ClassifierInput, Kind, Reason

__all__ = [
    "LETTER_KINDS",
    "LOW_CONFIDENCE",
    "Classifier",
    "Hit",
    "needs_triage",
]

#: Kinds that get an automatic letter (an automated message must never land in one).
LETTER_KINDS: frozenset[str] = frozenset({"complaint", "stage2_request", "compliment", "comment"})

# Case references however typed: IASS-2025-0027, IASS/2025/0027, iass 2025 0061, IASS_2025.0027,
# IASS - 2025 - 0027, IASS20250027; normalised to IASS-2025-0027.
_REF_RE = re.compile(
    r"\b(IASS|DUR|STA|COV|STO)[ \t]*[-/._:#]?[ \t]*(\d{4})[ \t]*[-/._]?[ \t]*(\d{3,5})\b",
    re.IGNORECASE,
)
# Other shapes services use ("STK/25/004", "SOT-IASS-26-003", "ref 2025-0077"), read only
# after a label (ref, reference, case number ...) and kept as written.
_LABELLED_REF_RE = re.compile(
    r"\b(?:ref(?:erence)?|case|complaint)(?:\s*(?:no|number|num))?\.?\s*(?:is\s+)?[:#]?\s*"
    r"(?P<ref>(?:(?-i:[A-Z]{2,6})[-/ ]){0,2}\d{2,4}[-/]\d{1,5}"
    r"|(?-i:[A-Z]{2,6})[-/][A-Z0-9]{1,6}[-/]\d{1,5})\b",
    re.IGNORECASE,
)


def normalise_reference(text: str) -> str:
    """IASS/2025/0027, iass 2025 0027, IASS_2025.0027 -> IASS-2025-0027; other shapes as
    written (trimmed)."""
    m = _REF_RE.fullmatch(text.strip())
    if m:
        return f"{m.group(1).upper()}-{m.group(2)}-{m.group(3)}"
    return text.strip()


_NEGATORS = frozenset({"not", "n't", "never", "no", "nt", "without", "nothing", "dont", "didnt"})
_HEDGES = frozenset({"but", "however", "though", "although", "yet"})
_SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|fw|fwd|aw|sv|vs)\s*(?:\[\d+\])?\s*:\s*)+", re.I)
_DIMINISHING = (1.0, 0.6, 0.4, 0.3)
_SENT_END = re.compile(r"[.!?]+[\"')\]]*(?=\s)|\n[ \t]*\n")


@dataclass(frozen=True)
class Hit:
    rule: Rule
    start: int  # char offsets in the analysed doc
    end: int
    text: str
    sent: int  # sentence index in the analysed doc
    tok_start: int
    tok_end: int
    hedged: bool = False


def needs_triage(c: Classification, threshold: float = LOW_CONFIDENCE) -> bool:
    """Low confidence or a flag that needs a person: send to the coordinator's triage queue."""
    return c.confidence < threshold or c.needs_person


def _norm(text: str) -> str:
    # Same length so offsets stay valid: curly quotes to straight.
    return (
        text.replace("\u2019", "'")
        .replace("\u2018", "'")
        .replace("\u201c", '"')
        .replace("\u201d", '"')
    )


class Classifier:
    """Load once (rules, spaCy blank pipeline), then call :meth:`classify` many times."""

    def __init__(
        self,
        rules: Sequence[Rule] | None = None,
        pattern_files: Sequence[Path] | None = None,
        model: TextModel | None = None,
    ):
        #: The trained model that decides the kind and flags; None: the rules alone decide.
        self.model = model
        self.rules: list[Rule] = list(rules) if rules is not None else load_rules(pattern_files)
        self.by_id: dict[str, Rule] = {r.id: r for r in self.rules}
        self.nlp: Language = spacy.blank("en")
        self._tokenizer: Tokenizer = self.nlp.tokenizer
        self.phrase_matcher = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        self.matcher = Matcher(self.nlp.vocab)
        self.sender_rules = [r for r in self.rules if r.source == "sender"]
        self.subject_rules = [r for r in self.rules if r.source == "subject"]
        #: Token patterns as given to the Matcher (LEMMA rewritten as the lemma's forms).
        self._patterns: dict[str, list[list[dict[str, Any]]]] = {}
        for rule in self.rules:
            if rule.phrases:
                self.phrase_matcher.add(
                    rule.id, [self.nlp.make_doc(_norm(p)) for p in rule.phrases]
                )
            if rule.pattern:
                self._patterns[rule.id] = [
                    expand_lemmas(p) if any("LEMMA" in t for t in p) else [dict(t) for t in p]
                    for p in rule.pattern
                ]
                self.matcher.add(rule.id, self._patterns[rule.id])
        self._needs = self._matcher_needs()
        self._anchors, self._longest = self._matcher_anchors()
        strings = self.nlp.vocab.strings
        self._negator_ids = frozenset(strings.add(w) for w in _NEGATORS)
        self._hedge_ids = frozenset(strings.add(w) for w in _HEDGES)

    def _matcher_needs(self) -> list[list[frozenset[int]]] | None:
        """For each token pattern, the word sets it needs (one per mandatory LOWER-constrained
        token), as hashes. A doc that lacks a word from some set of every pattern cannot match:
        skip the Matcher. None when a pattern needs no particular word (always run it)."""
        strings = self.nlp.vocab.strings
        needs: list[list[frozenset[int]]] = []
        for rule in self.rules:
            for pat in self._patterns.get(rule.id, []):
                sets: list[frozenset[int]] = []
                for tok in pat:
                    if tok.get("OP") in ("?", "*"):
                        continue
                    lower = tok.get("LOWER")
                    words = (
                        [lower]
                        if isinstance(lower, str)
                        else [str(x) for x in lower["IN"]]
                        if isinstance(lower, dict) and isinstance(lower.get("IN"), list)
                        else None
                    )
                    if words:
                        sets.append(frozenset(strings.add(w.lower()) for w in words))
                if not sets:
                    return None
                needs.append(sets)
        return needs

    def _matcher_anchors(self) -> tuple[list[frozenset[int]] | None, int]:
        """Per token pattern (as in ``_needs``), words one of which every match contains: its
        mandatory word set with the longest shortest word (the least common, usually), as
        hashes; and the longest pattern in tokens. None when a pattern needs no word."""
        if self._needs is None:
            return None, 0
        strings = self.nlp.vocab.strings
        anchors = [
            max(sets, key=lambda ws: (min(len(strings[h]) for h in ws), -len(ws)))
            for sets in self._needs
        ]
        longest = max(len(p) for pats in self._patterns.values() for p in pats)
        return anchors, longest

    def _token_matches(self, doc: Doc, lower: np.ndarray) -> list[tuple[int, int, int]]:
        """The Matcher's matches. A pattern can match only where the doc has a word of each of
        its mandatory word sets; the Matcher then runs only on the stretches of the doc around
        those patterns' anchor words (a match is never longer than the longest pattern and
        always contains an anchor, so it lies within one stretch): the same matches, faster."""
        if self._needs is None or self._anchors is None:
            return list(self.matcher(doc))
        tokens = lower.tolist()
        words = set(tokens)
        live = [
            anchor
            for sets, anchor in zip(self._needs, self._anchors, strict=True)
            if all(not ws.isdisjoint(words) for ws in sets)
        ]
        if not live:
            return []
        reach = self._longest
        n = len(doc)
        out: list[tuple[int, int, int]] = []
        start = end = -1
        anchor = live[0] if len(live) == 1 else frozenset().union(*live)
        for a in [i for i, w in enumerate(tokens) if w in anchor]:
            ws, we = max(0, a - reach + 1), min(n, a + reach)
            if start >= 0 and ws <= end:
                end = max(end, we)
                continue
            if start >= 0:
                out += [(m, start + s, start + e) for m, s, e in self.matcher(doc[start:end])]
            start, end = ws, we
        if start >= 0:
            out += [(m, start + s, start + e) for m, s, e in self.matcher(doc[start:end])]
        return out

    def _matcher_may_match(self, lower: np.ndarray) -> bool:
        """Whether some token pattern has a word of each of its mandatory word sets here."""
        if self._needs is None:
            return True
        words = set(lower.tolist())
        return any(all(not ws.isdisjoint(words) for ws in sets) for sets in self._needs)

    # ------------------------------------------------------------------ matching
    def _doc_hits(self, doc: Doc, text: str | None = None) -> list[Hit]:
        # Sentence ids per token from a cheap regex over the text (no sentencizer pass):
        # a sentence ends after . ! ? followed by space, or at a blank line.
        # ``text`` is the string the doc was made from (``doc.text`` rebuilds it token by
        # token, which costs more than the matching itself).
        if text is None:
            text = doc.text
        ends = np.array([m.end() for m in _SENT_END.finditer(text)], dtype="int64")
        cols = doc.to_array([IDX, LENGTH, LOWER])
        idx = cols[:, 0].astype("int64")
        length = cols[:, 1].astype("int64")
        lower = cols[:, 2]
        sent_of = np.searchsorted(ends, idx, side="right")
        raw: list[tuple[int, int, int]] = list(self.phrase_matcher(doc))
        raw.extend(self._token_matches(doc, lower))
        hits: list[Hit] = []
        last_end: dict[str, int] = {}
        strings = self.nlp.vocab.strings
        for match_id, start, end in sorted(raw, key=lambda x: (x[1], -x[2])):
            rid = strings[match_id]
            rule = self.by_id[rid]
            # Sorted by start, longest first: drop a hit of the same rule inside an earlier one.
            if end <= last_end.get(rid, -1):
                continue
            last_end[rid] = end
            sidx = int(sent_of[start])
            hedged = False
            if rule.negatable:
                s0 = int(np.searchsorted(sent_of, sidx, side="left"))
                s1 = int(np.searchsorted(sent_of, sidx, side="right"))
                before = lower[max(s0, start - 5) : start].tolist()
                if any(w in self._negator_ids for w in before):
                    after_end = min(len(doc), max(end + 14, s1))
                    after = set(lower[end:after_end].tolist())
                    if after & self._hedge_ids:
                        hedged = True
                    else:
                        continue
            start_char = int(idx[start])
            end_char = int(idx[end - 1] + length[end - 1])
            hits.append(
                Hit(rule, start_char, end_char, text[start_char:end_char], sidx, start, end, hedged)
            )
        return hits

    def rule_fires(self, rule_id: str, text: str) -> bool:
        """Whether rule ``rule_id`` fires on ``text`` (used by the per-pattern example tests)."""
        rule = self.by_id[rule_id]
        if rule.regex is not None:
            return bool(rule.regex.search(text))
        doc = self.nlp.make_doc(_norm(text))
        return any(h.rule.id == rule_id for h in self._doc_hits(doc))

    # ------------------------------------------------------------------ public API
    def classify(self, inp: ClassifierInput) -> Classification:
        return self.classify_many([inp])[0]

    def classify_many(
        self, inputs: Iterable[ClassifierInput], batch_size: int = 256
    ) -> list[Classification]:
        """Classify many messages, ``batch_size`` at a time (so memory stays flat). Each
        message is tokenised once; the rules and the model read the same tokens. The result
        for a message is the same as :meth:`classify` gives it alone."""
        out: list[Classification] = []
        batch: list[ClassifierInput] = []
        for inp in inputs:
            batch.append(inp)
            if len(batch) >= max(batch_size, 1):
                out.extend(self._classify_batch(batch))
                batch = []
        if batch:
            out.extend(self._classify_batch(batch))
        return out

    def _classify_batch(self, items: Sequence[ClassifierInput]) -> list[Classification]:
        # The cyclic garbage collector waits until the batch is done: a batch makes many
        # short-lived objects (freed by reference counting) and a collection pass in the
        # middle of it, over every object of the loaded model, costs about 5% for nothing.
        paused = gc.isenabled()
        if paused:
            gc.disable()
        try:
            return self._classify_batch_now(items)
        finally:
            if paused:
                gc.enable()

    def _classify_batch_now(self, items: Sequence[ClassifierInput]) -> list[Classification]:
        prepared = [self._prepare(inp) for inp in items]
        texts = [p[1] for p in prepared]
        tokenize = self._tokenizer
        docs = [tokenize(t) for t in texts]
        out = [
            self._decide(inp, split, text, subj, body_off, doc)
            for (split, text, subj, body_off), doc, inp in zip(prepared, docs, items, strict=True)
        ]
        if self.model is not None:
            preds = self.model.predict(texts, batch_size=len(texts), docs=docs)
            out = [combine(r, p, self.model) for r, p in zip(out, preds, strict=True)]
        for result, (split, *_), inp in zip(out, prepared, items, strict=True):
            if result.kind in ("complaint", "stage2_request"):
                self._dates(inp, split, result)
            if result.kind == "stage2_request":
                self._stage1(inp, split, result)
        return out

    def rules_many(
        self, inputs: Iterable[ClassifierInput], batch_size: int = 64
    ) -> tuple[list[str], list[Classification]]:
        """The rules' opinion alone (no dates), with the texts the model reads; for training."""
        items = list(inputs)
        prepared = [self._prepare(inp) for inp in items]
        texts = [p[1] for p in prepared]
        tokenize = self._tokenizer
        out = [
            self._decide(inp, split, text, subj, body_off, tokenize(text))
            for (split, text, subj, body_off), inp in zip(prepared, items, strict=True)
        ]
        return texts, out

    # ------------------------------------------------------------------ internals
    def _prepare(self, inp: ClassifierInput) -> tuple[SplitText, str, str, int]:
        split = split_reply(inp.body or "")
        subject = _SUBJECT_PREFIX.sub("", inp.subject or "").strip()
        body = split.new
        if split.forwarded:
            body = f"{body}\n\n{split.forwarded}" if body else split.forwarded
        head = f"{subject} .\n\n" if subject else ""
        return split, _norm(head + body), subject, len(head)

    def _decide(
        self,
        inp: ClassifierInput,
        split: SplitText,
        text: str,
        subject: str,
        body_off: int,
        doc: Doc,
    ) -> Classification:
        reasons: list[Reason] = []
        new_len = len(split.new)

        def src_of(start: int) -> tuple[str, int]:
            if start < body_off:
                return "subject", 0
            rel = start - body_off
            if rel < new_len:
                return "body", body_off
            return "forwarded", body_off + new_len + 2

        # ---- header / sender / subject regex rules (automated)
        scores: dict[str, float] = defaultdict(float)
        fired: dict[str, list[Hit]] = defaultdict(list)
        if inp.automated_reason:
            reasons.append(
                Reason(
                    "automated.headers", "kind=automated", inp.automated_reason, -1, -1, "headers"
                )
            )
            scores["kind=automated"] += 5.0
        for rule in self.sender_rules:
            m = rule.regex.search(inp.from_addr or "") if rule.regex else None
            if m:
                scores[rule.decision] += rule.weight
                reasons.append(
                    Reason(rule.id, rule.decision, m.group(0), m.start(), m.end(), "sender")
                )
        for rule in self.subject_rules:
            m = rule.regex.search(inp.subject or "") if rule.regex else None
            if m:
                scores[rule.decision] += rule.weight
                reasons.append(
                    Reason(rule.id, rule.decision, m.group(0), m.start(), m.end(), "subject")
                )

        hits = self._doc_hits(doc, text)
        body_hits: list[Hit] = []
        distinct: dict[tuple[str, bool], set[str]] = defaultdict(set)
        target_hits: list[tuple[Hit, str, int]] = []
        # "How do I complain about the school?": the complaint words belong to the question
        # about the process. A statement elsewhere ("I want to complain about CAMHS.") stands.
        process_sents = {h.sent for h in hits if h.rule.decision == "enquiry.process"}
        # Generic dissatisfaction ("frustrated", "nobody told me") is about this service only in
        # mail that mentions it, and not in a sentence that names another organisation instead.
        iass_sents = {h.sent for h in hits if h.rule.decision == "target.iass"}
        other_sents = {h.sent for h in hits if h.rule.decision == "target.other_org"}
        for h in hits:
            source, base = src_of(h.start)
            factor = 0.5 if source == "subject" else (0.7 if source == "forwarded" else 1.0)
            if h.hedged:
                factor *= 0.7
            # Distinct cues of one rule add up with diminishing returns; repeats add nothing.
            key = (h.rule.id, source == "subject")
            cue = h.text.lower()
            seen_cues = distinct[key]
            if cue in seen_cues:
                bonus = 0.0
            else:
                bonus = _DIMINISHING[min(len(seen_cues), len(_DIMINISHING) - 1)]
                seen_cues.add(cue)
            decision_key = h.rule.decision
            if decision_key == "complaint.intent" and h.sent in process_sents:
                decision_key = "complaint.intent_in_process"
            elif decision_key == "complaint.grievance_iass" and not _near_service(
                h.sent, iass_sents, other_sents
            ):
                decision_key = "complaint.grievance_elsewhere"
            scores[decision_key] += h.rule.weight * factor * bonus
            fired[h.rule.id].append(h)
            if source != "subject":
                body_hits.append(h)
            if h.rule.decision.startswith("target."):
                target_hits.append((h, source, base))
                continue
            decision = h.rule.decision + (" (hedged)" if h.hedged else "")
            reasons.append(
                Reason(h.rule.id, decision, h.text, h.start - base, h.end - base, source)
            )

        kind, confidence, why = self._kind(scores, body_hits, doc)
        reasons.append(Reason("decision.kind", f"kind={kind}", why, -1, -1, "rules"))
        result = Classification(kind=kind, confidence=confidence, reasons=reasons)

        if kind != "automated":
            sg = scores["flag=safeguarding"]
            result.safeguarding = sg >= 1.0
        if kind in ("complaint", "stage2_request"):
            result.about_coordinator = self._about_coordinator(scores, body_hits)
        if kind == "complaint":
            result.out_of_scope = self._out_of_scope(scores, body_hits, doc)
            # Who the complaint is about: shown only for complaints, where it matters.
            for h, source, base in target_hits:
                reasons.append(
                    Reason(h.rule.id, h.rule.decision, h.text, h.start - base, h.end - base, source)
                )
            if result.out_of_scope:
                reasons.append(
                    Reason(
                        "decision.out_of_scope",
                        "flag=out_of_scope",
                        "complaint is about another organisation",
                        -1,
                        -1,
                        "rules",
                    )
                )
        if result.about_coordinator:
            reasons.append(
                Reason(
                    "decision.about_coordinator",
                    "flag=about_coordinator",
                    "complaint names the coordinator/manager as its subject",
                    -1,
                    -1,
                    "rules",
                )
            )
        result.rule_kind = kind
        return result

    # ------------------------------------------------------------------ kind
    def _kind(self, s: dict[str, float], hits: list[Hit], doc: Doc) -> tuple[Kind, float, str]:
        auto = s["kind=automated"]
        if auto >= 1.0:
            return "automated", round(min(0.99, 0.6 + 0.2 * auto), 3), f"automated score {auto:.2f}"

        process = s["enquiry.process"]
        intent = s["complaint.intent"]
        grievance = s["complaint.grievance"]
        # Generic dissatisfaction near a mention of this service (see _near_service).
        grievance += s["complaint.grievance_iass"]
        wanted = s["complaint.response_wanted"]
        soften = s["complaint.soften"]
        prior = s["stage2.prior"]
        escalate = s["stage2.escalate"]
        complaint = grievance + intent + (wanted if (grievance or intent) else 0.0) - soften
        if process and grievance < 1.0 and intent < 1.0:
            complaint -= 0.5 * process
        stage2 = min(prior, 1.5) + min(escalate, 2.0) if prior and escalate else 0.0
        if process and stage2:
            stage2 -= process

        if stage2 >= 1.6 and grievance + prior + escalate - soften > 1.5:
            margin = stage2 - 1.6
            return "stage2_request", _conf(margin, 1.0), f"stage2 score {stage2:.2f}"
        praise = s["kind=compliment"]
        comment = s["kind=comment"]
        enquiry = s["kind=enquiry"] + 0.4 + 0.5 * process
        if complaint >= 1.0:
            rival = max(praise - 0.5, comment, enquiry - 0.3)
            return (
                "complaint",
                _conf(complaint - max(rival, 1.0) + 0.3, 1.0),
                (
                    f"complaint score {complaint:.2f} "
                    f"(grievance {grievance:.2f}, intent {intent:.2f})"
                ),
            )
        cands: list[tuple[float, Kind]] = [
            (praise, "compliment"),
            (comment, "comment"),
            (enquiry, "enquiry"),
        ]
        cands.sort(reverse=True)
        (top, kind), (second, _) = cands[0], cands[1]
        # Near-misses on complaint lower confidence in whatever we chose.
        rival = max(second, complaint)
        return kind, _conf(top - rival, top), f"{kind} score {top:.2f} vs {rival:.2f}"

    # ------------------------------------------------------------------ flags
    @staticmethod
    def _about_coordinator(s: dict[str, float], hits: list[Hit]) -> bool:
        score = s["coordinator.self_review"]
        role_sents = {h.sent for h in hits if h.rule.decision == "coordinator.role"}
        if role_sents:
            score += 0.5
            cue_sents = {
                h.sent
                for h in hits
                if h.rule.decision
                in ("complaint.grievance", "complaint.grievance_iass", "complaint.intent")
            }
            if role_sents & cue_sents:
                score += 0.5
        return score >= 1.0

    @staticmethod
    def _out_of_scope(s: dict[str, float], hits: list[Hit], doc: Doc) -> bool:
        intents = [h for h in hits if h.rule.decision == "complaint.intent" and not h.hedged]
        targets = [h for h in hits if h.rule.decision in ("target.iass", "target.other_org")]
        explicit_other = explicit_iass = 0
        for ih in intents:
            following = [
                t
                for t in targets
                if t.tok_start >= ih.tok_end
                and t.tok_start - ih.tok_end <= 12
                and t.sent == ih.sent
            ]
            if following:
                first = min(following, key=lambda t: t.tok_start)
                if first.rule.decision == "target.iass":
                    explicit_iass += 1
                else:
                    explicit_other += 1
        if explicit_other and not explicit_iass:
            return True
        if explicit_iass:
            return False
        if not intents:
            return False
        iass = sum(1 for t in targets if t.rule.decision == "target.iass")
        other = sum(1 for t in targets if t.rule.decision == "target.other_org")
        return iass == 0 and other > 0

    # ------------------------------------------------------------------ dates
    @staticmethod
    def _dates(inp: ClassifierInput, split: SplitText, result: Classification) -> None:
        """The event date, the 12-month check and the Stage 1 letter's date
        (:func:`classifiers.dates.read_dates`)."""
        facts = read_dates(
            result.kind,
            inp.received,
            split.new,
            subject=_SUBJECT_PREFIX.sub("", inp.subject or "").strip(),
            quoted=split.quoted,
            forwarded=split.forwarded,
        )
        if result.kind == "stage2_request" and facts.stage1_response is not None:
            result.stage1_response_date = facts.stage1_response_date
            if result.stage1_response_date:
                m, src = facts.stage1_response.mention, facts.stage1_response.source
                result.reasons.append(
                    Reason(m.rule, "stage1_response_date", m.text, m.start, m.end, src)
                )
        if facts.event is None:
            return
        best, src = facts.event.mention, facts.event.source
        result.event_date = best.iso
        result.within_12_months = within_12_months(best.iso, local_date(inp.received))
        result.reasons.append(Reason(best.rule, "event_date", best.text, best.start, best.end, src))

    @staticmethod
    def _stage1(inp: ClassifierInput, split: SplitText, result: Classification) -> None:
        for source, hay in (
            ("body", split.new),
            ("subject", inp.subject or ""),
            ("forwarded", split.forwarded),
            ("quoted", split.quoted),
        ):
            m = _REF_RE.search(hay)
            if m:
                ref, span = normalise_reference(m.group(0)), (m.start(), m.end(), m.group(0))
            else:
                lm = _LABELLED_REF_RE.search(hay)
                if lm is None:
                    continue
                ref = lm.group("ref")
                span = (lm.start("ref"), lm.end("ref"), ref)
            result.stage1_reference = ref
            result.reasons.append(
                Reason(
                    "extract.stage1_reference",
                    "stage1_reference",
                    span[2],
                    span[0],
                    span[1],
                    source,
                )
            )
            break


def _near_service(sent: int, iass_sents: set[int], other_sents: set[int]) -> bool:
    """Generic dissatisfaction counts against this service when the mail mentions the service
    and the sentence does not name only another organisation ("the school keep deciding
    without asking me"). A whole-mail scope, because people go on with "she" and "they"."""
    if sent in other_sents and sent not in iass_sents:
        return False
    return bool(iass_sents)


def _conf(margin: float, scale: float) -> float:
    """Map a score margin to 0.5..0.99."""
    value = 0.5 + 0.49 * math.tanh(max(margin, 0.0) / max(scale, 0.5) * 1.2)
    return round(min(0.99, max(0.3, value)), 3)


# ---------------------------------------------------------------------- model + rules
#: Rule decisions that are evidence for each kind (a rule kind with none of these behind it is
#: only the rules' default, not an opinion that can contradict the model).
_KIND_EVIDENCE: dict[str, tuple[str, ...]] = {
    "complaint": ("complaint.grievance", "complaint.intent"),
    "stage2_request": ("stage2.",),
    "compliment": ("kind=compliment",),
    "comment": ("kind=comment",),
    "enquiry": ("kind=enquiry", "enquiry.process"),
    "automated": ("kind=automated",),
}
#: Flags that only mean something for these kinds.
_FLAG_KINDS: dict[str, frozenset[str]] = {
    "about_coordinator": frozenset({"complaint", "stage2_request"}),
    "out_of_scope": frozenset({"complaint"}),
}


def rule_evidence(rules: Classification, kind: str) -> list[Reason]:
    """The rule hits behind the rules' ``kind`` (empty when the rules only defaulted)."""
    prefixes = _KIND_EVIDENCE.get(kind, ())
    return [
        r
        for r in rules.reasons
        if r.decision.startswith(prefixes) and not r.rule.startswith("decision.")
    ]


def combine(rules: Classification, pred: Prediction, model: TextModel) -> Classification:
    """The model decides the kind and flags; the rules explain and guard.

    * Automated: the rules stay authoritative (headers, senders, bulk-mail wording); the model
      alone calls a message automated only at ``automated_threshold`` or above.
    * Safeguarding: raised if the model OR a rule says so.
    * About the coordinator / out of scope: as ``flag_modes`` in the model's meta says
      ("model", "rules", "or", "and"), chosen on cross-validation; a complaint about the
      coordinator is never out of scope.
    * A letter is held when the model is not confident (below ``send_threshold``) or when a
      rule contradicts the model's kind (both opinions are shown).
    """
    meta = model.meta
    rule_kind = rules.kind
    ranked = sorted(pred.kinds.items(), key=lambda kv: kv[1], reverse=True)
    kind: Kind = ranked[0][0]  # type: ignore[assignment]
    if rule_kind == "automated":
        kind = "automated"
    elif kind == "automated" and ranked[0][1] < float(meta.get("automated_threshold", 0.9)):
        kind = ranked[1][0]  # type: ignore[assignment]
    if kind == "automated" and rule_kind == "automated":
        confidence = max(rules.confidence, pred.kinds.get("automated", 0.0))
    else:
        confidence = pred.kinds[kind]
    reasons = list(rules.reasons)
    reasons.append(
        Reason("model.kind", f"kind={kind}", f"model probability {confidence:.2f}", -1, -1, "model")
    )
    result = Classification(
        kind=kind,
        confidence=round(confidence, 3),
        reasons=reasons,
        model_version=model.version,
        model_probs={
            "kinds": {k: round(v, 4) for k, v in pred.kinds.items()},
            "flags": {k: round(v, 4) for k, v in pred.flags.items()},
        },
        rule_kind=rule_kind,
    )
    # Flags: the model's opinion (calibrated probability over its threshold) with the rules'.
    model_flag = {f: pred.flags[f] >= model.flag_threshold(f) for f in pred.flags}
    result.safeguarding = model_flag["safeguarding"] or rules.safeguarding
    modes = dict(meta.get("flag_modes", {}))
    for flag in ("about_coordinator", "out_of_scope"):
        mode = modes.get(flag, "or")
        m, r = model_flag[flag], bool(getattr(rules, flag))
        value = {"model": m, "rules": r, "and": m and r}.get(mode, m or r)
        setattr(result, flag, value and kind in _FLAG_KINDS[flag])
    # A complaint about our own coordinator is not about another organisation.
    if result.about_coordinator:
        result.out_of_scope = False
    # Guard: "about another organisation" needs another organisation in the text. On the
    # model's word alone (the rules did not say so) the flag stands only where a rule found
    # one named (target.other_org); a short generic complaint is about us.
    named_other = any(r.decision == "target.other_org" for r in rules.reasons)
    if result.out_of_scope and not rules.out_of_scope and not named_other:
        result.out_of_scope = False
    for flag, raised in model_flag.items():
        if raised and getattr(result, flag):
            reasons.append(
                Reason(
                    f"model.{flag}",
                    f"flag={flag}",
                    f"model probability {pred.flags[flag]:.2f}",
                    -1,
                    -1,
                    "model",
                )
            )
    # Guards: only a confident, uncontradicted model sends a letter on its own.
    if kind != "automated" and confidence < model.send_threshold:
        result.holds.append(
            f"model not confident: {kind} {confidence:.2f} (a letter goes on its own from "
            f"{model.send_threshold:.2f})"
        )
    if rule_kind != kind:
        evidence = rule_evidence(rules, rule_kind)
        if evidence:
            first = evidence[0]
            result.holds.append(
                f"rules disagree: the model says {kind} ({confidence:.2f}); rule {first.rule} "
                f'says {rule_kind} on "{first.text[:80]}"'
            )
            reasons.append(
                Reason(
                    "guard.rules_disagree",
                    f"kind={rule_kind}",
                    first.text,
                    first.start,
                    first.end,
                    first.source,
                )
            )
    return result
