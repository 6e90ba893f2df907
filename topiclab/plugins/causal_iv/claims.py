"""The topic's claims: what the post and its papers say, and this run's verdict on each.

Each claim reads measured numbers from ``m`` (the evaluate stage's metrics), names them in
``uses``, and compares them with an anchor whose source is a paper, a data set or an equation
(closed forms, Card's data, the ICP theorem). Claims that need many Monte-Carlo repetitions
are expected of the standard and full profiles only (``expected_in``).
"""

from __future__ import annotations

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
    c = [
        Claim(
            id="ols_biased",
            statement=f"OLS is biased by the hidden confounder (n={s.n:,})",
            value=round(m["ref_ols"], 4),
            anchor=f"{plim:.3f} ± 0.05",
            source="closed form β + γδ·Var(U)/Var(X)",
            uses=["ref_ols"],
            passed=abs(m["ref_ols"] - plim) < 0.05,
        ),
        Claim(
            id="tsls_recovers",
            statement=f"2SLS recovers the causal effect (n={s.n:,})",
            value=round(m["ref_tsls"], 4),
            anchor=f"{s.beta} ± 0.05",
            source=TSLS,
            uses=["ref_tsls"],
            passed=abs(m["ref_tsls"] - s.beta) < 0.05,
        ),
        Claim(
            id="wald_equals_2sls",
            statement="Wald ratio = 2SLS with one instrument",
            value=f"{m['ref_wald_minus_tsls']:.1e}",
            anchor="|difference| ≤ 1e-12·|β̂|",
            source="one instrument: Cov(Z, Y)/Cov(Z, X) = (X'P_Z X)⁻¹ X'P_Z Y",
            uses=["ref_wald_minus_tsls", "ref_tsls"],
            passed=m["ref_wald_minus_tsls"] <= 1e-12 * abs(m["ref_tsls"]),
        ),
        Claim(
            id="control_function_equals_2sls",
            statement="control-function coefficient = 2SLS (linear case)",
            value=f"{m['ref_cf_minus_tsls']:.1e}",
            anchor="|difference| ≤ 1e-10·|β̂|",
            source="Y on X and v̂ = X − X̂: the coefficient on X is 2SLS's",
            uses=["ref_cf_minus_tsls", "ref_tsls"],
            passed=m["ref_cf_minus_tsls"] <= 1e-10 * abs(m["ref_tsls"]),
        ),
        Claim(
            id="tsls_coverage",
            statement=f"95% CI of 2SLS covers β over {cfg.coverage.reps} repetitions",
            value=round(m["coverage_tsls"], 3),
            anchor="0.93–0.97",
            source=TSLS_CI,
            uses=["coverage_tsls"],
            expected_in=MONTE_CARLO,
            passed=0.93 <= m["coverage_tsls"] <= 0.97,
        ),
        Claim(
            id="ols_coverage",
            statement="95% CI of OLS almost never covers β",
            value=round(m["coverage_ols"], 3),
            anchor="≈ 0 (< 0.05)",
            source="plim β̂_OLS = β + γδ·Var(U)/Var(X) ≠ β: intervals shrink around it",
            uses=["coverage_ols"],
            expected_in=MONTE_CARLO,
            passed=m["coverage_ols"] < 0.05,
        ),
        Claim(
            id="weak_f",
            statement=f"weak instrument (π={cfg.weak.pi}, γ=δ={cfg.weak.gamma:g}, "
            f"n={cfg.weak.n:,}): "
            "median first-stage F below 10",
            value=round(m["weak_median_f"], 2),
            anchor=f"< 10 (E[F] ≈ {1 + cfg.weak.n * cfg.weak.pi**2 / (cfg.weak.gamma**2 + 1):.2f})",
            source="Staiger & Stock 1997 (F < 10 rule of thumb); E[F] = 1 + nπ²/(γ² + 1)",
            uses=["weak_median_f"],
            expected_in=MONTE_CARLO,
            passed=m["weak_median_f"] < 10,
        ),
        Claim(
            id="weak_coverage",
            statement="weak instrument: 2SLS coverage degrades",
            value=round(m["weak_coverage_tsls"], 3),
            anchor=f"< 0.93 and < strong-instrument coverage ({m['coverage_tsls']:.3f})",
            source=WEAK,
            uses=["weak_coverage_tsls", "coverage_tsls"],
            expected_in=MONTE_CARLO,
            passed=m["weak_coverage_tsls"] < min(0.93, m["coverage_tsls"]),
        ),
        Claim(
            id="weak_median_bias",
            statement="weak instrument: median 2SLS moves toward OLS",
            value=round(m["weak_median_tsls"], 3),
            anchor=f"between {s.beta} and the OLS limit {weak_plim:.2f}",
            source=f"{WEAK}: 2SLS biased toward OLS",
            uses=["weak_median_tsls"],
            expected_in=MONTE_CARLO,
            passed=s.beta < m["weak_median_tsls"] < weak_plim + 0.05,
        ),
        Claim(
            id="invalid_bias",
            statement=f"invalid instrument (direct effect {cfg.invalid.direct_effect}): "
            "2SLS is biased as predicted (the expected failure)",
            value=round(m["invalid_mean_tsls"], 4),
            anchor=f"{invalid_plim:.2f} ± 0.05",
            source="plim β + τ·Var(Z)/Cov(Z, X)",
            uses=["invalid_mean_tsls"],
            passed=abs(m["invalid_mean_tsls"] - invalid_plim) < 0.05,
        ),
        Claim(
            id="sieve_vs_forbidden",
            statement="nonlinear outcome: sieve 2SLS recovers f, the forbidden regression does "
            "not (MSE of f̂ on the central 80% of X)",
            value=f"{m['sieve_mse']:.4f} vs {m['forbidden_mse']:.4f}",
            anchor="sieve MSE < forbidden MSE / 3",
            source="Newey & Powell 2003 (Econometrica 71(5)); E[f(X)|Z] ≠ f(E[X|Z])",
            uses=["sieve_mse", "forbidden_mse"],
            passed=m["sieve_mse"] < m["forbidden_mse"] / 3,
        ),
        Claim(
            id="card_ols",
            statement="Card (1995) data: OLS return to schooling (educ)",
            value=round(m["card_ols"], 4),
            anchor="0.0712",
            source="Card 1995 data (causaldata close_college), statsmodels OLS",
            uses=["card_ols"],
            passed=round(m["card_ols"], 4) == 0.0712,
        ),
        Claim(
            id="card_2sls",
            statement="Card (1995) data: 2SLS with nearc4 as instrument",
            value=round(m["card_tsls"], 4),
            anchor="0.1242 (SE 0.0499)",
            source="Card 1995 data; linearmodels IV2SLS, unadjusted",
            uses=["card_tsls", "card_tsls_se"],
            passed=round(m["card_tsls"], 4) == 0.1242 and round(m["card_tsls_se"], 4) == 0.0499,
        ),
        Claim(
            id="card_first_stage",
            statement="Card: first-stage F for nearc4",
            value=round(m["card_first_stage_f"], 2),
            anchor="≈ 15.8 (> 10: not weak)",
            source="Card 1995 data; linearmodels first_stage",
            uses=["card_first_stage_f"],
            passed=abs(m["card_first_stage_f"] - 15.8) < 0.05,
        ),
        Claim(
            id="icp_no_false_parents",
            statement=f"ICP: P(Ŝ ⊆ true parents) over {cfg.icp.reps} repetitions",
            value=round(m["icp_p_subset"], 3),
            anchor=f"≥ {1 - cfg.icp.alpha:.2f}",
            source="Peters, Bühlmann & Meinshausen 2016, Theorem 1",
            uses=["icp_p_subset"],
            expected_in=MONTE_CARLO,
            passed=m["icp_p_subset"] >= 1 - cfg.icp.alpha,
        ),
        Claim(
            id="icp_stable_under_new_intervention",
            statement="new test-time intervention do(X3): pooled regression's MSE over the "
            "causal model's (Y on Ŝ)",
            value=round(m["icp_mse_ratio"], 2),
            anchor="several times larger (≥ 3)",
            source="Peters, Bühlmann & Meinshausen 2016: Y | X_S* invariant under do(X)",
            uses=["icp_mse_ratio"],
            expected_in=MONTE_CARLO,
            passed=m["icp_mse_ratio"] >= 3,
        ),
    ]
    if "refuters_passed" in m:
        c.append(
            Claim(
                id="refuters",
                statement="DoWhy refuters (placebo, random common cause, "
                "data subset) do not overturn the IV estimate",
                value=f"{int(m['refuters_passed'])}/{int(m['refuters_total'])}",
                anchor="all pass",
                source="Sharma & Kiciman 2020, DoWhy (arXiv 2011.04216); rules in the table",
                uses=["refuters_passed", "refuters_total"],
                expected_in=MONTE_CARLO,
                passed=m["refuters_passed"] == m["refuters_total"],
            )
        )
    return c
