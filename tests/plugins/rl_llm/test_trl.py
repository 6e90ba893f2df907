"""Our DPO and IPO losses equal Hugging Face TRL's (1.16) on the same log-probabilities.

PYTHONPATH=$PWD .venv/bin/pytest tests/plugins/rl_llm/test_trl.py -q     # needs the test extra
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from topiclab.nn import preference as P

trl = pytest.importorskip(
    "trl", reason="trl (the test-time reference) is not installed: pip install -e '.[test]'"
)


def trl_loss(loss_type: str, beta: float, pw, pl, rw, rl, tokens: int) -> torch.Tensor:
    """TRL's DPOTrainer._compute_loss on given per-token log-probs (no model, no data set):
    each sequence's ``tokens`` completion tokens share its log-prob equally."""
    from trl.trainer.dpo_trainer import DPOTrainer

    per_token = torch.cat([pw, pl])[:, None].expand(-1, tokens) / tokens
    b = per_token.shape[0]
    out = SimpleNamespace(
        log_probs=per_token,
        entropy=torch.zeros(b, tokens),
        mean_logits=torch.zeros(b, tokens),
        is_top1=torch.zeros(b, tokens).bool(),
    )
    acc = SimpleNamespace(device="cpu", gather_for_metrics=lambda x: x, gather=lambda x: x)
    fake = SimpleNamespace(
        model=SimpleNamespace(training=False),
        accelerator=acc,
        aux_loss_enabled=False,
        ld_alpha=None,
        precompute_ref_logps=True,
        f_divergence_type="reverse_kl",
        loss_types=[loss_type],
        loss_weights=[1.0],
        beta=beta,
        use_weighting=False,
        _metrics=defaultdict(lambda: defaultdict(list)),
        _total_train_tokens=0,
        _tp_size=1,
    )
    mask = torch.cat([torch.zeros(b, 1), torch.ones(b, tokens)], 1).long()
    inputs = {
        "input_ids": torch.zeros(b, tokens + 1, dtype=torch.long),
        "completion_mask": mask,
        "attention_mask": torch.ones_like(mask),
        "ref_chosen_logps": rw,
        "ref_rejected_logps": rl,
    }
    return DPOTrainer._compute_loss(fake, lambda **kw: out, inputs, False)


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_dpo_and_ipo_equal_trl_on_the_same_logprobs(beta: float) -> None:
    g = torch.Generator().manual_seed(3)
    pw, pl, rw, rl = (-10 * torch.rand(8, generator=g) for _ in range(4))
    ours = P.dpo_loss(pw, pl, rw, rl, beta).mean()
    assert float(trl_loss("sigmoid", beta, pw, pl, rw, rl, 5)) == pytest.approx(
        float(ours), rel=1e-6
    )
    # TRL's IPO averages log-probs over completion tokens (as our IPOTrainer does by default)
    n = 5
    ours = P.ipo_loss(pw / n, pl / n, rw / n, rl / n, beta).mean()
    assert float(trl_loss("ipo", beta, pw, pl, rw, rl, n)) == pytest.approx(float(ours), rel=1e-6)
