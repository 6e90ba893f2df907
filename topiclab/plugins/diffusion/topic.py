"""Topic ``diffusion``: DDPM on 2-D mixtures and 8×8 digits, against closed forms and baselines.

    topiclab run diffusion --profile quick
    python -c "from topiclab.core.stages import run_direct; run_direct('diffusion', 'standard')"

The 2-D part takes any trainer of task ``generative`` (``--set trainer=...``): MMD, sliced
Wasserstein and mode coverage need only samples. The bound, the DDIM table and the trajectory
run only when the trainer offers ``nll_bound`` / ``sample_ddim`` / ``trajectory`` (DDPM does).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import torch

from topiclab.core.topic import Claim, StageContext, StageResult, Topic
from topiclab.nn import diffusion as D
from topiclab.nn.generative import GENERATIVE_TASK
from topiclab.nn.sample_metrics import frechet_distance, mmd_rbf, sliced_wasserstein
from topiclab.nn.threads import torch_threads
from topiclab.plugins.diffusion.config import FULL, QUICK, DiffusionConfig
from topiclab.plugins.diffusion.data import load_digits_images, mixture, sample_2d

HQ_MIN, MMD_RATIO_MIN = 0.8, 5.0


class DiffusionTopic(Topic):
    key = "diffusion"
    title = "Diffusion models (DDPM)"
    summary = "DDPM from the closed forms up: schedules, bound, samplers, 2-D mixtures, digits."
    Config = DiffusionConfig
    profiles = {"quick": QUICK, "full": FULL}

    # --- trainers through the registry ----------------------------------------------------

    def _trainer_options(self, cfg: DiffusionConfig, seed: int, image: bool) -> dict[str, Any]:
        if image:
            d = cfg.digits
            return {
                "denoiser": "unet",
                "T": d.T,
                "beta_end": d.beta_end,
                "steps": d.steps,
                "batch": d.batch,
                "lr": d.lr,
                "width": d.width,
                "seed": seed,
            }
        t = cfg.toy
        opts: dict[str, Any] = {"seed": seed}
        if cfg.trainer == "ddpm":
            opts |= {
                "T": t.T,
                "beta_end": t.beta_end,
                "steps": t.steps,
                "batch": t.batch,
                "lr": t.lr,
                "hidden": t.hidden,
                "layers": t.layers,
            }
        return opts | cfg.trainer_options

    def _build(self, ctx: StageContext, key: str, options: dict[str, Any]) -> Any:
        spec = ctx.registry.trainer(key, task=GENERATIVE_TASK)
        config = spec.config.model_validate(options) if spec.config else options
        return spec.build(config)

    # --- stages ---------------------------------------------------------------------------

    def generate(self, ctx: StageContext) -> StageResult:
        cfg: DiffusionConfig = ctx.config  # type: ignore[assignment]
        files, params = {}, {}
        for i, name in enumerate(cfg.toy.datasets):
            for split, n, offset in (("train", cfg.toy.n_train, 0), ("test", cfg.toy.n_test, 1)):
                path = ctx.path(f"{name}_{split}.npy")
                np.save(path, sample_2d(name, n, seed=1000 * cfg.seed + 10 * i + offset))
                files[f"{name}_{split}"] = str(path)
        if cfg.digits.enabled:
            images, labels = load_digits_images()
            order = np.random.default_rng(cfg.seed).permutation(len(images))
            n_test = len(images) // 6  # 299 test images, the rest to train on
            for split, idx in (("test", order[:n_test]), ("train", order[n_test:])):
                np.save(ctx.path(f"digits_{split}.npy"), images[idx])
                np.save(ctx.path(f"digits_{split}_labels.npy"), labels[idx])
                files[f"digits_{split}"] = str(ctx.path(f"digits_{split}.npy"))
                files[f"digits_{split}_labels"] = str(ctx.path(f"digits_{split}_labels.npy"))
            params["digits_train"] = len(images) - n_test
        return StageResult(files=files, params=params | {"datasets": cfg.toy.datasets})

    def train(self, ctx: StageContext, data: StageResult) -> StageResult:
        cfg: DiffusionConfig = ctx.config  # type: ignore[assignment]
        result = StageResult()
        jobs = [(name, cfg.trainer, False) for name in cfg.toy.datasets]
        if cfg.digits.enabled:
            jobs.append(("digits", cfg.digits.trainer, True))
        with torch_threads(cfg.torch_threads):
            for i, (name, key, image) in enumerate(jobs):
                options = self._trainer_options(cfg, cfg.seed * 100 + i, image)
                trainer = self._build(ctx, key, options)
                x = np.load(data.files[f"{name}_train"])
                with ctx.progress(
                    f"train {key} {name}", total=int(options.get("steps", 1)), child=name
                ) as progress:
                    trainer.fit(x, progress=progress)
                # Optional parts of the generative interface: a state to reload in evaluate,
                # and a torch module for the tracker to log.
                if hasattr(trainer, "save"):
                    trainer.save(ctx.path(f"{name}.state"))
                    result.files[f"{name}_state"] = str(ctx.path(f"{name}.state"))
                if hasattr(trainer, "module"):
                    torch.save(trainer.module(), ctx.path(f"{key}-{name}.pt"))
                    result.models[f"{key}-{name}"] = str(ctx.path(f"{key}-{name}.pt"))
                n = cfg.digits.n_samples if image else cfg.toy.n_samples
                start = time.perf_counter()
                np.save(ctx.path(f"{name}_samples.npy"), trainer.sample(n, seed=cfg.seed))
                seconds = time.perf_counter() - start
                if hasattr(trainer, "history") and trainer.history:
                    result.tables[f"loss_{name}"] = ctx.write_table(
                        f"loss_{name}.csv", trainer.history
                    )
                    result.metrics[f"{name}.final_loss"] = trainer.history[-1]["loss_avg"]
                result.files[f"{name}_samples"] = str(ctx.path(f"{name}_samples.npy"))
                result.data[name] = {"trainer": key, "options": options, "sample_seconds": seconds}
        return result

    def evaluate(self, ctx: StageContext, data: StageResult, trained: StageResult) -> StageResult:
        from topiclab.plugins.diffusion.evaluation import Evaluation

        cfg: DiffusionConfig = ctx.config  # type: ignore[assignment]
        with torch_threads(cfg.torch_threads), warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)
            return Evaluation(self, ctx, cfg, data, trained).run()

    # used by Evaluation to rebuild a trainer from its saved state
    def reload(
        self, ctx: StageContext, cfg: DiffusionConfig, trained: StageResult, name: str
    ) -> Any:
        info = trained.data[name]
        trainer = self._build(ctx, info["trainer"], info["options"])
        if hasattr(trainer, "load") and f"{name}_state" in trained.files:
            trainer.load(trained.files[f"{name}_state"])
        return trainer


def schedule_claims() -> tuple[list[Claim], dict[str, float]]:
    """ᾱ_T of DDPM's schedule, and the T = 100 pitfall that the check must warn about."""
    ddpm = D.check_schedule(D.make_schedule("linear", 1000, check=False))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        short = D.check_schedule(D.make_schedule("linear", 100, check=False))
    warned = any(issubclass(w.category, D.ScheduleWarning) for w in caught)
    claims = [
        Claim(
            id="schedule-alpha-bar-T",
            statement="DDPM's linear schedule (T=1000, β 1e-4..0.02) "
            "ends at ᾱ_T ≈ 4.04e-5, so x_T ≈ N(0, I)",
            value=ddpm["alpha_bar_T"],
            anchor="4.04e-5",
            source="Ho et al. 2020 schedule; reference 05 (computed)",
            passed=abs(ddpm["alpha_bar_T"] / 4.0358e-5 - 1) < 1e-3,
        ),
        Claim(
            id="schedule-t100-pitfall",
            statement="T=100 with the same endpoints leaves "
            "ᾱ_T ≈ 0.364 and the schedule check warns",
            value=short["alpha_bar_T"],
            anchor="0.364, warning raised",
            source="reference 05 (computed)",
            passed=warned and abs(short["alpha_bar_T"] - 0.364) < 5e-4,
        ),
    ]
    return claims, {
        "schedule.alpha_bar_T_1000": ddpm["alpha_bar_T"],
        "schedule.alpha_bar_T_100_same_endpoints": short["alpha_bar_T"],
    }


def sample_distances(samples: np.ndarray, test: np.ndarray, seed: int) -> dict[str, float]:
    return {"mmd": mmd_rbf(samples, test), "swd": sliced_wasserstein(samples, test, seed=seed)}


def baselines_2d(train: np.ndarray, n: int, n_components: int, seed: int) -> dict[str, np.ndarray]:
    """A single Gaussian and a GMM fitted to the training points, sampled ``n`` times."""
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(seed)
    gauss = rng.multivariate_normal(train.mean(0), np.cov(train, rowvar=False), n)
    gmm = GaussianMixture(n_components, random_state=seed).fit(train)
    return {"gaussian": gauss, "gmm": gmm.sample(n)[0][rng.permutation(n)]}


def exact_samples(name: str, T: int, beta_end: float, n: int, seed: int) -> np.ndarray | None:
    mix = mixture(name)
    if mix is None:
        return None
    s = D.make_schedule("linear", T, beta_end=beta_end)
    eps = D.mixture_eps(s, torch.as_tensor(mix.means), mix.std)
    x, _ = D.ancestral_sample(s, eps, (n, 2), generator=torch.Generator().manual_seed(seed))
    return x.numpy()


def true_nll_per_dim(name: str, x: np.ndarray) -> float | None:
    mix = mixture(name)
    if mix is None:
        return None
    logp = D.mixture_log_prob(torch.as_tensor(x), torch.as_tensor(mix.means), mix.std)
    return float(-logp.mean()) / x.shape[1]


def digits_classifier(x: np.ndarray, y: np.ndarray, seed: int) -> Any:
    """A small MLP digits classifier; its hidden layer gives the features of the Fréchet
    distance (an offline, 8×8 stand-in for FID's Inception features)."""
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, random_state=seed)
    return clf.fit(x.reshape(len(x), -1), y)


def classifier_features(clf: Any, x: np.ndarray) -> np.ndarray:
    h = x.reshape(len(x), -1) @ clf.coefs_[0] + clf.intercepts_[0]
    return np.maximum(h, 0.0)


def frechet(clf: Any, a: np.ndarray, b: np.ndarray) -> float:
    return frechet_distance(classifier_features(clf, a), classifier_features(clf, b))
