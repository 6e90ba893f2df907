"""The control tasks: gymnasium environments, their scripted experts, and how a time step is
tokenised.

    from topiclab.plugins.gato.tasks import TASKS, run_episode
    ret, obs, acts = run_episode(TASKS["CartPole-v1"], TASKS["CartPole-v1"].expert, seed=0)

Experts are scripted (no training): CartPole a linear state feedback; MountainCar and
MountainCarContinuous push along the velocity (energy pumping, full force); Pendulum an
energy-shaping swing-up blended smoothly into an LQR balance at the top; FrozenLake the optimal
policy of value iteration on the slippery 4×4 lake.
The random and expert scores (``RANDOM``/``EXPERT``) are measured by ``measure_scores`` on
seeds 0..49 and frozen here; tests check they reproduce.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import scipy.linalg

from topiclab.nn import gato_tokenizer as gt

Policy = Callable[[Any, np.random.Generator], Any]


def cartpole_expert(obs: np.ndarray, rng: np.random.Generator) -> int:
    x, v, th, om = obs
    return int(0.1 * x + 0.5 * v + 10.0 * th + 2.0 * om > 0)


def mountaincar_expert(obs: np.ndarray, rng: np.random.Generator) -> int:
    return 2 if obs[1] >= 0 else 0


def mountaincar_continuous_expert(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Energy pumping with the full force along the velocity, ±1 (the discrete MountainCar's
    rule): the car swings higher at every pass and reaches the flag in 105–111 steps on seeds
    0..49. Every step costs 0.1·a², so a gentler force would score more per step but climbs
    more slowly or not at all; bang-bang is also what the median of a two-peaked bin
    distribution decodes cleanly."""
    return np.array([1.0 if obs[1] >= 0 else -1.0], dtype=np.float32)


PENDULUM_BLEND = (0.6, 0.9)  # cos θ where the pump hands over to the balance, smoothly


@functools.cache
def pendulum_lqr() -> np.ndarray:
    """State feedback gains K (u = −K·[θ, θ']) of the discrete LQR on Pendulum-v1 linearised
    at the top: θ'' = 15·θ + 3·u, semi-implicit Euler with dt = 0.05 as the environment steps,
    costs θ² + 0.1·θ'² (the environment's) and 0.01·u² (ten times the environment's: softer
    gains, so the torque saturates less)."""
    dt = 0.05
    a = np.array([[1 + 15 * dt * dt, dt], [15 * dt, 1]])
    b = np.array([[3 * dt * dt], [3 * dt]])
    q, r = np.diag([1.0, 0.1]), np.array([[0.01]])
    p = scipy.linalg.solve_discrete_are(a, b, q, r)
    return np.linalg.solve(r + b.T @ p @ b, b.T @ p @ a)[0]


def pendulum_expert(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bang-bang energy pumping blended into an LQR balance (θ = 0 is up), clipped to ±2.

    Below the energy of rest at the top (E = θ'²/2 + 15·(cos θ − 1) < 0) the pump pushes with
    the full torque along the velocity, 2·sign(θ'), else it lets go (Åström & Furuta 2000's
    energy control with a saturating gain); the weight of the LQR rises smoothly (smoothstep)
    from cos θ = 0.6 to 0.9. It scores −139.89 on seeds 0..49; the
    previous expert's proportional pump 0.02·(−E)·θ', chosen to be easy to imitate, scored
    −219.44 and was not imitated either. The swing-up's torque is a threshold of one
    observation (the sign of θ') and of the energy; the standard model still does not learn
    it from the observation (the topic's docs measure it).
    """
    cos, sin, om = (float(v) for v in obs)
    energy = 0.5 * om**2 + 15.0 * (cos - 1.0)
    pump = 2.0 * np.sign(om) * (energy < 0.0)
    k = pendulum_lqr()
    balance = -(k[0] * np.arctan2(sin, cos) + k[1] * om)
    lo, hi = PENDULUM_BLEND
    w = float(np.clip((cos - lo) / (hi - lo), 0.0, 1.0))
    w = w * w * (3 - 2 * w)
    return np.array([np.clip(w * balance + (1 - w) * pump, -2.0, 2.0)], dtype=np.float32)


FROZENLAKE_MAP = ("SFFF", "FHFH", "FFFH", "HFFG")  # gymnasium's 4×4 lake
# The same lake transposed: the same start and goal, the holes mirrored across the diagonal, so
# the first observation (state 0) does not say which lake it is; a prompt demonstration does.
FROZENLAKE_T_MAP = tuple("".join(row[i] for row in FROZENLAKE_MAP) for i in range(4))


@functools.cache
def frozenlake_expert_table(desc: tuple[str, ...] = FROZENLAKE_MAP) -> np.ndarray:
    """The optimal action per state of the slippery 4×4 lake ``desc``, by value iteration
    (γ = 0.999)."""
    env = gym.make("FrozenLake-v1", desc=list(desc))
    P = env.unwrapped.P  # type: ignore[attr-defined]
    n_s, n_a = len(P), len(P[0])
    v = np.zeros(n_s)
    for _ in range(2000):
        q = np.array(
            [
                [
                    sum(p * (r + 0.999 * v[s2] * (not d)) for p, s2, r, d in P[s][a])
                    for a in range(n_a)
                ]
                for s in range(n_s)
            ]
        )
        v = q.max(axis=1)
    env.close()
    return q.argmax(axis=1)


def frozenlake_expert(obs: int, rng: np.random.Generator) -> int:
    return int(frozenlake_expert_table()[int(obs)])


def frozenlake_t_expert(obs: int, rng: np.random.Generator) -> int:
    return int(frozenlake_expert_table(FROZENLAKE_T_MAP)[int(obs)])


ACTION_MU_LAW = False


@functools.cache
def obs_mu_law(name: str) -> np.ndarray:
    """Per observation dimension: μ-law unless the space bounds it to [-1, 1] already (Reed et
    al. 2022, sec. 2.1: "mu-law encoded to the range [-1, 1] if not already there")."""
    env = gym.make(name)
    space = env.observation_space
    env.close()
    return ~((space.low >= -1.0) & (space.high <= 1.0))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ControlTask:
    """One environment: how to build it, its expert, and its tokens."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    env_id: str = ""  # gymnasium's id when ``name`` is not one (a variant by its kwargs)
    expert: Policy = cartpole_expert
    continuous_obs: bool = True
    n_actions: int = 0  # discrete actions; 0: continuous
    action_scale: float = 1.0  # continuous actions are divided by this before tokenising
    max_steps: int = 500

    def make(self) -> gym.Env:
        return gym.make(self.env_id or self.name, **self.kwargs)

    def obs_ids(self, obs: Any) -> np.ndarray:
        if self.continuous_obs:
            return gt.continuous_tokens(np.asarray(obs, dtype=np.float64), obs_mu_law(self.name))
        return gt.discrete_tokens(np.atleast_1d(obs))

    def action_ids(self, action: Any) -> np.ndarray:
        """Continuous actions are scaled into [-1, 1] (as DM Control's are), so they are
        binned uniformly, without μ-law."""
        if self.n_actions:
            return gt.discrete_tokens(np.atleast_1d(action))
        scaled = np.asarray(action, dtype=np.float64) / self.action_scale
        return gt.continuous_tokens(scaled, ACTION_MU_LAW)

    def action_of(self, ids: np.ndarray) -> Any:
        """Action tokens -> the environment's action."""
        if self.n_actions:
            return int(np.clip(ids[0] - gt.DISCRETE_START, 0, self.n_actions - 1))
        return (gt.decode_continuous(ids, ACTION_MU_LAW) * self.action_scale).astype(np.float32)

    def action_range(self) -> tuple[int, int]:
        """The ids an action token may take: decoding is restricted to them."""
        if self.n_actions:
            return gt.DISCRETE_START, gt.DISCRETE_START + self.n_actions
        return gt.CONT_START, gt.CONT_START + gt.N_BINS

    def random_policy(self, env: gym.Env) -> Policy:
        space = env.action_space
        return lambda obs, rng: space.sample()


TASKS: dict[str, ControlTask] = {
    t.name: t
    for t in (
        ControlTask("CartPole-v1", expert=cartpole_expert, n_actions=2, max_steps=500),
        ControlTask("MountainCar-v0", expert=mountaincar_expert, n_actions=3, max_steps=200),
        ControlTask("Pendulum-v1", expert=pendulum_expert, action_scale=2.0, max_steps=200),
        ControlTask(
            "MountainCarContinuous-v0", expert=mountaincar_continuous_expert, max_steps=999
        ),
        ControlTask(
            "FrozenLake-v1",
            expert=frozenlake_expert,
            continuous_obs=False,
            n_actions=4,
            max_steps=100,
        ),
        ControlTask(
            "FrozenLakeT-v1",
            kwargs={"desc": list(FROZENLAKE_T_MAP)},
            env_id="FrozenLake-v1",
            expert=frozenlake_t_expert,
            continuous_obs=False,
            n_actions=4,
            max_steps=100,
        ),
    )
}

# Measured by measure_scores(task, seeds 0..49) with gymnasium 1.4.0 and frozen (tests check).
RANDOM: dict[str, float] = {
    "CartPole-v1": 26.48,
    "MountainCar-v0": -200.0,
    "Pendulum-v1": -1200.70,
    "MountainCarContinuous-v0": -33.2513,  # 999 steps of 0.1·a², a uniform; never at the flag
    "FrozenLake-v1": 0.0,  # 0 successes in 50 random episodes (about 1.5 % in the long run)
    "FrozenLakeT-v1": 0.02,
}
EXPERT: dict[str, float] = {
    "CartPole-v1": 500.0,
    "MountainCar-v0": -119.68,
    "Pendulum-v1": -139.89,
    "MountainCarContinuous-v0": 89.366,  # the flag's 100 minus 0.1 a step for 105–111 steps
    "FrozenLake-v1": 0.76,  # the optimum of the slippery lake is about 0.74
    "FrozenLakeT-v1": 0.82,  # the same optimum (the lake transposed): 0.73 over 400 seeds
}
SCORE_SEEDS = range(50)


def run_episode(
    task: ControlTask, policy: Policy | None, seed: int, noise: float = 0.0
) -> tuple[float, list[Any], list[Any]]:
    """One episode from ``reset(seed)``; ``policy`` None is uniform random. Returns the return,
    the observations seen before each action, and the actions. ``noise`` > 0 (continuous
    actions only) executes the action plus N(0, (noise·bound)²), clipped, while the policy's
    own action is returned: DART (Laskey et al. 2017), demonstrations that show the expert
    correcting the errors an imitator will make."""
    env = task.make()
    rng = np.random.default_rng(seed)
    env.action_space.seed(seed)
    pol = policy or task.random_policy(env)
    obs, _ = env.reset(seed=seed)
    total, observations, actions = 0.0, [], []
    for _ in range(task.max_steps):
        a = pol(obs, rng)
        observations.append(obs)
        actions.append(a)
        if noise and not task.n_actions:
            bound = task.action_scale
            a = np.clip(a + noise * bound * rng.standard_normal(np.shape(a)), -bound, bound)
            a = a.astype(np.float32)
        obs, r, term, trunc, _ = env.step(a)
        total += float(r)
        if term or trunc:
            break
    env.close()
    return total, observations, actions


def measure_scores(task: ControlTask, seeds: range) -> dict[str, float]:
    """Mean return of the random policy and of the expert over ``seeds``."""
    rand = [run_episode(task, None, s)[0] for s in seeds]
    exp = [run_episode(task, task.expert, s)[0] for s in seeds]
    return {"random": float(np.mean(rand)), "expert": float(np.mean(exp))}


def normalised(task: str, score: float) -> float:
    """100·(score − random)/(expert − random), the paper's figure of merit."""
    return 100.0 * (score - RANDOM[task]) / (EXPERT[task] - RANDOM[task])
