"""Saving a stage's matplotlib figure: lay it out, write the PNG, free the figure.

    from topiclab.core.figures import save_figure
    fig, ax = plt.subplots(); ax.plot(steps, loss)
    result.figures["loss"] = save_figure(fig, ctx.path("loss.png"))     # dpi 110 unless given

Closing matters: pyplot keeps every open figure alive until it is closed, and one stage may
draw dozens of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def save_figure(fig: Figure, path: str | Path, dpi: int = 110) -> str:
    """``fig`` laid out (``tight_layout``), written to ``path`` at ``dpi`` and closed; the path
    as a string, which is what ``StageResult.figures`` holds."""
    import matplotlib.pyplot as plt  # here, not at the top: importing core must stay light

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return str(path)
