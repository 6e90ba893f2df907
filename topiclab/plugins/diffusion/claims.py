"""The diffusion topic's claims: DDPM's schedule, sampling quality on the ring, DDIM, digits.

    from topiclab.plugins.diffusion.claims import build_claims
    claims = build_claims(cfg, metrics, schedule_warned=True, ddim=("ring", rows, 8))

Each claim reads the evaluate stage's metrics (``ring.model.modes``, ...) and names them in
``uses``, so a metric that is not finite fails it. The DDIM claim reads the sampler table's
rows (timings are not metrics: they vary run to run). Claims about the trained model are
expected of the standard and full profiles only (``expected_in``).
"""

from __future__ import annotations

from typing import Any

from topiclab.core.claims import ClaimBuilder, at_least, equals
from topiclab.core.topic import PROFILES, Claim
from topiclab.plugins.diffusion.config import DiffusionConfig

HQ_MIN, MMD_RATIO_MIN = 0.8, 5.0
# Claims about a trained model: quick's few hundred steps only check the code path.
TRAINED = ["standard", "full"]
# (dataset, rows of its sampler table, number of modes or None)
DDIMRows = tuple[str, list[dict[str, Any]], int | None]


def build_claims(
    cfg: DiffusionConfig,
    m: dict[str, float],
    schedule_warned: bool,
    ddim: DDIMRows | None,
) -> list[Claim]:
    """Every claim of the run, in report order."""
    claims = schedule_claims(m, schedule_warned)
    if ddim is not None:
        claims.append(ddim_claim(m, *ddim))
    if "ring" in cfg.toy.datasets:
        claims += ring_claims(cfg, m)
    if cfg.digits.enabled:
        claims.append(digits_claim(m))
    return claims


def schedule_claims(m: dict[str, float], warned: bool) -> list[Claim]:
    """ᾱ_T of DDPM's schedule, and the T = 100 pitfall that the check must warn about."""
    on = ClaimBuilder(m).on
    return [
        on(
            "schedule.alpha_bar_T_1000",
            lambda v: abs(v / 4.0358e-5 - 1) < 1e-3,
            id="schedule-alpha-bar-T",
            statement="DDPM's linear schedule (T=1000, β 1e-4..0.02) "
            "ends at ᾱ_T ≈ 4.04e-5, so x_T ≈ N(0, I)",
            digits=None,
            anchor="4.04e-5",
            source="Ho et al. 2020 (DDPM) §4: β 1e-4..0.02 linear; ᾱ_T = ∏(1 − β_t)",
        ),
        on(
            "schedule.alpha_bar_T_100_same_endpoints",
            lambda v: warned and abs(v - 0.364) < 5e-4,
            id="schedule-t100-pitfall",
            statement="T=100 with the same endpoints leaves "
            "ᾱ_T ≈ 0.364 and the schedule check warns",
            digits=None,
            anchor="0.364, warning raised",
            source="ᾱ_T = ∏(1 − β_t), T = 100, Ho et al. 2020's endpoints",
        ),
    ]


def ddim_claim(
    m: dict[str, float], name: str, rows: list[dict[str, Any]], n_modes: int | None
) -> Claim:
    """DDIM at 50 steps (or the last DDIM row) against ancestral sampling (the first row)."""
    best = next((r for r in rows if r["steps"] == 50), rows[-1])
    base = rows[0]
    speedup = base["seconds"] / max(best["seconds"], 1e-9)
    # Quality bar: the ring claims' own (all modes, ≥ 80 % HQ); without modes, MMD ≤ 10×.
    if n_modes is not None:
        quality = best.get("modes") == n_modes and best["hq_frac"] >= HQ_MIN
    else:
        quality = best["mmd"] <= 10 * max(base["mmd"], 1e-4)
    metric = f"{name}.ddim{best['steps']}.mmd"
    return Claim(
        id="ddim-speed-quality",
        statement=f"DDIM with {best['steps']} steps keeps the quality bar of "
        f"{base['steps']}-step ancestral sampling on {name} (all modes and ≥ 80% "
        "high-quality samples) at ≥ 10× the speed",
        value=round(speedup, 1),
        anchor="speed-up ≥ 10×",
        source="Song et al. 2021 (DDIM) §4; table samplers_" + name,
        expected_in=TRAINED,
        uses=[metric] if metric in m else [],
        passed=bool(speedup >= 10 and quality),
    )


def ring_claims(cfg: DiffusionConfig, m: dict[str, float]) -> list[Claim]:
    """Mode coverage, sample quality and MMD of the trained model on the 8-mode ring."""
    c = {k.removeprefix("ring."): v for k, v in m.items() if k.startswith("ring.")}
    on = ClaimBuilder(m, expected_in=TRAINED).on
    claims = [
        on(
            "ring.model.modes",
            equals(8),
            id="ring-modes",
            statement=f"the trained model ({cfg.trainer}) covers all 8 modes of the ring",
            digits=None,
            anchor="8 of 8",
            source="Srivastava et al. 2017 (VEEGAN) §5: modes within 3σ",
        ),
        on(
            "ring.model.hq_frac",
            at_least(HQ_MIN),
            id="ring-high-quality",
            statement=f"at least 80% of the trained model's ({cfg.trainer}) ring "
            "samples are high-quality (within 3σ of a mode)",
            anchor=f"≥ {HQ_MIN} (exact samples: 0.9889)",
            source="Srivastava et al. 2017 (VEEGAN) §5; Lin et al. 2018 (PacGAN) Table 1",
        ),
        on(
            "ring.mmd_ratio_gaussian",
            at_least(MMD_RATIO_MIN),
            id="ring-mmd-vs-gaussian",
            statement=f"the trained model's ({cfg.trainer}) MMD to test data is at "
            "least 5× smaller than a fitted single Gaussian's",
            digits=1,
            anchor=f"≥ {MMD_RATIO_MIN}×",
            source="Gretton et al. 2012 (JMLR 13), MMD with RBF kernels",
            uses=["ring.mmd_ratio_gaussian", "ring.model.mmd", "ring.gaussian.mmd"],
        ),
        on(
            "ring.exact.hq_frac",
            lambda v: c["exact.modes"] == 8 and v >= 0.95,
            id="ring-exact-score",
            statement="sampling with the exact mixture score covers "
            "all modes with ≈ 99% high-quality samples (no mode collapse by construction)",
            anchor="8/8 modes, HQ ≥ 0.95",
            source="Ho et al. 2020 Alg. 2 with ε* = −√(1−ᾱ_t)·∇log q_t; 1 − e^{−9/2} in 3σ",
            uses=["ring.exact.modes", "ring.exact.hq_frac"],
            expected_in=PROFILES,
        ),
    ]
    if "true_nll_nats_per_dim" in c:
        gap = c["bound_nats_per_dim"] - c["true_nll_nats_per_dim"]
        claims.append(
            Claim(
                id="ring-bound-above-nll",
                statement="the test −ELBO (nats/dim) is above the true "
                "NLL of the test points, as a bound must be",
                value=round(gap, 4),
                anchor="bound − true NLL ≥ −2 s.e.",
                source="E[−ELBO] ≥ E[−log p_θ] ≥ H(p)",
                uses=[
                    "ring.bound_nats_per_dim",
                    "ring.true_nll_nats_per_dim",
                    "ring.bound_se",
                ],
                passed=gap >= -2 * c["bound_se"],
            )
        )
    return claims


def digits_claim(m: dict[str, float]) -> Claim:
    return ClaimBuilder(m, expected_in=TRAINED).on(
        "digits.classes_covered",
        equals(10),
        id="digits-classes",
        statement="the digits classifier recognises DDPM samples "
        "(confidence ≥ 0.9) in all 10 classes",
        digits=None,
        anchor="10 of 10 classes",
        source="Salimans et al. 2016 (Inception Score), with a digits classifier",
    )
