"""Does a stronger KL penalty keep the rl-llm LM world's samples readable? DPO and PPO at
several β on a finished standard run's pairs and reward model: gold reward, Monte-Carlo KL to
the SFT model, and the first samples of each (the standard settings hack the vowel count).

    PYTHONPATH=$PWD python benchmarks/bench_rl_llm_beta.py RUN_DIR SFT_PT [N_SHOWN]

RUN_DIR: an rl-llm standard run's work directory (``generate/lm.pt``, ``train/lm_train.pt``);
SFT_PT: the llama topic's ``train/llama.pt``. The other settings are the standard profile's.
"""

import sys
from pathlib import Path
from typing import cast

import torch

from topiclab.core.config import resolve_config
from topiclab.core.registry import get_registry
from topiclab.nn import preference as P
from topiclab.plugins.rl_llm import lm as M
from topiclab.plugins.rl_llm.config import RLLLMConfig
from topiclab.plugins.rl_llm.train import scorer

BETAS = {"dpo": [0.5, 2.0], "ppo": [0.5]}  # the standard run has DPO at 0.1, PPO at 0.05


def main() -> None:
    torch.set_num_threads(1)
    run, sft = Path(sys.argv[1]), M.load_sft(sys.argv[2])
    shown = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    reg = get_registry()
    cfg = cast(RLLLMConfig, resolve_config(reg.topics["rl-llm"], "standard")).lm
    d = torch.load(run / "generate/lm.pt", weights_only=False)
    rm = M.LlamaScalar(sft)
    rm.load_state_dict(torch.load(run / "train/lm_train.pt", weights_only=False)["rm"])
    rm.requires_grad_(False).eval()
    plen, prompts, sample = cfg.prompt_len, d["eval_prompts"], M.sampler(cfg.new_tokens)
    base = sample(sft, prompts, torch.Generator().manual_seed(100))
    print(f"SFT: gold {float(M.gold_reward(base, plen).mean()):.2f}")
    for i in range(shown):
        print(f"  {M.decode(prompts[i])!r} -> {M.decode(base[i, plen:])!r}")
    for key, betas in BETAS.items():
        spec = reg.trainer(key, task=P.PREFERENCE_TASK)
        for beta in betas:
            prob = P.PreferenceProblem(
                policy=M.trainable_copy(sft),
                reference=sft,
                prompt_len=plen,
                pairs=P.Pairs(**d["pairs"]),
                prompts=d["pairs_prompts"],
                sample=sample,
                reward=scorer(rm, plen),
                reward_model=rm,
                new_scalar_model=lambda: M.LlamaScalar(sft),
            )
            spec.create(cfg.methods[key] | {"beta": beta}).fit(prob)
            pol = prob.policy.eval()
            seqs = sample(pol, prompts, torch.Generator().manual_seed(200))
            with torch.no_grad():
                kl = P.sequence_logprobs(pol, seqs, plen) - P.sequence_logprobs(sft, seqs, plen)
            gold = M.gold_reward(seqs, plen)
            print(f"{key} β={beta:g}: gold {float(gold.mean()):.2f}, KL {float(kl.mean()):.1f}")
            for i in range(shown):
                print(f"  {M.decode(seqs[i, plen:])!r} ({float(gold[i]):g})", flush=True)


if __name__ == "__main__":
    main()
