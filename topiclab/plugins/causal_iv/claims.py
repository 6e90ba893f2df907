"""The topic's claims: what the post and its papers say, and this run's verdict on each.

    from topiclab.plugins.causal_iv.claims import build_claims
    claims = build_claims(cfg, metrics)        # in evaluate, after every metric is in

Each claim reads measured numbers from ``m`` (the evaluate stage's metrics), names them in
``uses``, and compares them with an anchor whose source is a paper, a data set or an equation
(closed forms, Card's data, the ICP theorem). Claims that need many Monte-Carlo repetitions
are expected of the standard and full profiles only (``expected_in``).
"""

from __future__ import annotations

from topiclab.core.claims import ClaimBuilder, at_least, at_most, below, between, equals, near
from topiclab.core.topic import Claim
from topiclab.plugins.causal_iv.config import CausalIVConfig
from topiclab.plugins.causal_iv.data import ols_plim

# Claims that need Monte-Carlo repetitions: quick's 10-30 repetitions only check the code path.
MONTE_CARLO = ["standard", "full"]
TSLS = "Angrist, Imbens & Rubin 1996 (JASA); β̂ = (X'P_Z X)⁻¹ X'P_Z Y"
TSLS_CI = "2SLS asymptotic normality: Var(β̂) = σ̂²(X̂'X̂)⁻¹, σ̂² from Y − Xβ̂"
WEAK = "Staiger & Stock 1997 (Econometrica 65(3)), weak instruments"


def build_claims(cfg: CausalIVConfig, m: dict[str, float]) -> list[Claim]:
    s = cfg.sem
    plim = ols_plim(s.pi, s.gamma, s.beta, s.delta)
    weak_plim = ols_plim(cfg.weak.pi, cfg.weak.gamma, s.beta, cfg.weak.delta)
    invalid_plim = s.beta + cfg.invalid.direct_effect / s.pi  # β + τ·Var(Z)/Cov(Z, X)
    on = ClaimBuilder(m).on
    c = [
        on(
            "ref_ols",
            near(plim, 0.05),
            id="ols_biased",
            statement=f"OLS is biased by the hidden confounder (n={s.n:,})",
            anchor=f"{plim:.3f} ± 0.05",
            source="closed form β + γδ·Var(U)/Var(X)",
        ),
        on(
            "ref_tsls",
            near(s.beta, 0.05),
            id="tsls_recovers",
            statement=f"2SLS recovers the causal effect (n={s.n:,})",
            anchor=f"{s.beta} ± 0.05",
            source=TSLS,
        ),
        on(
            "ref_wald_minus_tsls",
            at_most(1e-12 * abs(m["ref_tsls"])),
            id="wald_equals_2sls",
            statement="Wald ratio = 2SLS with one instrument",
            value=f"{m['ref_wald_minus_tsls']:.1e}",
            anchor="|difference| ≤ 1e-12·|β̂|",
            source="one instrument: Cov(Z, Y)/Cov(Z, X) = (X'P_Z X)⁻¹ X'P_Z Y",
            uses=["ref_wald_minus_tsls", "ref_tsls"],
        ),
        on(
            "ref_cf_minus_tsls",
            at_most(1e-10 * abs(m["ref_tsls"])),
            id="control_function_equals_2sls",
            statement="control-function coefficient = 2SLS (linear case)",
            value=f"{m['ref_cf_minus_tsls']:.1e}",
            anchor="|difference| ≤ 1e-10·|β̂|",
            source="Y on X and v̂ = X − X̂: the coefficient on X is 2SLS's",
            uses=["ref_cf_minus_tsls", "ref_tsls"],
        ),
        *monte_carlo_claims(cfg, m, weak_plim),
        on(
            "invalid_mean_tsls",
            near(invalid_plim, 0.05),
            id="invalid_bias",
            statement=f"invalid instrument (direct effect {cfg.invalid.direct_effect}): "
            "2SLS is biased as predicted (the expected failure)",
            anchor=f"{invalid_plim:.2f} ± 0.05",
            source="plim β + τ·Var(Z)/Cov(Z, X)",
        ),
        on(
            "sieve_mse",
            below(m["forbidden_mse"] / 3),
            id="sieve_vs_forbidden",
            statement="nonlinear outcome: sieve 2SLS recovers f, the forbidden regression does "
            "not (MSE of f̂ on the central 80% of X)",
            value=f"{m['sieve_mse']:.4f} vs {m['forbidden_mse']:.4f}",
            anchor="sieve MSE < forbidden MSE / 3",
            source="Newey & Powell 2003 (Econometrica 71(5)); E[f(X)|Z] ≠ f(E[X|Z])",
            uses=["sieve_mse", "forbidden_mse"],
        ),
        *card_claims(m),
        *icp_claims(cfg, m),
    ]
    if "refuters_passed" in m:
        c.append(
            on(
                "refuters_passed",
                equals(m["refuters_total"]),
                id="refuters",
                statement="DoWhy refuters (placebo, random common cause, "
                "data subset) do not overturn the IV estimate",
                value=f"{int(m['refuters_passed'])}/{int(m['refuters_total'])}",
                anchor="all pass",
                source="Sharma & Kiciman 2020, DoWhy (arXiv 2011.04216); rules in the table",
                uses=["refuters_passed", "refuters_total"],
                expected_in=MONTE_CARLO,
            )
        )
    return c


def monte_carlo_claims(cfg: CausalIVConfig, m: dict[str, float], weak_plim: float) -> list[Claim]:
    """Coverage of the confidence intervals, and the weak instrument's F, coverage and bias."""
    w = cfg.weak
    on = ClaimBuilder(m, expected_in=MONTE_CARLO).on
    return [
        on(
            "coverage_tsls",
            between(0.93, 0.97),
            id="tsls_coverage",
            statement=f"95% CI of 2SLS covers β over {cfg.coverage.reps} repetitions",
            digits=3,
            anchor="0.93–0.97",
            source=TSLS_CI,
        ),
        on(
            "coverage_ols",
            below(0.05),
            id="ols_coverage",
            statement="95% CI of OLS almost never covers β",
            digits=3,
            anchor="≈ 0 (< 0.05)",
            source="plim β̂_OLS = β + γδ·Var(U)/Var(X) ≠ β: intervals shrink around it",
        ),
        on(
            "weak_median_f",
            below(10),
            id="weak_f",
            statement=f"weak instrument (π={w.pi}, γ=δ={w.gamma:g}, n={w.n:,}): "
            "median first-stage F below 10",
            digits=2,
            anchor=f"< 10 (E[F] ≈ {1 + w.n * w.pi**2 / (w.gamma**2 + 1):.2f})",
            source="Staiger & Stock 1997 (F < 10 rule of thumb); E[F] = 1 + nπ²/(γ² + 1)",
        ),
        on(
            "weak_coverage_tsls",
            below(min(0.93, m["coverage_tsls"])),
            id="weak_coverage",
            statement="weak instrument: 2SLS coverage degrades",
            digits=3,
            anchor=f"< 0.93 and < strong-instrument coverage ({m['coverage_tsls']:.3f})",
            source=WEAK,
            uses=["weak_coverage_tsls", "coverage_tsls"],
        ),
        on(
            "weak_median_tsls",
            lambda v: cfg.sem.beta < v < weak_plim + 0.05,
            id="weak_median_bias",
            statement="weak instrument: median 2SLS moves toward OLS",
            digits=3,
            anchor=f"between {cfg.sem.beta} and the OLS limit {weak_plim:.2f}",
            source=f"{WEAK}: 2SLS biased toward OLS",
        ),
    ]


def card_claims(m: dict[str, float]) -> list[Claim]:
    """Card (1995)'s returns to schooling, against the published reference estimates."""
    on = ClaimBuilder(m).on
    return [
        on(
            "card_ols",
            lambda v: round(v, 4) == 0.0712,
            id="card_ols",
            statement="Card (1995) data: OLS return to schooling (educ)",
            anchor="0.0712",
            source="Card 1995 data (causaldata close_college), statsmodels OLS",
        ),
        on(
            "card_tsls",
            lambda v: round(v, 4) == 0.1242 and round(m["card_tsls_se"], 4) == 0.0499,
            id="card_2sls",
            statement="Card (1995) data: 2SLS with nearc4 as instrument",
            anchor="0.1242 (SE 0.0499)",
            source="Card 1995 data; linearmodels IV2SLS, unadjusted",
            uses=["card_tsls", "card_tsls_se"],
        ),
        on(
            "card_first_stage_f",
            near(15.8, 0.05),
            id="card_first_stage",
            statement="Card: first-stage F for nearc4",
            digits=2,
            anchor="≈ 15.8 (> 10: not weak)",
            source="Card 1995 data; linearmodels first_stage",
        ),
    ]


def icp_claims(cfg: CausalIVConfig, m: dict[str, float]) -> list[Claim]:
    """Invariant causal prediction: no false parents, and stability under a new intervention."""
    on = ClaimBuilder(m, expected_in=MONTE_CARLO).on
    return [
        on(
            "icp_p_subset",
            at_least(1 - cfg.icp.alpha),
            id="icp_no_false_parents",
            statement=f"ICP: P(Ŝ ⊆ true parents) over {cfg.icp.reps} repetitions",
            digits=3,
            anchor=f"≥ {1 - cfg.icp.alpha:.2f}",
            source="Peters, Bühlmann & Meinshausen 2016, Theorem 1",
        ),
        on(
            "icp_mse_ratio",
            at_least(3),
            id="icp_stable_under_new_intervention",
            statement="new test-time intervention do(X3): pooled regression's MSE over the "
            "causal model's (Y on Ŝ)",
            digits=2,
            anchor="several times larger (≥ 3)",
            source="Peters, Bühlmann & Meinshausen 2016: Y | X_S* invariant under do(X)",
        ),
    ]
