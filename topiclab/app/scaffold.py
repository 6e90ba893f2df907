"""``topiclab new-plugin NAME``: a pip-installable plugin package that works as generated.

It holds an entry point, a trainer (``<name>-gaussian``, task ``generative``: a Gaussian
fitted by maximum likelihood), a topic (``<name>``) that selects it by config, and a test.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from string import Template

from topiclab.core.errors import TopiclabError

PYPROJECT = """[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "$name"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["topiclab"]

[project.entry-points.topiclab]
$name = "$pkg.plugin"

[tool.setuptools.packages.find]
where = ["src"]
"""

PLUGIN = '''"""The $name topiclab plugin: registers one topic and one trainer."""

from topiclab.core.hookspecs import hookimpl
from topiclab.core.specs import TrainerSpec

from $pkg.topic import GaussianConfig, GaussianTrainer, Topic


@hookimpl
def topiclab_register_topics():
    return [Topic]


@hookimpl
def topiclab_register_trainers():
    return [TrainerSpec(key="$name-gaussian", task="generative", build=GaussianTrainer,
                        config=GaussianConfig, summary="A Gaussian fitted by maximum likelihood.")]
'''

TOPIC = '''"""Topic ``$name``: fit a generative model to Gaussian data and check what it learned.

    topiclab run $name --profile quick
"""

import numpy as np
from pydantic import BaseModel, Field

from topiclab.core.topic import Claim, StageContext, StageResult, Topic as BaseTopic, TopicConfig


class GaussianConfig(BaseModel):
    pass


class GaussianTrainer:
    """The ``generative`` task: ``fit(x, progress)`` and ``sample(n, seed)``."""

    def __init__(self, config: GaussianConfig | None = None) -> None:
        self.mean = self.std = None

    def fit(self, x, progress=None):
        self.mean, self.std = x.mean(axis=0), x.std(axis=0)
        if progress is not None:
            progress(0, mean=float(self.mean.mean()))

    def sample(self, n, seed=0):
        return np.random.default_rng(seed).normal(self.mean, self.std, size=(n, len(self.mean)))


class Config(TopicConfig):
    n: int = Field(10_000, gt=1)
    dim: int = Field(2, ge=1)
    trainer: str = "$name-gaussian"


class Topic(BaseTopic):
    key = "$name"
    title = "$name: a generated plugin topic"
    summary = "Samples from a fitted model match the data's mean and spread."
    Config = Config
    profiles = {"quick": {"n": 2_000}}

    def generate(self, ctx: StageContext) -> StageResult:
        rng = np.random.default_rng(ctx.seed)
        path = ctx.path("x.npy")
        np.save(path, rng.normal(1.0, 2.0, size=(ctx.config.n, ctx.config.dim)))
        return StageResult(files={"x": str(path)})

    def train(self, ctx: StageContext, data: StageResult) -> StageResult:
        spec = ctx.registry.trainer(ctx.config.trainer, task="generative")
        trainer = spec.build(spec.config() if spec.config else None)
        x = np.load(data.files["x"])
        with ctx.progress("fit", total=1) as progress:
            trainer.fit(x, progress)
        path = ctx.path("samples.npy")
        np.save(path, trainer.sample(len(x), seed=ctx.seed))
        return StageResult(files={"samples": str(path)})

    def evaluate(self, ctx: StageContext, data: StageResult, trained: StageResult) -> StageResult:
        x, s = np.load(data.files["x"]), np.load(trained.files["samples"])
        gap = float(np.abs(x.mean(0) - s.mean(0)).max())
        bound = 4 * 2.0 * np.sqrt(2 / len(x))  # 4 sd of a difference of two sample means
        claim = Claim(id="mean-matches", statement="Samples have the data's mean", value=gap,
                      anchor=f"< {bound:.3f}", source="4 standard errors", passed=gap < bound)
        return StageResult(metrics={"mean_gap": gap}, claims=[claim])
'''

TEST = """import os

os.environ.setdefault("MPLBACKEND", "Agg")

from topiclab.core.stages import run_direct


def test_quick_profile_confirms_its_claims(tmp_path):
    results = run_direct("$name", "quick", root=tmp_path)
    assert results["evaluate"].claims and all(c.passed for c in results["evaluate"].claims)
"""


def scaffold_plugin(name: str, directory: Path) -> Path:
    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise TopiclabError(f"plugin name '{name}' must be lowercase letters, digits and dashes")
    pkg = name.replace("-", "_")
    if keyword.iskeyword(pkg):
        raise TopiclabError(f"plugin name '{name}' is a Python keyword")
    root = directory / name
    if root.exists():
        raise TopiclabError(f"'{root}' already exists; choose another name or --directory")
    files = {
        "pyproject.toml": PYPROJECT,
        f"src/{pkg}/__init__.py": '"""$name plugin."""\n',
        f"src/{pkg}/plugin.py": PLUGIN,
        f"src/{pkg}/topic.py": TOPIC,
        f"tests/test_{pkg}.py": TEST,
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(name=name, pkg=pkg))
    return root
