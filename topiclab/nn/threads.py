"""``with torch_threads(n):`` run a block with ``n`` torch threads, then restore the number.

Small models on a 2-core machine are sensitive to this: two threads halve a Llama training
step on an idle machine and slow it down many times when other jobs share the cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """``n`` threads inside the block (0: leave torch's setting as it is)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
