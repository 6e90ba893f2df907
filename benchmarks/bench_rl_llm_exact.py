"""The rl-llm standard profile's exact world alone, through the stages' own functions (no
language model needed): prints every method's exact numbers, the ablation and the
over-optimisation curve, and writes the figures into OUT (default /tmp/rl_llm_exact).

    PYTHONPATH=$PWD python benchmarks/bench_rl_llm_exact.py [OUT]
"""

import os
import sys
import time
from pathlib import Path

import torch

from topiclab.core.config import resolve_config
from topiclab.core.registry import get_registry
from topiclab.core.topic import StageContext
from topiclab.plugins.rl_llm import data as D
from topiclab.plugins.rl_llm import evaluate as E
from topiclab.plugins.rl_llm import figures as F
from topiclab.plugins.rl_llm import train as T
from topiclab.plugins.rl_llm.config import RLLLMConfig

os.environ.setdefault("TOPICLAB_PLUGINS", "topiclab.plugins.rl_llm")  # before the registry
torch.set_num_threads(1)

reg = get_registry()
cfg = resolve_config(reg.topics["rl-llm"], "standard")
assert isinstance(cfg, RLLLMConfig)
root = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/rl_llm_exact")
root.mkdir(parents=True, exist_ok=True)
ctx = StageContext(
    topic="rl-llm",
    profile="standard",
    config=cfg,
    workdir=root,
    stage="x",
    registry_factory=lambda: reg,
)
t0 = time.time()
ex = D.exact_data(cfg.exact, cfg.seed)
torch.save(ex, root / "exact.pt")
t1 = time.time()
print("data", t1 - t0, flush=True)
tr = T.train_exact(ctx, cfg.exact, cfg.seed, str(root / "exact.pt"))
torch.save(tr, root / "exact_train.pt")
t2 = time.time()
print("train", t2 - t1, flush=True)
res = E.exact_eval(cfg.exact, cfg.seed, str(root / "exact.pt"), str(root / "exact_train.pt"))
t3 = time.time()
print("eval", t3 - t2, flush=True)
print("errors", res["errors"])
print(
    "ref",
    res["ref"],
    "dpo_init",
    res["dpo_init_loss"],
    "ppo_first",
    res["ppo_first"],
    "rms",
    res["rms"],
)
for r in res["rows"]:
    print(r)
for r in res["ablation"]:
    print(r)
print(
    "overopt",
    [
        (round(h["gold"], 3), round(h["proxy"], 3), round(h["kl_exact"], 3))
        for h in res["overopt"]
        if "gold" in h
    ],
)
for kind, curve in res["overopt_mean"].items():
    print(kind, [(round(r["kl"], 2), round(r["gold"], 3), round(r["proxy"], 3)) for r in curve])
print(F.frontier(ctx, res), F.overopt(ctx, res), F.ablation(ctx, res["ablation"]))
print("total", time.time() - t0)
