"""The exact world: K prompts, responses of L tokens from a vocabulary of V, so every
expectation, KL and the optimum π*_β ∝ π_ref·exp(r/β) is computed by enumeration (V^L each).

    from topiclab.plugins.rl_llm.exact import ExactWorld
    w = ExactWorld(n_prompts=4, vocab=6, length=4, seed=0)
    w.expected_reward(policy), w.kl(policy, w.ref), w.optimum_logp(beta)

Sequences are ``[prompt id, y_1 ... y_L]``. Policies and scalar models are ``TabularLM``s: one
table row per (prompt, response prefix), so the policy class holds π* exactly.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

from topiclab.nn import preference as P


class TabularLM(nn.Module):
    """Outputs [B, T, out] (out = 1: [B, T]) for sequences [prompt, y_1, ...]: position t reads
    the row of the state (prompt, y_1..y_t)."""

    def __init__(self, n_prompts: int, vocab: int, length: int, out: int) -> None:
        super().__init__()
        self.vocab, self.out = vocab, out
        self.offsets = [sum(vocab**j for j in range(t)) for t in range(length + 1)]
        self.per_prompt = self.offsets[-1] + vocab**length
        self.table = nn.Parameter(torch.zeros(n_prompts * self.per_prompt, out))

    def states(self, tokens: Tensor) -> Tensor:
        code = torch.zeros_like(tokens[:, 0])
        cols = []
        for t in range(tokens.shape[1]):
            if t > 0:
                code = code * self.vocab + tokens[:, t]
            cols.append(tokens[:, 0] * self.per_prompt + self.offsets[t] + code)
        return torch.stack(cols, 1)

    def forward(self, tokens: Tensor) -> Tensor:
        out = self.table[self.states(tokens)]
        return out.squeeze(-1) if self.out == 1 else out


class BagOfTokens(nn.Module):
    """A reward model that scores each response token alone, w[prompt, token] ([B, T], 0 at
    the prompt): a bag-of-words Bradley–Terry model. It cannot see repeats, which the gold
    reward penalises: the blind spot of an imperfect reward model, which optimisation finds."""

    def __init__(self, n_prompts: int, vocab: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_prompts, vocab))

    def forward(self, tokens: Tensor) -> Tensor:
        scores = self.weight[tokens[:, :1], tokens[:, 1:]]
        return torch.cat([torch.zeros_like(scores[:, :1]), scores], 1)


def gold_reward(tokens: Tensor, targets: Tensor, repeat_penalty: float) -> Tensor:
    """Count of the prompt's target tokens in the response, minus ``repeat_penalty`` per
    token equal to its predecessor: [B] floats."""
    y = tokens[:, 1:]
    hits = (y[:, :, None] == targets[tokens[:, 0]][:, None, :]).any(-1).sum(-1)
    repeats = (y[:, 1:] == y[:, :-1]).sum(-1)
    return hits.float() - repeat_penalty * repeats.float()


class ExactWorld:
    """All sequences, the gold reward, π_ref's SFT fit, and exact measurements."""

    def __init__(
        self, n_prompts: int, vocab: int, length: int, seed: int, repeat_penalty: float = 0.5
    ) -> None:
        self.K, self.V, self.L = n_prompts, vocab, length
        g = torch.Generator().manual_seed(seed)
        # two target tokens per prompt, drawn without replacement
        self.targets = torch.stack(
            [torch.randperm(vocab, generator=g)[:2] for _ in range(n_prompts)]
        )
        ys = torch.tensor(list(itertools.product(range(vocab), repeat=length)))
        self.n_responses = ys.shape[0]
        prompts = torch.arange(n_prompts).repeat_interleave(self.n_responses)
        self.all = torch.cat([prompts[:, None], ys.repeat(n_prompts, 1)], 1)  # [K·S, 1 + L]
        self.gold = gold_reward(self.all, self.targets, repeat_penalty).reshape(n_prompts, -1)
        self.repeat_penalty = repeat_penalty

    def new_policy(self) -> TabularLM:
        return TabularLM(self.K, self.V, self.L, self.V)

    def new_scalar(self) -> TabularLM:
        return TabularLM(self.K, self.V, self.L, 1)

    def new_proxy(self, kind: str) -> nn.Module:
        """An imperfect reward model: ``"bag-of-tokens"`` or ``"table"`` (a scalar table,
        which holds the gold reward exactly)."""
        return BagOfTokens(self.K, self.V) if kind == "bag-of-tokens" else self.new_scalar()

    def reward(self, tokens: Tensor) -> Tensor:
        return gold_reward(tokens, self.targets, self.repeat_penalty)

    @torch.no_grad()
    def logp(self, policy: nn.Module) -> Tensor:
        """log π(y | x) for every sequence: [K, S] (each row sums to 1 in probability)."""
        return P.sequence_logprobs(policy, self.all, 1).reshape(self.K, -1)

    def scalar_table(self, model: nn.Module) -> Tensor:
        with torch.no_grad():
            return P.scalar_scores(model, self.all, 1).reshape(self.K, -1)

    def sample(self, policy: nn.Module, prompts: Tensor, g: torch.Generator) -> Tensor:
        """Exact ancestral sampling, done as one categorical draw over the enumeration per
        prompt (not a [n, V^L] matrix: 300k pairs would need gigabytes)."""
        probs = self.logp(policy).exp()
        prompts = prompts.reshape(-1)
        idx = torch.empty_like(prompts)
        for k in prompts.unique().tolist():
            rows = (prompts == k).nonzero().squeeze(-1)
            idx[rows] = torch.multinomial(probs[k], len(rows), replacement=True, generator=g)
        return self.all[prompts * self.n_responses + idx]

    def optimum_logp(self, ref_logp: Tensor, beta: float, reward: Tensor | None = None) -> Tensor:
        """log π*_β = log π_ref + r/β − log Z_β, per prompt."""
        r = self.gold if reward is None else reward
        return torch.log_softmax(ref_logp + r / beta, dim=-1)

    def measure(
        self, logp: Tensor, ref_logp: Tensor, reward: Tensor | None = None
    ) -> dict[str, float]:
        """E_π[r] and KL(π ‖ π_ref), averaged over uniformly drawn prompts."""
        r = self.gold if reward is None else reward
        p = logp.exp()
        return {
            "reward": float((p * r).sum(-1).mean()),
            "kl": float((p * (logp - ref_logp)).sum(-1).mean()),
        }

    @staticmethod
    def kl_between(logp_a: Tensor, logp_b: Tensor) -> float:
        """KL(a ‖ b), averaged over prompts."""
        return float((logp_a.exp() * (logp_a - logp_b)).sum(-1).mean())

    def proxy_sweep(
        self, ref_logp: Tensor, proxy: Tensor, betas: list[float]
    ) -> list[dict[str, float]]:
        """Gao et al. 2022's curve, exactly: for each β the optimum of the *proxy*,
        π ∝ π_ref·exp(proxy/β), with its KL to π_ref, gold and proxy reward (β large to small,
        so KL grows along the list)."""
        rows = []
        for b in sorted(betas, reverse=True):
            lp = self.optimum_logp(ref_logp, b, proxy)
            gold, prox = self.measure(lp, ref_logp), self.measure(lp, ref_logp, proxy)
            rows.append(
                {"beta": b, "kl": gold["kl"], "gold": gold["reward"], "proxy": prox["reward"]}
            )
        return rows

    def best_of_n_sweep(
        self, ref_logp: Tensor, proxy: Tensor, ns: list[int]
    ) -> list[dict[str, float]]:
        """Gao et al. 2022's best-of-n curve, exactly: for each n the distribution of the
        proxy's best of n π_ref samples, its exact KL to π_ref beside the usual
        log n − (n − 1)/n (which assumes no ties), gold and proxy reward."""
        rows = []
        for n in sorted(ns):
            lp = best_of_n_logp(ref_logp, proxy, n)
            gold, prox = self.measure(lp, ref_logp), self.measure(lp, ref_logp, proxy)
            rows.append(
                {
                    "n": float(n),
                    "kl": gold["kl"],
                    "kl_formula": math.log(n) - (n - 1) / n,
                    "gold": gold["reward"],
                    "proxy": prox["reward"],
                }
            )
        return rows

    def frontier(self, ref_logp: Tensor, betas: list[float]) -> list[dict[str, float]]:
        """The exact reward–KL frontier: (KL(π*_β ‖ π_ref), E_π*[r]) for each β."""
        return [
            {"beta": b, **self.measure(self.optimum_logp(ref_logp, b), ref_logp)} for b in betas
        ]


def best_of_n_logp(ref_logp: Tensor, proxy: Tensor, n: int) -> Tensor:
    """log P(best of n samples of π_ref under ``proxy`` = y), per prompt row [K, S].

    P(the best proxy value is v) = F(v)ⁿ − F(v⁻)ⁿ with F π_ref's distribution function of
    the proxy; responses tied at v share it in proportion to π_ref (ties broken at random).
    """
    p = ref_logp.double().exp()
    out = torch.empty_like(p)
    for k in range(p.shape[0]):
        values, group = torch.unique(proxy[k], sorted=True, return_inverse=True)
        mass = torch.zeros(len(values), dtype=p.dtype).index_add_(0, group, p[k])
        cdf = torch.cumsum(mass, 0)
        cdf = cdf / cdf[-1]  # exactly 1 at the top: float32 π_ref sums to 1 ± 1e-7, and
        # (1 − 1e-7)^(2^20) would lose 10 % of the mass
        best = cdf**n - torch.cat([cdf.new_zeros(1), cdf[:-1]]) ** n
        out[k] = best[group] * p[k] / mass[group]
    return out.clamp_min(1e-300).log().to(ref_logp.dtype)


def closed_form_optimum(rewards: list[float], beta: float) -> list[float]:
    """π* ∝ π_ref·exp(r/β) over len(rewards) responses with a uniform π_ref."""
    w = [math.exp(r / beta) for r in rewards]
    return [x / sum(w) for x in w]


def fit_reference(world: ExactWorld, demos: Tensor, steps: int, lr: float, wd: float) -> TabularLM:
    """π_ref by SFT: maximum likelihood on the demonstrations, L2-shrunk towards uniform."""
    ref = world.new_policy()
    opt = torch.optim.Adam(ref.parameters(), lr=lr)
    for _ in range(steps):
        loss = -P.sequence_logprobs(ref, demos, 1).mean() + wd * ref.table.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return ref.requires_grad_(False)


def demonstrator(world: ExactWorld, scale: float, seed: int) -> TabularLM:
    """A hidden noisy demonstrator: random logits of standard deviation ``scale``."""
    g = torch.Generator().manual_seed(seed)
    demo = world.new_policy()
    with torch.no_grad():
        demo.table.normal_(0.0, scale, generator=g)
    return demo.requires_grad_(False)


def preference_pairs(
    world: ExactWorld, ref: nn.Module, n: int, g: torch.Generator, reward: Tensor | None = None
) -> tuple[P.Pairs, Tensor]:
    """``n`` pairs of π_ref samples labelled by Bradley–Terry on the gold reward, an SFT target
    (a third π_ref sample) each, and p = P(first ≻ second) per pair (for the Bayes accuracy)."""
    prompts = torch.randint(world.K, (n,), generator=g)
    a, b, sft = (world.sample(ref, prompts, g) for _ in range(3))
    p = torch.sigmoid(world.reward(a) - world.reward(b))
    first = torch.rand(n, generator=g) < p
    chosen = torch.where(first[:, None], a, b)
    rejected = torch.where(first[:, None], b, a)
    return P.Pairs(chosen, rejected, sft), torch.where(first, p, 1 - p)
