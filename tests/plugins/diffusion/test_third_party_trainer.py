"""The example plugin's `gmm` trainer (another distribution) selected by config in `diffusion`."""

from topiclab.core.registry import reset_registry
from topiclab.core.stages import run_direct


def test_diffusion_runs_with_the_example_plugins_gmm_trainer(tmp_path):
    reset_registry()
    results = run_direct(
        "diffusion", "quick", overrides=["trainer=gmm", "digits.enabled=false"], root=tmp_path
    )
    evaluation = results["evaluate"]
    ring = evaluation.children["ring"]
    assert ring["model.modes"] == 8  # sample metrics work for any generative trainer
    assert ring["model.mmd"] < ring["gaussian.mmd"] / 5
    claims = {c.id: c for c in evaluation.claims}
    assert "(gmm)" in claims["ring-modes"].statement
    assert "ring-bound-above-nll" not in claims  # DDPM-only extras are skipped
    assert not results["train"].models  # no torch module to log for a GMM
