"""The evaluate stage of the diffusion topic: metrics, tables and figures; the claims come
from ``claims.py``.

    from topiclab.plugins.diffusion.evaluate import evaluate
    result = evaluate(ctx, cfg, data, trained)

Sample-based parts (MMD, SWD, modes) work for any generative trainer; the bound, the DDIM
table and the trajectory only for trainers that offer them (``hasattr``).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import torch

from topiclab.core.topic import StageContext, StageResult
from topiclab.nn import diffusion as D
from topiclab.nn.sample_metrics import frechet_distance, mmd_rbf, mode_metrics, sliced_wasserstein
from topiclab.nn.threads import torch_threads
from topiclab.plugins.diffusion import figures
from topiclab.plugins.diffusion.claims import DDIMRows, build_claims
from topiclab.plugins.diffusion.config import DiffusionConfig
from topiclab.plugins.diffusion.data import mixture
from topiclab.plugins.diffusion.train import reload_trainer


def evaluate(
    ctx: StageContext, cfg: DiffusionConfig, data: StageResult, trained: StageResult
) -> StageResult:
    with torch_threads(cfg.torch_threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        return Evaluation(ctx, cfg, data, trained).run()


def schedule_metrics() -> tuple[dict[str, float], bool]:
    """ᾱ_T of DDPM's schedule and of T = 100 with the same endpoints, and whether the schedule
    check warns about the latter."""
    ddpm = D.check_schedule(D.make_schedule("linear", 1000, check=False))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        short = D.check_schedule(D.make_schedule("linear", 100, check=False))
    warned = any(issubclass(w.category, D.ScheduleWarning) for w in caught)
    metrics = {
        "schedule.alpha_bar_T_1000": ddpm["alpha_bar_T"],
        "schedule.alpha_bar_T_100_same_endpoints": short["alpha_bar_T"],
    }
    return metrics, warned


class Evaluation:
    """Collects metrics, tables and figures dataset by dataset into ``self.out``."""

    def __init__(
        self, ctx: StageContext, cfg: DiffusionConfig, data: StageResult, trained: StageResult
    ) -> None:
        self.ctx, self.cfg, self.data, self.trained = ctx, cfg, data, trained
        self.out = StageResult()
        self.rows: list[dict[str, Any]] = []
        self.ddim: DDIMRows | None = None

    def run(self) -> StageResult:
        metrics, warned = schedule_metrics()
        self.out.metrics |= metrics
        scatter: dict[str, dict[str, np.ndarray]] = {}
        for name in self.cfg.toy.datasets:
            scatter[name] = self.toy(name)
        self.out.tables["toy_metrics"] = self.ctx.write_table("toy_metrics.csv", self.rows)
        self.out.figures["samples_2d"] = figures.scatter_grid(
            scatter, self.ctx.path("samples_2d.png")
        )
        loss = figures.loss_figure(self.cfg, self.trained, self.out.metrics, self.ctx)
        self.out.figures |= loss
        if self.cfg.digits.enabled:
            self.digits()
        self.out.sections["What this run shows"] = self.summary()
        claims = build_claims(self.cfg, self.out.metrics, warned, self.ddim)
        # Built anew so StageResult's validation fails the claims of any non-finite metric.
        return StageResult(**{**dict(self.out), "claims": claims})

    # --- 2-D ------------------------------------------------------------------------------

    def toy(self, name: str) -> dict[str, np.ndarray]:
        cfg, seed = self.cfg, self.cfg.seed
        train = np.load(self.data.files[f"{name}_train"])
        test = np.load(self.data.files[f"{name}_test"])
        samples = np.load(self.trained.files[f"{name}_samples"])
        n = len(samples)
        mix = mixture(name)
        # "trained: <key>" cannot collide with a baseline's name (the GMM baseline is "gmm").
        model_source = f"trained: {self.cfg.trainer}"
        sets = {"real (train)": train[:n], model_source: samples}
        sets |= baselines_2d(train, n, len(mix.means) if mix else 10, seed)
        exact = exact_samples(name, cfg.toy.T, cfg.toy.beta_end, n, seed)
        if exact is not None:
            sets["exact score"] = exact
        child: dict[str, float] = {}
        for source, x in sets.items():
            row: dict[str, Any] = {"dataset": name, "source": source}
            row |= sample_distances(x, test, seed)
            if mix is not None:
                row |= mode_metrics(x, mix.means, mix.std)
            self.rows.append(row)
            key = "model" if source == model_source else source.split(" ")[0]
            child |= {
                f"{key}.{k}": float(v) for k, v in row.items() if k not in ("dataset", "source")
            }
        child["mmd_ratio_gaussian"] = child["gaussian.mmd"] / max(child["model.mmd"], 1e-12)
        trainer = reload_trainer(self.ctx, self.trained, name)
        if mix is not None:
            child |= self.against_the_truth(name, trainer, test)
        if name == self.cfg.toy.datasets[0] and hasattr(trainer, "sample_ddim"):
            self.ddim_table(name, trainer, test, n)
        if name == self.cfg.toy.datasets[0] and hasattr(trainer, "trajectory"):
            self.trajectory(trainer, name, cfg.toy.T, (0.75, 0.5, 0.25, 0.1, 0.05), min(n, 500))
        self.out.children[name] = child
        self.out.metrics |= {f"{name}.{k}": v for k, v in child.items()}
        return sets

    def against_the_truth(self, name: str, trainer: Any, test: np.ndarray) -> dict[str, float]:
        """Where the density is known (mixtures), and the trainer offers them: the bound
        beside the true NLL, and the test loss beside the exact score's loss floor."""
        seed, n_bound, mix = self.cfg.seed, self.cfg.toy.n_bound, mixture(name)
        assert mix is not None
        out: dict[str, float] = {}
        # The bound costs T network passes: only where a true NLL sits beside it.
        if hasattr(trainer, "nll_bound"):
            bound = trainer.nll_bound(test[:n_bound], seed=seed)
            out["bound_nats_per_dim"] = float(bound.mean())
            out["bound_se"] = float(bound.std() / np.sqrt(len(bound)))
            nll = true_nll_per_dim(name, test[:n_bound])
            if nll is not None:
                out["true_nll_nats_per_dim"] = nll
        if hasattr(trainer, "loss_on"):
            eps = D.mixture_eps(trainer.schedule, torch.as_tensor(mix.means), mix.std)
            out["loss_test"] = trainer.loss_on(test, seed=seed)
            out["loss_floor_exact"] = trainer.loss_on(test, seed=seed, eps_fn=eps)
        return out

    def trajectory(
        self, trainer: Any, name: str, t_max: int, fractions: tuple[float, ...], n: int
    ) -> None:
        """A strip of x_t from one reverse run of ``n`` samples: at T, at these fractions of T,
        and at 0 (the samples)."""
        times = tuple(sorted({t_max, *(int(t_max * f) for f in fractions), 0}, reverse=True))
        frames = trainer.trajectory(n, self.cfg.seed, times)
        self.out.figures[f"trajectory_{name}"] = figures.trajectory_strip(
            frames, self.ctx.path(f"trajectory_{name}.png"), f"reverse process on {name}"
        )

    def ddim_table(self, name: str, trainer: Any, test: np.ndarray, n: int) -> None:
        mix, seed = mixture(name), self.cfg.seed
        rows: list[dict[str, Any]] = []
        runs: list[tuple[str, int, Any]] = [
            (
                "ancestral β̃_t",
                self.cfg.toy.T,
                lambda: np.load(self.trained.files[f"{name}_samples"]),
            ),
            (
                "ancestral β_t",
                self.cfg.toy.T,
                lambda: trainer.sample(n, seed, variance="fixed_large"),
            ),
        ] + [
            (f"DDIM {k}", k, lambda k=k: trainer.sample_ddim(n, seed, steps=k))
            for k in self.cfg.toy.ddim_steps
        ]
        for label, steps, draw in runs:
            start = time.perf_counter()
            x = draw()
            seconds = time.perf_counter() - start
            if label == "ancestral β̃_t":  # drawn in the train stage; its time was recorded
                seconds = self.trained.data[name]["sample_seconds"]
            row = {"sampler": label, "steps": steps, "seconds": round(seconds, 3)}
            row |= sample_distances(x, test, seed)
            if mix is not None:
                row |= {
                    k: v
                    for k, v in mode_metrics(x, mix.means, mix.std).items()
                    if k in ("modes", "hq_frac")
                }
            rows.append(row)
        self.out.tables[f"samplers_{name}"] = self.ctx.write_table(f"samplers_{name}.csv", rows)
        for r in rows[2:]:
            self.out.metrics[f"{name}.ddim{r['steps']}.mmd"] = r["mmd"]
        self.ddim = (name, rows, len(mix.means) if mix is not None else None)

    # --- digits ---------------------------------------------------------------------------

    def digits(self) -> None:
        seed, f = self.cfg.seed, self.data.files
        train, test = np.load(f["digits_train"]), np.load(f["digits_test"])
        y_train, y_test = np.load(f["digits_train_labels"]), np.load(f["digits_test_labels"])
        samples = np.clip(np.load(self.trained.files["digits_samples"]), -1, 1)
        clf = digits_classifier(train, y_train, seed)
        proba = clf.predict_proba(samples.reshape(len(samples), -1))
        labels, conf = proba.argmax(1), proba.max(1)
        recognised = conf >= 0.9
        counts = np.bincount(labels[recognised], minlength=10)
        rng = np.random.default_rng(seed)
        gauss = rng.multivariate_normal(
            train.reshape(len(train), -1).mean(0),
            np.cov(train.reshape(len(train), -1), rowvar=False),
            len(samples),
        ).reshape(samples.shape)
        m = {
            "classifier_test_accuracy": float(clf.score(test.reshape(len(test), -1), y_test)),
            "mean_confidence": float(conf.mean()),
            "recognised_frac": float(recognised.mean()),
            "classes_covered": float((counts > 0).sum()),
            "min_class_frac": float(counts.min() / len(samples)),
            "fd_model": frechet(clf, samples, test),
            "fd_real_floor": frechet(clf, train[: len(test)], test),
            "fd_gaussian": frechet(clf, np.clip(gauss, -1, 1), test),
            "real_mean_confidence": float(
                clf.predict_proba(test.reshape(len(test), -1)).max(1).mean()
            ),
        }
        self.out.children["digits"] = m
        self.out.metrics |= {f"digits.{k}": v for k, v in m.items()}
        self.out.figures["digits_samples"] = figures.digits_panel(
            test, samples, [str(v) for v in labels], self.ctx.path("digits_samples.png")
        )
        trainer = reload_trainer(self.ctx, self.trained, "digits")
        if hasattr(trainer, "trajectory"):
            self.trajectory(trainer, "digits", self.cfg.digits.T, (0.75, 0.5, 0.25, 0.1), 16)

    def summary(self) -> str:
        lines = [
            "Samples from the trained model are compared with held-out data by MMD (RBF, "
            "several bandwidths) and sliced Wasserstein distance, next to the real-vs-real "
            "floor, a single Gaussian, a GMM and (for mixtures) the exact-score sampler. "
            "Tables: `toy_metrics`, `samplers_<dataset>`."
        ]
        for name, c in self.out.children.items():
            if "model.mmd" in c:
                lines.append(
                    f"- **{name}**: MMD {c['model.mmd']:.2e} (floor "
                    f"{c['real.mmd']:.2e}, Gaussian {c['gaussian.mmd']:.2e}, GMM "
                    f"{c['gmm.mmd']:.2e})"
                )
        return "\n".join(lines)


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
    return fit_keeping_ctrl_c(clf, x.reshape(len(x), -1), y)


def fit_keeping_ctrl_c(estimator: Any, x: np.ndarray, y: np.ndarray) -> Any:
    """``estimator.fit(x, y)``, but a Ctrl-C during it ends the run. scikit-learn's MLP
    catches KeyboardInterrupt in its training loop, warns "Training interrupted by user." and
    returns the half-trained model: the run went on, scored digits with it, cached that
    evaluation and ended with exit 0. Raise it again; other warnings pass on unchanged."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = estimator.fit(x, y)
    if any("interrupted by user" in str(w.message) for w in caught):
        raise KeyboardInterrupt
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    return fitted


def classifier_features(clf: Any, x: np.ndarray) -> np.ndarray:
    h = x.reshape(len(x), -1) @ clf.coefs_[0] + clf.intercepts_[0]
    return np.maximum(h, 0.0)


def frechet(clf: Any, a: np.ndarray, b: np.ndarray) -> float:
    return frechet_distance(classifier_features(clf, a), classifier_features(clf, b))
