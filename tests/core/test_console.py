"""Trainer progress as log lines: what a run triggered from the Prefect UI shows."""

from __future__ import annotations

from topiclab.core.console import logged_progress


def test_progress_is_logged_about_ten_times_a_loop_and_at_the_end():
    lines: list[str] = []
    with logged_progress(lines.append)("ridge gd", 155) as advance:
        for step in range(155):
            advance(step, {"loss": 1.0 / (step + 1), "lr": 0.1, "a": 1.0, "hidden": 2.0})
    assert 10 <= len(lines) <= 12
    assert lines[0].startswith("ridge gd: step 15/155 loss=0.06667 lr=0.1 a=1 (")
    assert lines[-1].startswith("ridge gd: step 155/155 ") and "hidden" not in lines[-1]
