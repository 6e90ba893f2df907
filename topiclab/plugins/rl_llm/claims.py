"""The rl-llm topic's claims, built from the evaluate stage's metrics (pure functions).

from topiclab.plugins.rl_llm.claims import build_claims
claims = build_claims(cfg, metrics, exact_results, lm_results)

Claims on one metric go through core's ``ClaimBuilder``; a claim whose value is a count of
table rows or a constant is a ``Claim`` directly. A metric a failed method left out reads NaN
(the claim fails and says why).
"""

from __future__ import annotations

import math
from typing import Any

from topiclab.core.claims import ClaimBuilder, at_least, near
from topiclab.core.topic import Claim
from topiclab.plugins.rl_llm.config import RLLLMConfig
from topiclab.plugins.rl_llm.exact import closed_form_optimum

STANDARD = ["standard", "full"]
DPO = "Rafailov et al. 2023 (DPO), sec. 4–5"
PPO_MAX = "Zheng et al. 2023 (Secrets of RLHF I: PPO), sec. 5"
OPTIMUM = "π* ∝ π_ref·exp(r/β) (Rafailov et al. 2023, eq. 4; Korbak et al. 2022)"
BT = "Bradley & Terry 1952"


def build_claims(
    cfg: RLLLMConfig, mt: dict[str, float], ex: dict[str, Any], lmr: dict[str, Any]
) -> list[Claim]:
    return [*constant_claims(mt), *exact_claims(cfg, mt, ex), *lm_claims(mt, lmr)]


def constant_claims(mt: dict[str, float]) -> list[Claim]:
    toy = [round(p, 3) for p in closed_form_optimum([1.0, 0.0, -1.0], 0.5)]
    on = ClaimBuilder(mt).on
    return [
        on(
            "dpo_init_loss",
            near(math.log(2), 1e-6),
            id="dpo_init_log2",
            statement="The DPO loss at π = π_ref is log 2 for every pair",
            digits=6,
            anchor="0.693147",
            source=DPO,
        ),
        Claim(
            id="closed_form_toy",
            statement="Rewards [1, 0, −1], uniform π_ref, β = 0.5",
            value=str(toy),
            anchor="[0.867, 0.117, 0.016]",
            source=OPTIMUM,
            passed=toy == [0.867, 0.117, 0.016],
        ),
        on(
            "ppo_first_ratio_dev",
            lambda v: v <= 1e-5 and mt["ppo_first_clipfrac"] == 0,
            id="ppo_ratio_first_minibatch",
            statement="PPO's ratio is 1 and nothing is clipped on each batch's first minibatch",
            value=f"{mt['ppo_first_ratio_dev']:.2g}, {mt['ppo_first_clipfrac']:g}",
            anchor="max |ρ − 1| ≤ 1e-5, clip fraction 0",
            source="Schulman et al. 2017, eq. 7",
            uses=["ppo_first_ratio_dev", "ppo_first_clipfrac"],
        ),
    ]


def exact_claims(cfg: RLLLMConfig, mt: dict[str, float], ex: dict[str, Any]) -> list[Claim]:
    b = f"{cfg.exact.claim_beta:g}"
    dpo, ppo = f"exact_dpo_b{b}_kl_opt", f"exact_ppo_b{b}_reward"
    opt = f"exact_ppo_b{b}_opt_reward"
    m = dict.fromkeys([dpo, ppo, opt], math.nan) | mt  # claim_beta's runs may have failed
    rel = abs(m[ppo] - m[opt]) / abs(m[opt])
    c = ClaimBuilder(m, expected_in=STANDARD)
    on = c.on
    e = cfg.exact
    models = f"{e.n_proxies} {e.proxy} reward models of {e.n_small_rm_pairs} pairs each"
    rows = ex["rows"]
    above = [f"{r['method']}@{r['beta']}" for r in rows if not r["below_frontier"]]
    claims = [
        on(
            dpo,
            lambda v: v < 0.05,
            id="exact_dpo_reaches_optimum",
            statement=f"Exact world: DPO reaches π*_β (β = {b})",
            anchor="KL(π* ‖ π_DPO) < 0.05 nats",
            source=DPO + "; DPO's optimum is π* on Bradley–Terry data",
        ),
        on(
            ppo,
            lambda _: rel <= 0.05,
            id="exact_ppo_reward",
            statement=f"Exact world: KL-regularised PPO (gold reward, "
            f"β = {b}) gets π*'s expected reward",
            value=round(rel, 4),
            anchor="|E_PPO[r] − E_π*[r]| / E_π*[r] ≤ 0.05",
            source=OPTIMUM,
            uses=[ppo, opt],
        ),
        Claim(
            id="exact_frontier",
            statement="Every method's (KL, reward) point lies on or below "
            "the exact reward–KL frontier",
            value=f"{len(rows) - len(above)}/{len(rows)}"
            + (f" (above: {', '.join(above)})" if above else ""),
            anchor="all points",
            source=OPTIMUM + "; KL(π*‖π_ref) = E_π*[r]/β − log Z",
            passed=not above,
        ),
        rm_claim(
            c,
            "exact_rm_rm_acc",
            "exact_rm_bayes",
            id="exact_rm_bayes",
            statement="Exact world: reward-model accuracy is within 2 points of the Bayes accuracy",
        ),
        *(overopt_claim(mt, kind, models) for kind in OVEROPT),
    ]
    return claims + ablation_claims(ex)


def rm_claim(c: ClaimBuilder, acc: str, bayes: str, *, id: str, statement: str) -> Claim:
    """Reward-model expected accuracy (``acc``) at least the Bayes accuracy − 2 points."""
    return c.on(
        acc,
        at_least(c.m[bayes] - 0.02),
        id=id,
        statement=statement,
        value=round(100 * c.m[acc], 2),
        anchor=f"≥ Bayes {100 * c.m[bayes]:.2f} − 2",
        source=BT,
        uses=[acc, bayes],
    )


def ablation_claims(ex: dict[str, Any]) -> list[Claim]:
    """PPO-max against no KL penalty, if the ablation ran both (a table, not one metric)."""
    ab = {r["config"]: r for r in ex["ablation"]}
    if "ppo-max" not in ab or "no-kl-penalty" not in ab:
        return []
    seeds = min(r["seeds"] for r in ex["ablation"])
    off, on = ab["no-kl-penalty"], ab["ppo-max"]
    return [
        Claim(
            id="ablation_kl_penalty",
            statement=f"PPO-trick ablation over {seeds} seeds: without "
            "the KL penalty the policy drifts further from π_ref",
            value=f"{off['kl']:.3f} vs {on['kl']:.3f}",
            anchor="KL(no penalty) > KL(PPO-max) + 2 SE, ≥ 3 seeds",
            source=PPO_MAX,
            expected_in=STANDARD,
            passed=seeds >= 3 and off["kl"] > on["kl"] + 2 * math.hypot(off["kl_se"], on["kl_se"]),
        )
    ]


OVEROPT = {
    "beta": (
        "the KL-regularised optimum π ∝ π_ref·exp(proxy/β) over a β sweep",
        "Gao et al. 2022 (scaling laws for reward-model overoptimisation), fig. 1b (RL)",
    ),
    "best_of_n": (
        "best-of-n sampling under the proxy, n = 1 … 2²⁰",
        "Gao et al. 2022, fig. 1a (best-of-n; KL = log n − (n − 1)/n)",
    ),
}
MIN_FALL = 0.05  # and 2 SE across the imperfect reward models


def overopt_claim(
    mt: dict[str, float], kind: str, models: str = "imperfect reward models"
) -> Claim:
    """Gao et al.'s curve measured exactly, averaged over the imperfect reward models: the
    mean gold reward at the largest KL against its peak (the fall paired per reward model)."""
    keys = (
        "gold_peak",
        "kl_at_peak",
        "gold_end",
        "kl_end",
        "proxy_at_peak",
        "proxy_end",
        "fall_se",
    )
    v = {k: mt[f"overopt_{kind}_{k}"] for k in keys}
    fall = v["gold_peak"] - v["gold_end"]
    what, source = OVEROPT[kind]
    return ClaimBuilder(mt, expected_in=STANDARD).on(
        f"overopt_{kind}_gold_end",
        lambda _: fall > max(MIN_FALL, 2 * v["fall_se"]) and v["proxy_end"] > v["proxy_at_peak"],
        id="overoptimisation" if kind == "beta" else f"overoptimisation_{kind}",
        statement=f"Exact world, {models}, {what}: the gold reward rises then falls "
        "as KL grows while the proxy keeps rising",
        value=f"gold {v['gold_peak']:.3f} at KL {v['kl_at_peak']:.2f} → {v['gold_end']:.3f} at "
        f"KL {v['kl_end']:.2f} (fall {fall:.3f} ± {v['fall_se']:.3f}); proxy "
        f"{v['proxy_at_peak']:.3f} → {v['proxy_end']:.3f}",
        anchor=f"gold fall > {MIN_FALL} and > 2 SE; proxy at the largest KL > proxy at the peak",
        source=source,
        uses=[f"overopt_{kind}_{k}" for k in keys],
    )


def lm_claims(mt: dict[str, float], lmr: dict[str, Any]) -> list[Claim]:
    c = ClaimBuilder(mt, expected_in=STANDARD)
    claims = [
        rm_claim(
            c,
            "lm_rm_acc",
            "lm_bayes",
            id="lm_rm_bayes",
            statement="LM world: reward-model accuracy within 2 points of Bayes",
        )
    ]
    return claims + [beats_sft(c, r) for r in lmr["rows"] if r["method"] != "SFT"]


def beats_sft(c: ClaimBuilder, r: dict[str, Any]) -> Claim:
    """A method's gold-reward gain over the SFT model (> 2 SE) and its win rate (> 50 %)."""
    k = f"lm_{r['method']}"
    return c.on(
        f"{k}_gold_gain",
        lambda v: v > 2 * r["gain_se"] and r["win_rate"] > 0.5,
        id=f"{k}_beats_sft",
        statement=f"LM world: {r['method']} raises the gold reward and beats the SFT model",
        value=f"gain {r['gold_gain']:+.3f} ± {r['gain_se']:.3f}, "
        f"win {100 * r['win_rate']:.1f}% [{100 * r['win_lo']:.1f}, {100 * r['win_hi']:.1f}]",
        anchor="gain > 2 SE and win rate > 50%",
        source="SLiC-HF (Zhao et al. 2023) tab. 1: 44.96% → 86.21%; DPO fig. 2",
        uses=[f"{k}_gold_gain", f"{k}_win_rate"],
    )
