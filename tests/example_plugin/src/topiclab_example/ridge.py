"""Topic ``ridge``: ridge regression by gradient descent meets its closed form.

Data: y = X β + ε with known β and noise σ. Train: full-batch gradient descent on the ridge
objective (torch). Evaluate: the learned coefficients against the closed form
(XᵀX + λI)⁻¹Xᵀy, and the test error against the noise floor σ².
"""

from __future__ import annotations

import csv

import matplotlib.pyplot as plt
import numpy as np
import torch
from pydantic import Field

from topiclab.core.topic import Claim, StageContext, StageResult, Topic, TopicConfig

# Upper bounds keep a typo from running for days or filling memory: 200,000 rows of 256
# float64 features is 400 MB; the full profile uses 20,000 rows of 64 and 2,000 steps.
MAX_ROWS = 200_000
MAX_STEPS = 1_000_000  # as the built-in topics


class RidgeConfig(TopicConfig):
    n_train: int = Field(2000, gt=10, le=MAX_ROWS)
    n_test: int = Field(2000, gt=10, le=MAX_ROWS)
    features: int = Field(8, ge=1, le=256)
    noise: float = Field(0.5, gt=0, le=100)
    l2: float = Field(1.0, ge=0, le=1e6)
    steps: int = Field(400, ge=1, le=MAX_STEPS)
    lr: float = Field(0.1, gt=0, le=10)  # past ~2/λ_max gradient descent diverges anyway


class RidgeTopic(Topic):
    key = "ridge"
    title = "Ridge regression: gradient descent reaches the closed form"
    summary = (
        "Gradient descent on the ridge objective converges to (XᵀX + λI)⁻¹Xᵀy, and "
        "the test error approaches the noise floor σ². A small, fast topic shipped by "
        "the example plugin."
    )
    Config = RidgeConfig
    profiles = {
        "quick": {"n_train": 400, "n_test": 400, "steps": 150},
        "full": {"n_train": 20000, "n_test": 20000, "features": 64, "steps": 2000},
    }

    def generate(self, ctx: StageContext) -> StageResult:
        cfg = ctx.config
        assert isinstance(cfg, RidgeConfig)
        rng = np.random.default_rng(cfg.seed)
        beta = rng.normal(size=cfg.features)
        x = rng.normal(size=(cfg.n_train + cfg.n_test, cfg.features))
        y = x @ beta + cfg.noise * rng.normal(size=len(x))
        path = ctx.path("data.npz")
        np.savez(path, x=x, y=y, beta=beta)
        return StageResult(files={"data": str(path)}, metrics={"n_train": cfg.n_train})

    def train(self, ctx: StageContext, data: StageResult) -> StageResult:
        cfg = ctx.config
        assert isinstance(cfg, RidgeConfig)
        d = np.load(data.files["data"])
        x = torch.tensor(d["x"][: cfg.n_train])
        y = torch.tensor(d["y"][: cfg.n_train])
        w = torch.zeros(cfg.features, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD([w], lr=cfg.lr)
        with ctx.progress("ridge gd", total=cfg.steps) as progress:
            for step in range(cfg.steps):
                opt.zero_grad()
                loss = ((x @ w - y) ** 2).mean() + cfg.l2 / len(x) * (w**2).sum()
                loss.backward()
                opt.step()
                progress(step, loss=loss.item())
        path = ctx.path("weights.npy")
        np.save(path, w.detach().numpy())
        # The fitted model as a module, so the tracker can log and register it in MLflow.
        model = torch.nn.Linear(cfg.features, 1, bias=False, dtype=torch.float64)
        with torch.no_grad():
            model.weight.copy_(w.detach()[None, :])
        model_path = ctx.path("model.pt")
        torch.save(model, model_path)
        return StageResult(
            files={"weights": str(path)},
            models={"ridge": str(model_path)},
            metrics={"final_loss": loss.item()},
        )

    def evaluate(self, ctx: StageContext, data: StageResult, trained: StageResult) -> StageResult:
        cfg = ctx.config
        assert isinstance(cfg, RidgeConfig)
        d = np.load(data.files["data"])
        x, y, n = d["x"], d["y"], cfg.n_train
        w = np.load(trained.files["weights"])
        closed = np.linalg.solve(x[:n].T @ x[:n] + cfg.l2 * np.eye(cfg.features), x[:n].T @ y[:n])
        gap = float(np.max(np.abs(w - closed)))
        test_mse = float(np.mean((x[n:] @ w - y[n:]) ** 2))
        ratio = test_mse / cfg.noise**2
        # E[ratio] = 1 + p/(n-p-1) for least squares; the test estimate has sd ≈ √(2/n_test).
        bound = 1 + cfg.features / (n - cfg.features - 1) + 3 * np.sqrt(2 / cfg.n_test)
        table = ctx.path("coefficients.csv")
        with table.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["feature", "true", "closed_form", "gradient_descent"])
            for i in range(cfg.features):
                writer.writerow([i, f"{d['beta'][i]:.6f}", f"{closed[i]:.6f}", f"{w[i]:.6f}"])
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.scatter(closed, w)
        ax.set(xlabel="closed form", ylabel="gradient descent", title="coefficients")
        figure = ctx.path("coefficients.png")
        fig.savefig(figure, dpi=80)
        plt.close(fig)
        claims = [
            Claim(
                id="gd-matches-closed-form",
                statement="Gradient descent reaches the ridge closed form",
                value=gap,
                anchor="max |w - w*| < 1e-3",
                source="(XᵀX + λI)⁻¹Xᵀy",
                passed=gap < 1e-3,
            ),
            Claim(
                id="test-error-near-noise",
                statement="Test MSE approaches the noise floor",
                value=ratio,
                anchor=f"MSE/σ² < {bound:.3f}",
                source="1 + p/(n-p-1) + 3 sd of the test estimate",
                passed=ratio < bound,
            ),
        ]
        return StageResult(
            metrics={"max_coef_gap": gap, "test_mse": test_mse, "mse_over_noise": ratio},
            figures={"coefficients": str(figure)},
            tables={"coefficients": str(table)},
            claims=claims,
        )
