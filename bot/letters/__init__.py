"""Letters: templated acknowledgements written to the outbox and sent by a sender thread.

- :mod:`bot.letters.render`: Jinja2 templates under ``templates/letters/`` (a default set,
  overridable per service in ``templates/letters/<service>/``), checked at start-up.
- :mod:`bot.letters.context`: what a letter may say about a case (never the message text).
- :mod:`bot.letters.policy`: which letter a message gets, and whether it is sent at once,
  held for a coordinator, or not written at all.
- :mod:`bot.letters.outbox`: writing letters in the intake transaction (idempotent).
- :mod:`bot.letters.mime`: header sanitising and the outgoing MIME message.
- :mod:`bot.letters.sender`: draining the outbox over SMTP or into a folder of ``.eml`` files.
"""

from __future__ import annotations

PURPOSES: tuple[str, ...] = (
    "complaint_ack",
    "next_stage_ack",
    "compliment_thanks",
    "comment_thanks",
    "out_of_scope",
    "extension_notice",
    "stage_response",
    "final_stage",
    "safeguarding_alert",
    "staff_notice",
    "safeguarding_reply",
    "informal_ack",
    "informal_outcome",
    "writing_request",
    "step_notice",
)

#: Letters to a member of staff, not to the person who wrote: not counted by the per-sender cap.
STAFF_PURPOSES = frozenset({"safeguarding_alert", "staff_notice"})

#: Letters that acknowledge a complaint or a request for the next stage.
ACKNOWLEDGEMENTS = frozenset({"complaint_ack", "next_stage_ack"})
