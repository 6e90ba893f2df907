"""Why gato fails Pendulum-v1: a Pendulum-only model, then roll-outs and teacher forcing.

    PYTHONPATH=$PWD python benchmarks/gato_pendulum.py train --episodes 300 --steps 400
    PYTHONPATH=$PWD python benchmarks/gato_pendulum.py train --episodes 300 --steps 400 --noise 0.5
    PYTHONPATH=$PWD python benchmarks/gato_pendulum.py rollout MODEL.pt     # history vs none
    PYTHONPATH=$PWD python benchmarks/gato_pendulum.py train --episodes 300 --steps 400 --hide
    PYTHONPATH=$PWD python benchmarks/gato_pendulum.py teacher MODEL.pt --history 0 1 18
    PYTHONPATH=$PWD python benchmarks/gato_pendulum.py train --steps 400 --hide --value
    PYTHONPATH=$PWD python benchmarks/gato_pendulum.py phases MODEL.pt      # pump, coast, catch

``train`` builds sequences as the data stage does (25 % prompted) from ``--episodes`` filtered
expert episodes (``--noise`` σ: DART, the executed torque is the expert's plus N(0, σ²), the
recorded one the expert's; ``--hide``: continuous actions enter the context without their ids),
trains the standard-size model with the ``gato`` trainer, saves it
and rolls it out. ``rollout`` scores 10 episodes (seeds 100,000..) with the full context and
with the current observation only (no history: behaviour cloning's copycat check). ``teacher``
feeds held-out expert episodes and compares the decoded torque with the expert's, near the top
(cos θ > 0.8, mostly the expert's LQR) and in the swing-up (its energy pump). ``phases`` splits
the same comparison (the first 120 steps of 10 held-out episodes, 18 steps of context) by what
the expert does: pump (cos θ ≤ 0.6, E < 0: ±2 along θ'), coast (cos θ ≤ 0.6, E ≥ 0: 0) and, for
cos θ > 0.6, by the size of the expert's torque (the large ones are the catch at the top).
``--value``: continuous tokens add w·(bin value) to their rows. One torch thread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from topiclab.nn import gato_tokenizer as gt
from topiclab.nn.gato_trainer import GatoTrainer, GatoTrainerConfig
from topiclab.plugins.gato import data as d
from topiclab.plugins.gato import tasks as tk
from topiclab.plugins.gato.rollout import median_bin, rollout_task

TASK = tk.TASKS["Pendulum-v1"]
SEEDS = list(range(100_000, 100_010))


def noisy_episodes(n: int, noise: float) -> list[list[np.ndarray]]:
    """``n`` episodes scoring ≥ 80 % of expert; the expert's action is recorded, its perturbed
    version executed."""
    kept: list[list[np.ndarray]] = []
    for seed in range(20 * n):
        env, rng = TASK.make(), np.random.default_rng(seed)
        obs, _ = env.reset(seed=seed)
        total, observations, actions = 0.0, [], []
        for _ in range(TASK.max_steps):
            a = TASK.expert(obs, rng)
            observations.append(obs)
            actions.append(a)
            done = np.clip(a + noise * rng.standard_normal(a.shape), -2, 2).astype(np.float32)
            obs, r, term, trunc, _ = env.step(done)
            total += float(r)
            if term or trunc:
                break
        env.close()
        if tk.normalised(TASK.name, total) >= 80:
            kept.append(d.episode_records(TASK, observations, actions))
        if len(kept) == n:
            break
    return kept


def train(
    episodes: int, steps: int, noise: float, out: str, hide: bool = False, value: bool = False
) -> None:
    rng = np.random.default_rng(0)
    if noise > 0:
        eps = noisy_episodes(episodes, noise)
    else:
        eps = d.expert_episodes(TASK, episodes, 0.8, 0)[0]
    n_seqs = max(2000, 4 * steps)
    seqs = np.stack(
        [d.control_sequence(eps, 97, rng.random() < 0.25, 4, rng) for _ in range(n_seqs)]
    )
    cfg = GatoTrainerConfig(
        dim=128, n_layers=4, n_heads=4, n_kv_heads=2, multiple_of=32, seq_len=96,
        vocab_size=gt.VOCAB_SIZE, steps=steps, batch_size=16, eval_every=0, lr=3e-3,
        warmup_steps=50, hide_continuous_actions=hide, value_features=value,
    )  # fmt: skip
    trainer = GatoTrainer(cfg)
    c0 = time.process_time()
    history = trainer.fit(seqs.astype(np.int32), None, None, images=np.zeros((4, 4, 4), np.float32))
    print(f"episodes {episodes} steps {steps} noise {noise}: final loss {history[-1]['loss']:.3f}, "
          f"train cpu {time.process_time() - c0:.0f} s")  # fmt: skip
    model = trainer.model.eval()
    torch.save(model, out)
    rollouts(model)


def rollouts(model: torch.nn.Module) -> None:
    _, obs, acts = tk.run_episode(TASK, TASK.expert, 9_999)
    prompt = np.concatenate(d.episode_records(TASK, obs, acts)[-4:])
    for label, p, seq_len in (("prompt, full context", prompt, 96), ("no history", prompt[:0], 5)):
        returns = rollout_task(model, TASK, SEEDS, p, seq_len)  # type: ignore[arg-type]
        score = np.mean([tk.normalised(TASK.name, r) for r in returns])
        print(f"  {label}: {score:.1f} % of expert ({len(SEEDS)} roll-outs)")


@torch.no_grad()
def teacher(model: torch.nn.Module, history: int) -> None:
    """Decoded torque against the expert's on 6 held-out expert episodes (every 2nd step), the
    context being the last ``history`` expert steps and the current observation (0: the
    observation alone, what the policy must learn; more: copying the last torque helps)."""
    rows = []
    for seed in range(100_000, 100_006):
        _, obs, acts = tk.run_episode(TASK, TASK.expert, seed)
        recs = d.episode_records(TASK, obs, acts)
        for k in range(0, len(recs), 2):
            ctx = np.concatenate([*recs[max(0, k - history) : k], recs[k][:4]])[-95:]
            logits = model(torch.from_numpy(ctx[None, :, :3]))[0, -1]
            part = logits[None, gt.CONT_START : gt.CONT_START + gt.N_BINS]
            p = part.softmax(-1)
            entropy = float(-(p * p.clamp_min(1e-12).log()).sum())
            u = float(TASK.action_of(median_bin(part).numpy())[0])
            rows.append((obs[k][0], float(acts[k][0]), u, entropy))
    r = np.array(rows)
    for name, sel in (("top (cos > 0.8)", r[:, 0] > 0.8), ("swing-up", r[:, 0] <= 0.8)):
        x = r[sel]
        err = np.abs(x[:, 1] - x[:, 2]).mean()
        agree = (np.sign(x[:, 1]) == np.sign(x[:, 2])).mean()
        shrink = np.abs(x[:, 2]).mean() / np.abs(x[:, 1]).mean()
        print(f"history {history:2d}, {name}: {len(x)} states, mean |torque error| {err:.3f}, "
              f"sign agrees {agree:.2f}, |model|/|expert| {shrink:.2f}, "
              f"entropy {x[:, 3].mean():.2f} nats")  # fmt: skip


@torch.no_grad()
def phases(model: torch.nn.Module, history: int = 18) -> None:
    """The decoded torque against the expert's by what the expert does (module docstring)."""
    rows = []
    for seed in range(100_000, 100_010):
        _, obs, acts = tk.run_episode(TASK, TASK.expert, seed)
        recs = d.episode_records(TASK, obs, acts)
        for k in range(min(len(recs), 120)):
            ctx = np.concatenate([*recs[max(0, k - history) : k], recs[k][:4]])[-95:]
            part = model(torch.from_numpy(ctx[None, :, :3]))[
                0, -1:, gt.CONT_START : gt.CONT_START + gt.N_BINS
            ]
            cos, _, om = (float(v) for v in obs[k])
            u = float(TASK.action_of(median_bin(part).numpy())[0])
            rows.append((cos, om, 0.5 * om**2 + 15 * (cos - 1), float(acts[k][0]), u))
    r = np.array(rows)
    low = r[:, 0] <= 0.6
    for name, sel in (("pump", low & (r[:, 2] < 0)), ("coast", low & (r[:, 2] >= 0))):
        x = r[sel]
        agree = (np.sign(x[:, 3]) == np.sign(x[:, 4])).mean()
        print(f"{name}: {len(x)} states, sign agrees {agree:.2f}, mean model torque along θ' "
              f"{np.mean(x[:, 4] * np.sign(x[:, 1])):.2f}, "
              f"expert's {np.mean(x[:, 3] * np.sign(x[:, 1])):.2f}")  # fmt: skip
    top = r[~low]
    for lo, hi in ((0, 0.2), (0.2, 0.7), (0.7, 2.1)):
        x = top[(np.abs(top[:, 3]) >= lo) & (np.abs(top[:, 3]) < hi)]
        slope = np.sum(x[:, 3] * x[:, 4]) / np.sum(x[:, 3] ** 2)
        agree = (np.sign(x[:, 3]) == np.sign(x[:, 4])).mean()
        print(f"cos θ > 0.6, |expert torque| in [{lo}, {hi}): {len(x)} states, sign agrees "
              f"{agree:.2f}, error {np.abs(x[:, 3] - x[:, 4]).mean():.2f}, "
              f"slope model/expert {slope:.2f}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--episodes", type=int, default=300)
    t.add_argument("--steps", type=int, default=400)
    t.add_argument("--noise", type=float, default=0.0)
    t.add_argument("--out", default="pendulum_only.pt")
    t.add_argument("--hide", action="store_true", help="actions enter the context without ids")
    t.add_argument("--value", action="store_true", help="continuous tokens add w·(bin value)")
    sub.add_parser("rollout").add_argument("model")
    te = sub.add_parser("teacher")
    te.add_argument("model")
    te.add_argument("--history", type=int, nargs="+", default=[0, 1, 18])
    sub.add_parser("phases").add_argument("model")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.cmd == "train":
        train(a.episodes, a.steps, a.noise, a.out, a.hide, a.value)
    else:
        model = torch.load(a.model, weights_only=False).eval()
        if a.cmd == "rollout":
            rollouts(model)
        if a.cmd == "phases":
            phases(model)
        for h in a.history if a.cmd == "teacher" else []:
            teacher(model, h)


if __name__ == "__main__":
    main()
