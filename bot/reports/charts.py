"""PNG charts (matplotlib, Agg backend: no display needed, safe in threads with a lock).

matplotlib is imported on the first chart, not with this module: the command line and the
daemon start without it.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_LOCK = threading.Lock()
COLOUR = "#1d70b8"


def _figure_class() -> type[Figure]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def bar_chart(
    labels: Sequence[str], values: Sequence[int], title: str, horizontal: bool = False
) -> bytes:
    """A simple bar chart with the value on each bar."""
    with _LOCK:
        height = 3.2 if not horizontal else 0.5 + 0.45 * max(1, len(labels))
        fig = _figure_class()(figsize=(7.0, height))
        ax = fig.add_subplot()
        if horizontal:
            bars = ax.barh(list(labels)[::-1], list(values)[::-1], color=COLOUR)
        else:
            bars = ax.bar(list(labels), list(values), color=COLOUR)
            ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        ax.bar_label(bars, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
        if not horizontal:
            ax.set_ylim(0, max([1, *values]) * 1.2)
        fig.tight_layout()
        return _png(fig)
