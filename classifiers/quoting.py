"""Split an email's plain text into what the person wrote now, quoted mail and signature.

Pure regular-expression code (no spaCy), safe to call from intake on any text: it never raises.

* ``new``: what the sender wrote in this message (greeting and body, no sign-off block).
* ``quoted``: earlier mail quoted under the reply: ``>`` lines, Gmail/Apple "On ... wrote:"
  blocks, Outlook "-----Original Message-----" or "From: ... Sent: ..." header blocks, bounce
  copies ("This is a copy of the message").
* ``forwarded``: the text of a forwarded message ("---------- Forwarded message ---------",
  "Begin forwarded message:"); the note on top stays in ``new``.
* ``signature``: "-- " delimited signatures, "Sent from my iPhone" footers, sign-off lines
  ("Kind regards") followed by a short name/contact block, and legal disclaimers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SplitText", "split_reply"]


@dataclass(frozen=True)
class SplitText:
    new: str
    quoted: str = ""
    signature: str = ""
    forwarded: str = ""

    @property
    def has_quote(self) -> bool:
        return bool(self.quoted)

    @property
    def is_forward(self) -> bool:
        return bool(self.forwarded)


_F = re.IGNORECASE | re.MULTILINE

# "On Tue, 3 Jun 2025 at 14:51, Name <addr> wrote:" (may wrap onto a second line, may be "> ").
_ON_WROTE = re.compile(
    r"^[ \t]*(?:>[ \t]*)*On\b[^\n]{0,250}(?:\n[^\n]{0,250})?\bwrote:[ \t]*$",
    _F,
)
# "-----Original Message-----", "--- Original message ---", bounce copies.
_ORIGINAL = re.compile(
    r"^[ \t]*-{2,}[ \t]*(?:original[ \t]+message|this[ \t]+is[ \t]+a[ \t]+copy[ \t]+of[^\n]*?"
    r"|returned[ \t]+message[^\n]*?|reply[ \t]+message)[ \t]*-*[ \t]*$",
    _F,
)
_FORWARD = re.compile(
    r"^[ \t]*(?:-{2,}[ \t]*forwarded[ \t]+message[ \t]*-*|begin[ \t]+forwarded[ \t]+message:?"
    r"|-{2,}[ \t]*forwarded[ \t]+by[^\n]*)[ \t]*$",
    _F,
)
# Outlook header block: a "From:" line followed closely by Sent:/Date:/To:/Subject:.
_OUTLOOK = re.compile(
    r"^[ \t]*\*?From:\*?[ \t]+[^\n]+\n(?:[^\n]*\n){0,2}?[ \t]*\*?(?:Sent|Date|To|Subject):\*?[ \t]",
    _F,
)
_UNDERSCORES = re.compile(r"^[ \t]*_{8,}[ \t]*\n(?:[ \t]*\n)?(?=[ \t]*\*?From:)", _F)

_SIG_DASH = re.compile(r"^-- ?$", re.MULTILINE)
_PHONE_FOOTER = re.compile(
    r"^[ \t]*(?:sent[ \t]+(?:from|via|with)[ \t]+(?:my|the|outlook|mail|yahoo|samsung|gmail|aol)"
    r"[^\n]{0,60}|get[ \t]+outlook[ \t]+for[^\n]{0,30}|sent[ \t]+from[ \t]+\w+[ \t]+for[ \t]+"
    r"(?:ios|android|windows)[^\n]{0,20})[ \t]*$",
    _F,
)
_DISCLAIMER = re.compile(
    r"^[ \t]*(?:\*+[ \t]*)?(?:disclaimer\b|confidentiality[ \t]+notice|important[ \t]*:?[ \t]+"
    r"this[ \t]+(?:e-?mail|message)|this[ \t]+(?:e-?mail|message|communication)[^\n]{0,80}?"
    r"\b(?:is[ \t]+(?:strictly[ \t]+)?confidential|may[ \t]+contain|intended[ \t]+(?:solely|"
    r"only)|is[ \t]+intended|(?:are|is)[ \t]+confidential)|the[ \t]+information[ \t]+(?:contained"
    r"[ \t]+)?in[ \t]+this[ \t]+(?:e-?mail|message)|if[ \t]+you[ \t]+(?:have[ \t]+)?receive[d]?"
    r"[ \t]+this[ \t]+(?:e-?mail|message)[ \t]+in[ \t]+error|please[ \t]+consider[ \t]+the[ \t]+"
    r"environment)",
    _F,
)
_SIGN_OFF = re.compile(
    r"^[ \t]*(?:(?:with[ \t]+)?(?:kind(?:est)?|best|warm(?:est)?|many|with)[ \t]+"
    r"(?:regards|wishes|thanks)"
    r"|regards|best|thanks(?:[ \t]+(?:again|so[ \t]+much|very[ \t]+much|in[ \t]+advance))?"
    r"|thank[ \t]+you(?:[ \t]+(?:again|so[ \t]+much|very[ \t]+much|in[ \t]+advance))?"
    r"|many[ \t]+thanks(?:[ \t]+again)?|yours[ \t]+(?:sincerely|faithfully|truly)"
    r"|(?:many[ \t]+)?thanks[ \t]+for[ \t]+(?:all[ \t]+)?(?:your|any|the)[ \t]+(?:help|time|"
    r"support|advice|assistance)|with[ \t]+(?:many[ \t]+|so[ \t]+much[ \t]+)?(?:thanks|gratitude)"
    r"|sincerely|cheers|all[ \t]+the[ \t]+best|take[ \t]+care|love|ta|thx|x{1,3})"
    r"[ \t]*[,.!]*[ \t]*(?:x{1,3})?[ \t]*$",
    _F,
)
# "thanks kelly" / "Cheers, Dave" on one line at the very end.
_SIGN_OFF_NAME = re.compile(
    r"^[ \t]*(?:thanks|thank[ \t]+you|cheers|regards|many[ \t]+thanks|best[ \t]+wishes|ta)"
    r"[ \t]*[,.!]?[ \t]+[A-Za-z][a-z'\-]{1,20}(?:[ \t]+[A-Z][a-z'\-]{1,20})?[ \t]*[.!x]*[ \t]*$",
    re.IGNORECASE,
)
# A last paragraph that is only a name and/or phone number ("Jo", "Paul Maughan\n07700 900781").
_NAME_LINE = re.compile(
    r"^[ \t]*(?:(?:mr|mrs|ms|miss|dr)\.?[ \t]+)?[A-Z][A-Za-z'\-]{0,20}\.?"
    r"(?:[ \t]+(?:[A-Z][A-Za-z'\-]{0,20}\.?|\([^)\n]{1,30}\)|&|and)){0,4}[ \t]*x{0,3}[ \t]*$"
)
_LOWER_NAME = re.compile(r"^[ \t]*[a-z]{2,15}(?:[ \t]+\+?\d[\d \t]{7,}\d)?[ \t]*x{0,3}$")
_CONTACT_LINE = re.compile(
    r"^[ \t]*(?:(?:tel|mob|mobile|phone|t|m)[.:]?[ \t]*)?(?:\+?\d[\d \t()\-]{7,}\d"
    r"|[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+)[ \t]*$",
    re.IGNORECASE,
)
_MAX_SIG_LINES = 12
_MAX_SIG_LINE_LEN = 90


def _first(pattern: re.Pattern[str], text: str) -> int:
    m = pattern.search(text)
    return m.start() if m else -1


def _sentence_like(line: str) -> bool:
    """A line that reads like prose rather than a name/title/phone/address line."""
    s = line.strip()
    if len(s) > _MAX_SIG_LINE_LEN:
        return True
    words = s.split()
    return len(words) >= 9 and s.endswith((".", "?", "!")) and not s.startswith(("Tel", "Mob"))


def _split_signature(head: str) -> tuple[str, str]:
    """Split ``head`` (the unquoted part) into (body, signature)."""
    cut = len(head)

    m = _SIG_DASH.search(head)
    if m and head[: m.start()].strip():
        cut = min(cut, m.start())

    d = _DISCLAIMER.search(head)
    if d and head[: d.start()].strip():
        cut = min(cut, d.start())

    for pf in _PHONE_FOOTER.finditer(head):
        if pf.start() < cut and not head[pf.end() : cut].strip():
            cut = pf.start()
            break
        if pf.start() < cut and head[: pf.start()].strip():
            # A footer followed only by short lines (e.g. a name) still ends the body.
            rest = head[pf.end() : cut].strip().splitlines()
            if len(rest) <= 3 and not any(_sentence_like(x) for x in rest):
                cut = pf.start()
                break

    # Sign-off line followed by a short name/contact block up to the cut.
    body_part = head[:cut]
    lines = body_part.splitlines(keepends=True)
    offsets: list[int] = []
    pos = 0
    for ln in lines:
        offsets.append(pos)
        pos += len(ln)
    nonempty = [i for i, ln in enumerate(lines) if ln.strip()]
    if nonempty:
        # Look at sign-offs among the last few non-empty lines, earliest first.
        window = nonempty[-(_MAX_SIG_LINES + 1) :]
        for i in window:
            line = lines[i]
            after = [x for x in lines[i + 1 :] if x.strip()]
            if len(after) > _MAX_SIG_LINES or any(_sentence_like(x) for x in after):
                continue
            is_signoff = bool(_SIGN_OFF.match(line.rstrip("\n")))
            if not is_signoff and _SIGN_OFF_NAME.match(line.rstrip("\n")) and len(after) <= 3:
                is_signoff = True
            if is_signoff and body_part[: offsets[i]].strip():
                cut = offsets[i]
                break
    else:
        return "", head

    if cut == len(body_part):
        # No sign-off: a final paragraph of only a name/phone lines is still a signature.
        paras = list(re.finditer(r"\n[ \t]*\n", body_part.rstrip()))
        if paras:
            last_start = paras[-1].end()
            last = body_part[last_start:].strip().splitlines()
            if (
                0 < len(last) <= 4
                and (_NAME_LINE.match(last[0]) or (len(last) == 1 and _LOWER_NAME.match(last[0])))
                and all(
                    _NAME_LINE.match(x) or _CONTACT_LINE.match(x) or _LOWER_NAME.match(x)
                    for x in last
                )
                and body_part[:last_start].strip()
            ):
                cut = last_start

    return head[:cut], head[cut:]


def _split_quote(text: str) -> tuple[str, str, str]:
    """Return (head, quoted, forwarded)."""
    candidates: list[tuple[int, str]] = []
    for pattern, kind in (
        (_FORWARD, "fwd"),
        (_ON_WROTE, "quote"),
        (_ORIGINAL, "quote"),
        (_UNDERSCORES, "quote"),
        (_OUTLOOK, "quote"),
    ):
        pos = _first(pattern, text)
        if pos >= 0:
            candidates.append((pos, kind))
    if candidates:
        pos, kind = min(candidates)
        head, tail = text[:pos], text[pos:]
        if kind == "fwd":
            return head, "", tail.strip()
        return head, tail.strip(), ""

    # No header: move ">"-quoted lines out (handles inline replies too).
    if ">" not in text:
        return text, "", ""
    kept: list[str] = []
    quoted: list[str] = []
    for line in text.split("\n"):
        if line.lstrip().startswith(">"):
            quoted.append(line)
        else:
            kept.append(line)
    return "\n".join(kept), "\n".join(quoted).strip(), ""


def split_reply(text: str) -> SplitText:
    """Split ``text`` into new text, quoted earlier mail, forwarded text and signature.

    Never raises: on any internal problem the whole text is returned as ``new``.
    """
    try:
        if not text:
            return SplitText(new="")
        norm = text.replace("\r\n", "\n").replace("\r", "\n")
        head, quoted, forwarded = _split_quote(norm)
        body, signature = _split_signature(head)
        return SplitText(
            new=body.strip(),
            quoted=quoted,
            signature=signature.strip(),
            forwarded=forwarded,
        )
    except Exception:  # pragma: no cover - defensive: intake must never fail here
        return SplitText(new=text if isinstance(text, str) else "")
