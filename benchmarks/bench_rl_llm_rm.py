"""Why the rl-llm LM reward model falls short of Bayes: held-out expected accuracy (and the same
on the training pairs) of the Llama reward model as it trains, and of a bag-of-bytes
Bradley–Terry model (257 weights, the gold reward's own form) on the first n pairs.

    PYTHONPATH=$PWD python benchmarks/bench_rl_llm_rm.py LM_PT SFT_PT [LR STEPS BATCH]

LM_PT: an rl-llm run's ``generate/lm.pt``; SFT_PT: the llama topic's ``train/llama.pt``.
Train accuracy ≈ held-out accuracy while both sit under Bayes means too few pairs for the model
(label noise), not a held-out gap; the bag-of-bytes line says what the pairs allow.
"""

import sys

import torch

from topiclab.nn import preference as P
from topiclab.nn.preference_trainers import batches
from topiclab.plugins.rl_llm import lm as M
from topiclab.plugins.rl_llm.evaluate import rm_accuracy

PLEN = 24


def accuracy(score, pairs: P.Pairs) -> dict[str, float]:
    with torch.no_grad():
        sc = score(pairs.chosen), score(pairs.rejected)
    gold = M.gold_reward(pairs.chosen, PLEN), M.gold_reward(pairs.rejected, PLEN)
    return rm_accuracy(*sc, *gold)


def bag_of_bytes(tokens: torch.Tensor) -> torch.Tensor:
    r = tokens[:, PLEN:]
    letter = ((r[:, 1:] | 32) >= 97) & ((r[:, 1:] | 32) <= 122)
    doubles = ((r[:, 1:] == r[:, :-1]) & letter).float().sum(1, keepdim=True)
    return torch.cat([torch.nn.functional.one_hot(r, 256).float().sum(1), doubles], 1)


def fit_bt(x: torch.Tensor) -> torch.Tensor:
    """Bradley–Terry weights on feature differences x [N, F] (L-BFGS, a little L2)."""
    w = torch.zeros(x.shape[1], requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=500)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.softplus(-x @ w).mean() + 1e-3 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach()


def probe(tr: P.Pairs, te: P.Pairs) -> None:
    for n in sorted({min(k, len(tr)) for k in (300, 1500, 6000, len(tr))}):
        w = fit_bt(bag_of_bytes(tr.chosen[:n]) - bag_of_bytes(tr.rejected[:n]))
        a = accuracy(lambda s, w=w: bag_of_bytes(s) @ w, te)
        print(
            f"bag-of-bytes n={n}: held-out {100 * a['accuracy']:.1f} Bayes {100 * a['bayes']:.1f}"
        )


def llama_rm(sft, tr: P.Pairs, te: P.Pairs, lr: float, steps: int, bs: int) -> None:
    rm = M.LlamaScalar(sft)
    params = list(rm.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    order = batches(len(tr), bs, torch.Generator().manual_seed(0))
    for step in range(1, steps + 1):
        idx = next(order)
        sw, sl = P.scalar_scores(rm, torch.cat([tr.chosen[idx], tr.rejected[idx]]), PLEN).chunk(2)
        opt.zero_grad()
        P.bradley_terry_loss(sw, sl).mean().backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % max(1, steps // 8) == 0 or step == steps:
            a, b = (accuracy(lambda s: P.scalar_scores(rm, s, PLEN), p) for p in (te, tr))
            print(
                f"llama RM lr={lr:g} step {step} ({step * bs / len(tr):.1f} epochs): held-out "
                f"{100 * a['accuracy']:.1f} (Bayes {100 * a['bayes']:.1f}), train "
                f"{100 * b['accuracy']:.1f} (Bayes {100 * b['bayes']:.1f})",
                flush=True,
            )


def main() -> None:
    torch.set_num_threads(1)
    d = torch.load(sys.argv[1], weights_only=False)
    sft = M.load_sft(sys.argv[2])
    lr, steps, bs = (
        (float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        if len(sys.argv) > 5
        else (3e-4, 0, 64)
    )
    tr, te = P.Pairs(**d["pairs"]), P.Pairs(**d["test_pairs"])
    print(f"{len(tr)} training pairs, {len(te)} held out")
    probe(tr, te)
    llama_rm(sft, tr, te, lr, steps or -(-len(tr) // bs), bs)


if __name__ == "__main__":
    main()
