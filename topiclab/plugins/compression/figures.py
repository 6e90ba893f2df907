"""The compression report's figure (matplotlib, Agg): rates per compressor, chunked and whole.

figs = topic_figures(ctx, tot)     # in evaluate: name -> PNG path in the stage's folder
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from topiclab.core.figures import save_figure
from topiclab.core.topic import StageContext


def topic_figures(ctx: StageContext, tot: list[dict[str, Any]]) -> dict[str, str]:
    return {"rates": rates(ctx, tot)}


def rates(ctx: StageContext, tot: list[dict[str, Any]]) -> str:
    names = list(dict.fromkeys(t["compressor"] for t in tot))
    by = {(t["compressor"], t["mode"]): t["rate_pct"] for t in tot}
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for i, mode in enumerate(("chunk", "whole")):
        ax.bar(
            x + (i - 0.5) * 0.4,
            [by.get((n, mode), 0) for n in names],
            0.4,
            label="2048-byte chunks" if mode == "chunk" else "whole file",
        )
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set(ylabel="compressed / raw (%)", title="Held-out plays")
    ax.legend()
    return save_figure(fig, ctx.path("rates.png"))
