"""Why gato fails Pendulum-v1: a Pendulum-only model, then roll-outs and teacher forcing.

    PYTHONPATH=$PWD python benchmarks/gato_pendulum.py train --episodes 300 --steps 400
    PYTHONPATH=$PWD python benchmarks/gato_pendulum.py train --episodes 300 --steps 400 --noise 0.5
    PYTHONPATH=$PWD python benchmarks/gato_pendulum.py rollout MODEL.pt     # history vs none
    PYTHONPATH=$PWD python benchmarks/gato_pendulum.py train --episodes 300 --steps 400 --hide
    PYTHONPATH=$PWD python benchmarks/gato_pendulum.py teacher MODEL.pt --history 0 1 18
    PYTHONPATH=$PWD python benchmarks/gato_pendulum.py train --steps 400 --hide --value
    PYTHONPATH=$PWD python benchmarks/gato_pendulum.py phases MODEL.pt      # pump, coast, catch
    PYTHONPATH=$PWD python benchmarks/gato_pendulum.py train --hide --value --steps 400 \
        --prompt 1 --prompt-end 1 --rollouts 20 --dagger 3 --seed 1     # the standard's DAgger

``train`` builds sequences as the data stage does (``--prompt`` of them prompted, 25 % by
default; the standard profile prompts all, ``--prompt 1 --prompt-end 1``; a prompt is 4 steps
of an expert episode, its last ones with probability ``--prompt-end``) from ``--episodes`` filtered
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
``--value``: continuous tokens add w·(bin value) to their rows. ``--dagger R``: R rounds of
DAgger in the second half (20 roll-outs on training seeds each, relabelled by the expert,
``--dagger-share`` of the pool re-cut from them, prompted with expert episodes as the
``gato`` topic does); ``--catch-weight W``: loss weight W on the action of catch steps
(``CATCH``); ``--rollouts N``: N roll-outs after training (mean ± standard error); ``--seed``:
model and sequence seed. One torch thread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from topiclab.nn import gato_tokenizer as gt
from topiclab.nn.gato_trainer import GatoTrainer, GatoTrainerConfig
from topiclab.plugins.gato import dagger
from topiclab.plugins.gato import data as d
from topiclab.plugins.gato import tasks as tk
from topiclab.plugins.gato.config import GatoConfig
from topiclab.plugins.gato.rollout import median_bin, rollout_task

TASK = tk.TASKS["Pendulum-v1"]
SEEDS = list(range(100_000, 100_010))
CATCH = (0.6, 0.7)  # cos θ above, |expert torque| at least: the catch at the top


def weight_catch(episode: list[np.ndarray], weight: int) -> list[np.ndarray]:
    """The action token of every catch step (``CATCH``) gets loss weight ``weight`` (the mask
    field; the loss is Σ m·nll / Σ m). Read back from the tokens: cos θ is binned uniformly."""
    out = []
    for rec in episode:
        cos = float(gt.decode_continuous(rec[0, 0], False))
        u = float(TASK.action_of(rec[-1:, 0])[0])
        if weight != 1 and cos > CATCH[0] and abs(u) >= CATCH[1]:
            rec = rec.copy()
            rec[-1, 3] = weight
        out.append(rec)
    return out


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


def train(a: argparse.Namespace) -> None:
    rng = np.random.default_rng(a.seed)
    if a.noise > 0:
        eps = noisy_episodes(a.episodes, a.noise)
    else:
        eps = d.expert_episodes(TASK, a.episodes, 0.8, 0)[0]
    eps = [weight_catch(e, a.catch_weight) for e in eps]
    n_seqs = max(2000, 4 * a.steps)

    def cut(pool: list[list[np.ndarray]], n: int) -> np.ndarray:
        """``n`` sequences from ``pool``, prompted (``--prompt``) with an expert episode's steps
        (the evaluation's kind of prompt, also for DAgger's roll-outs)."""
        out = []
        for _ in range(n):
            ep = pool[int(rng.integers(len(pool)))]
            head = ep[:0]
            if rng.random() < a.prompt:
                head = [d.prompt_block(eps[int(rng.integers(len(eps)))], 4, rng, a.prompt_end)]
            body = ep[int(rng.integers(len(ep))) :]
            out.append(d.pad(np.concatenate([*head, *body]), 97))
        return np.stack(out).astype(np.int64)

    cfg = GatoTrainerConfig(
        dim=128, n_layers=4, n_heads=4, n_kv_heads=2, multiple_of=32, seq_len=96,
        vocab_size=gt.VOCAB_SIZE, steps=a.steps, batch_size=16, eval_every=0, lr=3e-3,
        warmup_steps=50, hide_continuous_actions=a.hide, value_features=a.value, seed=a.seed,
    )  # fmt: skip
    trainer = GatoTrainer(cfg)
    trainer.gato.set_images(torch.zeros((4, 4, 4)))
    data = torch.from_numpy(cut(eps, n_seqs))
    c0 = time.process_time()
    extra: list[list[np.ndarray]] = []
    stops = dagger.round_steps(a.steps, a.dagger) if a.dagger else []
    gcfg = GatoConfig.model_validate({"data": {"dagger_episodes": 20}}, strict=False)
    for k, stop in enumerate([*stops, a.steps]):
        while trainer.step < stop:
            trainer.train_step(data)
        if stop == a.steps:
            break
        trainer.model.eval()
        new, rets = dagger.dagger_episodes(trainer.gato, TASK, gcfg, k)
        trainer.model.train()
        extra += [weight_catch(e, a.catch_weight) for e in new]
        n_new = int(a.dagger_share * n_seqs)  # a share of the pool cut from all roll-outs so far
        data = torch.from_numpy(np.concatenate([cut(eps, n_seqs - n_new), cut(extra, n_new)]))
        score = np.mean([tk.normalised(TASK.name, x) for x in rets])
        print(f"DAgger round {k} at step {trainer.step}: roll-outs {score:.1f} %", flush=True)
    print(f"{vars(a)}: train cpu {time.process_time() - c0:.0f} s", flush=True)
    model = trainer.model.eval()
    torch.save(model, a.out)
    rollouts(model, a.rollouts)


def rollouts(model: torch.nn.Module, n: int = len(SEEDS)) -> None:
    _, obs, acts = tk.run_episode(TASK, TASK.expert, 9_999)
    prompt = np.concatenate(d.episode_records(TASK, obs, acts)[-4:])
    seeds = list(range(SEEDS[0], SEEDS[0] + n))
    for label, p, seq_len in (("prompt, full context", prompt, 96), ("no history", prompt[:0], 5)):
        returns = rollout_task(model, TASK, seeds, p, seq_len)  # type: ignore[arg-type]
        s = np.array([tk.normalised(TASK.name, r) for r in returns])
        print(f"  {label}: {s.mean():.1f} ± {s.std(ddof=1) / np.sqrt(n):.1f} % of expert "
              f"({n} roll-outs)", flush=True)  # fmt: skip


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
    t.add_argument("--seed", type=int, default=0, help="model and sequence seed")
    t.add_argument("--prompt", type=float, default=0.25, help="share of prompted sequences")
    t.add_argument("--prompt-end", type=float, default=0.5, help="prompts from an episode's end")
    t.add_argument("--rollouts", type=int, default=len(SEEDS), help="roll-outs after training")
    t.add_argument("--catch-weight", type=int, default=1, help="loss weight of catch actions")
    t.add_argument("--dagger", type=int, default=0, help="DAgger rounds (20 roll-outs each)")
    t.add_argument("--dagger-share", type=float, default=0.5, help="pool share from DAgger")
    sub.add_parser("rollout").add_argument("model")
    te = sub.add_parser("teacher")
    te.add_argument("model")
    te.add_argument("--history", type=int, nargs="+", default=[0, 1, 18])
    sub.add_parser("phases").add_argument("model")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.cmd == "train":
        train(a)
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
