"""The gato topic's claims: Reed et al. 2022 ("A Generalist Agent") checked on this run.

    from topiclab.plugins.gato.claims import build_claims
    claims = build_claims(metrics, tasks, errors)    # from the evaluate stage's values

Each claim names the metrics it reads (``uses``): one that is not finite (a task whose
environment raised) fails it. A claim over every task is judged on the task that decides it
(the lowest score, the lowest interval end, ...): ``ClaimBuilder.on`` that task's metric, with
the other tasks' metrics in ``uses``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from topiclab.core.claims import ClaimBuilder, above, at_least, at_most
from topiclab.core.topic import Claim
from topiclab.nn import gato_tokenizer as gt
from topiclab.plugins.gato import tasks as tk

PAPER = "Reed et al. 2022, A Generalist Agent (arXiv 2205.06175)"
STANDARD_AND_FULL = ["standard", "full"]
NORMALISED = "100·(score − random)/(expert − random)"


def deciding(mt: Mapping[str, float], keys: list[str], pick: Callable = min) -> str:
    """The key of ``keys`` whose value decides a claim over all tasks (``min`` or ``max``)."""
    return str(pick(keys, key=mt.__getitem__))


def control_claims(mt: dict[str, float], tasks: list[str], errors: dict[str, str]) -> list[Claim]:
    on = ClaimBuilder(mt, expected_in=STANDARD_AND_FULL).on
    claims = [
        on(
            f"score_prompt_{name}",
            at_least(50),
            id=f"expert_50_{name}",
            statement=f"One set of weights reaches ≥ 50 % of expert on {name} (real roll-outs)",
            digits=2,
            anchor="≥ 50 (normalised score)",
            source=f"{PAPER}, sec. 4.1 (450 of 604 tasks ≥ 50 %); {NORMALISED}",
            note=errors.get(name, ""),
        )
        for name in tasks
    ]
    keys = [f"score_prompt_{n}" for n in tasks]
    highs = [f"vs_specialist_high_{n}" for n in tasks]
    effects = [f"prompt_effect_low_{n}" for n in tasks]
    return [
        *claims,
        on(
            deciding(mt, keys),
            at_least(80),
            id="expert_80_all",
            statement="Every control task at ≥ 80 % of expert (the issue's target)",
            digits=2,
            anchor="min over tasks ≥ 80",
            source=f"{PAPER}, Fig. 5 (80 % line)",
            uses=keys,
        ),
        on(
            deciding(mt, highs),
            at_least(0),
            id="generalist_vs_specialists",
            statement="Sharing the weights costs no control task significantly: generalist − "
            "specialist (same size, that task's data, the generalist's compute on it), paired "
            "over roll-out seeds, has a 95 % CI reaching ≥ 0 on every task",
            digits=2,
            anchor="min over tasks of the CI's upper end ≥ 0",
            source=f"{PAPER}: specialist single-domain agents (Meta-World 79M, Atari 1.18B) "
            "against the generalist",
            uses=highs,
        ),
        on(
            deciding(mt, effects, max),
            above(0),
            id="prompt_raises_score",
            statement="A prompt demonstration raises the normalised score on some task "
            "(95 % CI > 0)",
            digits=2,
            anchor="max over tasks of the CI's lower end > 0",
            source=f"{PAPER}, sec. 2.3 (prompt conditioning) and sec. 5.2",
            uses=effects,
        ),
    ]


def frozen_claim(mt: dict[str, float], tasks: list[str]) -> Claim:
    """Random and expert scores against their constants: the value is the worst task's summed
    deviation, not one metric, so the claim is built directly."""
    frozen = [f"{w}_{n}" for n in tasks for w in ("random", "expert")]
    worst = max(
        abs(mt[f"random_{n}"] - tk.RANDOM[n]) + abs(mt[f"expert_{n}"] - tk.EXPERT[n]) for n in tasks
    )
    return Claim(
        id="frozen_scores",
        statement="Random and expert scores reproduce their frozen constants",
        value=round(worst, 6),
        anchor="|measured − frozen| ≤ 0.01 (seeds 0..49)",
        source="gymnasium 1.4.0 environments, scripted experts",
        uses=frozen,
        passed=worst <= 0.01,
    )


def build_claims(mt: dict[str, float], tasks: list[str], errors: dict[str, str]) -> list[Claim]:
    on = ClaimBuilder(mt, expected_in=STANDARD_AND_FULL).on
    everywhere = ClaimBuilder(mt).on
    in_range = mt["continuous_ids_in_range"] == 1.0
    return [
        *control_claims(mt, tasks, errors),
        on(
            "digits_accuracy",
            at_least(0.90),
            id="digits_accuracy",
            statement="The same weights classify held-out digits",
            anchor="≥ 0.90",
            source="scikit-learn digits (UCI optical digits), held-out last images",
        ),
        on(
            "text_bpc_ratio",
            at_most(1.10),
            id="text_vs_specialist",
            statement="Text bits per character within 10 % of a text-only specialist of the same "
            "size (the generalist's text sequences and steps, text's share of its batch)",
            anchor="gato / specialist ≤ 1.10",
            source=f"{PAPER}, sec. 5.2 (generalist vs specialist); bits/char = −mean log₂ p",
        ),
        everywhere(
            "mu_law_max_error_encoded",
            lambda v: in_range and v <= gt.HALF_BIN * (1 + 1e-9),
            id="mu_law_half_bin",
            statement="μ-law + 1,024 bins round trip within half a bin",
            digits=None,
            anchor=f"≤ {gt.HALF_BIN:.3e} (encoded space)",
            source=f"{PAPER}, sec. 2.1: μ = 100, M = 256, 1,024 uniform bins",
            uses=["mu_law_max_error_encoded", "continuous_ids_in_range"],
        ),
        everywhere(
            "mu_law_max_error_raw_unit",
            at_most(0.01),
            id="mu_law_raw_error",
            statement="Round-trip error in raw units over |x| ≤ 1",
            digits=5,
            anchor="≈ 0.0099 (≤ 0.01)",
            source="inverse μ-law at the bin centres, μ = 100, M = 256",
        ),
        frozen_claim(mt, tasks),
    ]
