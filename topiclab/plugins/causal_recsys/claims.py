"""The topic's claims: what the post and its papers say, and this run's verdict on each.

    from topiclab.plugins.causal_recsys.claims import build_claims
    claims = build_claims(cfg, metrics)        # in evaluate, after every metric is in

Each claim reads measured numbers from ``m`` (the evaluate stage's metrics), names them in
``uses``, and compares them with an anchor from a paper, a table or a closed form. Claims on
recommenders are built only for the methods that ran (a failed or deselected method has no
metrics); those needing large samples or trained models are expected of standard and full.
"""

from __future__ import annotations

from topiclab.core.claims import ClaimBuilder, near
from topiclab.core.topic import Claim
from topiclab.plugins.causal_recsys.config import CausalRecsysConfig
from topiclab.plugins.causal_recsys.data import TRUE_ACE, naive_closed_form

LARGE = ["standard", "full"]
SCM_SOURCE = (
    "Arel-Bundock's front-door primer SCM: U~B(0.2), X~B(0.1+0.6U), M~B(0.3+0.5X), "
    "Y~B(0.1+0.3U+0.5M); ACE = 0.5·0.5"
)
PDA = "Zhang et al. 2021, PDA (SIGIR, arXiv 2105.06067)"
IPS = "Schnabel et al. 2016, Recommendations as Treatments (ICML)"


def _pm(m: dict[str, float], key: str, col: str = "ndcg20") -> str:
    return f"{m[f'{key}.{col}']:.4f} ± {m[f'{key}.{col}_se']:.4f}"


def scm_claims(cfg: CausalRecsysConfig, m: dict[str, float]) -> list[Claim]:
    naive = naive_closed_form()
    n = f"n = {cfg.scm.n:,}"
    c = ClaimBuilder(m, expected_in=LARGE)
    return [
        Claim(
            id="primer_front_door",
            statement="front door on the Primer's smoking/tar/cancer table: "
            "P(cancer | do(smoke)), P(cancer | do(no smoke))",
            value=f"{m['primer_do1']:.12f} / {m['primer_do0']:.12f}",
            anchor="0.5475 / 0.5025 (to 1e-12)",
            source="Pearl, Glymour & Jewell 2016, Primer, Table 3.1 and eq. 3.15",
            uses=["primer_do1", "primer_do0"],
            passed=abs(m["primer_do1"] - 0.5475) < 1e-12 and abs(m["primer_do0"] - 0.5025) < 1e-12,
        ),
        Claim(
            id="naive_biased",
            statement=f"the naive contrast is confounded by U ({n})",
            value=round(m["scm_naive"], 4),
            anchor=f"{naive:.4f} ± 0.01 (truth {TRUE_ACE})",
            source=f"{SCM_SOURCE}; E[Y|x] = 0.1 + 0.3·P(U=1|x) + 0.5·P(M=1|x)",
            uses=["scm_naive"],
            expected_in=LARGE,
            passed=abs(m["scm_naive"] - naive) < 0.01,
        ),
        Claim(
            id="intervention_is_truth",
            statement=f"the simulated intervention do(X) gives the effect "
            f"({cfg.scm.intervention_n:,} draws per arm)",
            value=round(m["scm_intervention"], 4),
            anchor=f"{TRUE_ACE} within 3 Monte-Carlo SEs",
            source=f"{SCM_SOURCE}; truncated factorisation (Pearl 2009, §3.2.3)",
            uses=["scm_intervention", "scm_intervention_se"],
            passed=abs(m["scm_intervention"] - TRUE_ACE) < 3 * m["scm_intervention_se"],
        ),
        c.on(
            "scm_backdoor",
            near(TRUE_ACE, 0.01),
            id="backdoor_recovers",
            statement=f"backdoor adjustment with U observed recovers the effect ({n})",
            anchor=f"{TRUE_ACE} ± 0.01",
            source="Pearl 2009, Theorem 3.3.2 (backdoor adjustment)",
        ),
        c.on(
            "scm_frontdoor",
            near(TRUE_ACE, 0.01),
            id="frontdoor_recovers",
            statement=f"front-door adjustment through M, U unobserved, recovers the effect ({n})",
            anchor=f"{TRUE_ACE} ± 0.01",
            source="Pearl 1995 (Biometrika), Theorem 3.3.4 in Pearl 2009 (front-door adjustment)",
        ),
    ]


def loss_claims(cfg: CausalRecsysConfig, m: dict[str, float]) -> list[Claim]:
    seeds = cfg.loss_check.seeds
    return [
        Claim(
            id="ips_loss_unbiased",
            statement=f"IPS estimate of a fixed model's loss over {seeds} loggings: "
            "bias in Monte-Carlo SEs",
            value=round(m["loss_ips_z"], 2),
            anchor="|bias| < 2 MC SEs",
            source=f"{IPS}: the IPS estimator is unbiased with true propensities",
            uses=["loss_ips_z"],
            expected_in=LARGE,
            passed=abs(m["loss_ips_z"]) < 2,
        ),
        Claim(
            id="naive_loss_biased",
            statement="the naive estimate (mean over shown pairs): bias in Monte-Carlo SEs",
            value=round(m["loss_naive_z"], 1),
            anchor="|bias| > 2 MC SEs",
            source=f"{IPS}: the naive estimator is biased under selection bias",
            uses=["loss_naive_z"],
            expected_in=LARGE,
            passed=abs(m["loss_naive_z"]) > 2,
        ),
        Claim(
            id="ips_higher_variance",
            statement="IPS pays with variance: SD of the IPS loss estimate over loggings, "
            "over the naive one's",
            value=round(m["loss_ips_sd"] / m["loss_naive_sd"], 2),
            anchor="> 1",
            source=f"{IPS} (variance of IPS); Swaminathan & Joachims 2015 (SNIPS)",
            uses=["loss_ips_sd", "loss_naive_sd"],
            expected_in=LARGE,
            passed=m["loss_ips_sd"] > m["loss_naive_sd"],
        ),
    ]


def rec_claims(cfg: CausalRecsysConfig, m: dict[str, float]) -> list[Claim]:
    c: list[Claim] = []
    worlds = f"{cfg.world.seeds} worlds"
    if "pd.gamma" in m:
        c.append(
            Claim(
                id="pd_gamma",
                statement=f"PD's popularity exponent γ̂ (mean over {worlds})",
                value=round(m["pd.gamma"], 3),
                anchor=f"{cfg.world.gamma} ± 0.1 (the world's)",
                source=f"{PDA}: the PD click model ELU'(f(u,i))·m_i^γ, γ fitted",
                uses=["pd.gamma"],
                expected_in=LARGE,
                passed=abs(m["pd.gamma"] - cfg.world.gamma) <= 0.1,
            )
        )
    if "bpr-mf.gini" in m:
        c.append(
            Claim(
                id="mf_amplifies_popularity",
                statement="naive BPR-MF concentrates its top-20 on popular items more than the "
                "training clicks are (Gini of item frequency)",
                value=f"{m['bpr-mf.gini']:.3f} vs {m['train_gini_clicks']:.3f}",
                anchor="recommendations' Gini > the training log's",
                source=f"{PDA}, introduction (MF amplifies popularity bias)",
                uses=["bpr-mf.gini", "train_gini_clicks"],
                expected_in=LARGE,
                passed=m["bpr-mf.gini"] > m["train_gini_clicks"],
            )
        )
    c += _versus_mf(cfg, m)
    return c


# Which test log judges which method, and why (the paper's own protocol):
# - PD removes popularity (do(I)): the intervened log, where Z is cut from the item;
# - PDA puts the predicted next-stage popularity back: the next stage's clicks as they come;
# - IPS undoes the exposure bias to recover the user's interest: the intervened log, too.
VERSUS_MF = {
    "pd": (
        "ndcg20_do",
        "PD beats naive BPR-MF on NDCG@20 on the intervened log (random exposure, popularity "
        "cut from the item)",
        f"{PDA}, deconfounded-training results (PD above MF)",
    ),
    "pda": (
        "ndcg20",
        "PDA (predicted popularity) beats naive BPR-MF on NDCG@20 on the next stage, random "
        "exposure, clicks with conformity",
        f"{PDA}, adjusted-inference results (PDA above MF on the next stage)",
    ),
    "bpr-ips": (
        "ndcg20_do",
        "IPS-weighted BPR-MF beats naive BPR-MF on NDCG@20 on the intervened log",
        f"{IPS}: MF-IPS above MF on missing-at-random test data (Yahoo! R3, Coat)",
    ),
}


def _versus_mf(cfg: CausalRecsysConfig, m: dict[str, float]) -> list[Claim]:
    c = []
    for key, (col, statement, source) in VERSUS_MF.items():
        if f"{key}.{col}" not in m or f"bpr-mf.{col}" not in m:
            continue
        c.append(
            Claim(
                id="ips_helps" if key == "bpr-ips" else f"{key}_beats_mf",
                statement=f"{statement} (mean ± SE over {cfg.world.seeds} worlds; MF "
                f"{_pm(m, 'bpr-mf', col)})",
                value=_pm(m, key, col),
                anchor="higher mean than MF",
                source=source,
                uses=[f"{key}.{col}", f"{key}.{col}_se", f"bpr-mf.{col}"],
                expected_in=LARGE,
                passed=m[f"{key}.{col}"] > m[f"bpr-mf.{col}"],
            )
        )
    return c


def build_claims(cfg: CausalRecsysConfig, m: dict[str, float]) -> list[Claim]:
    return scm_claims(cfg, m) + loss_claims(cfg, m) + rec_claims(cfg, m)
