"""Seconds per training step of the standard mini Llama with N torch threads.

.venv/bin/python benchmarks/bench_llama_threads.py 1
.venv/bin/python benchmarks/bench_llama_threads.py 2
"""

import sys
import time

import torch
import torch.nn.functional as F

from topiclab.nn.llama import ModelArgs, Transformer


def main() -> None:
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    torch.set_num_threads(threads)
    args = ModelArgs(
        dim=128,
        n_layers=4,
        n_heads=4,
        n_kv_heads=2,
        vocab_size=256,
        multiple_of=32,
        max_seq_len=128,
    )
    model = Transformer(args)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, 256, (16, 129))

    def step() -> None:
        logits = model(x[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 256), x[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):  # warm-up
        step()
    start, n = time.perf_counter(), 20
    for _ in range(n):
        step()
    print(f"{threads} threads: {(time.perf_counter() - start) / n:.3f} s/step")


if __name__ == "__main__":
    main()
