"""Held-out bits/char of the mini Llama after N steps with given trainer settings (1 thread).

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/bench_llama_lr.py \
        '{"steps": 400, "warmup_steps": 20, "lr": 6e-3}' 30000

The first argument updates ``LlamaTrainerConfig`` (the topic's standard shape by default; the
data are the llama topic's: Shakespeare split by play, bytes); the second is the number of
held-out characters scored (the middle of each held-out play, as the topic's evaluate stage).
Prints one JSON line: the settings, bits/char, CPU seconds per step and wall seconds. The
settings change nothing per step, so runs compare at equal CPU budget.
"""

import json
import sys
import time

import numpy as np
import torch

from topiclab.nn.llama_trainer import LlamaTrainer, LlamaTrainerConfig
from topiclab.nn.tokenizers import build_tokenizer
from topiclab.plugins.llama.config import VAL_PLAYS
from topiclab.plugins.llama.data import eval_text, load_corpus, split
from topiclab.plugins.llama.evaluate import bits_per_char


def main() -> None:
    torch.set_num_threads(1)
    over = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    n_chars = int(sys.argv[2]) if len(sys.argv) > 2 else 50_000
    source, docs = load_corpus("shakespeare")
    train, val = split(docs, VAL_PLAYS, source)
    ids = np.frombuffer("\n".join(train.values()).encode(), dtype=np.uint8).astype(np.int64)
    cfg = LlamaTrainerConfig(**{"steps": 800, "warmup_steps": 100, "eval_every": 0, **over})
    trainer = LlamaTrainer(cfg)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    trainer.fit(ids, None)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    score = bits_per_char(trainer.model, build_tokenizer("byte", [], 256), eval_text(val, n_chars))
    print(
        json.dumps(
            {
                "settings": over,
                "bpc": round(score["bpc"], 4),
                "cpu_s_per_step": round(cpu / cfg.steps, 4),
                "wall_s": round(wall, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
