"""Built-in plugin ``mode-collapse``: the topic and the generative trainers ``gan``, ``pacgan``,
``unrolled-gan``, ``vae`` and ``mdn`` (task generative; any topic may use them).

    topiclab run mode-collapse --profile quick
    topiclab run diffusion --set trainer=gan          # a GAN where diffusion trains a DDPM
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from topiclab.core.hookspecs import hookimpl
from topiclab.core.specs import TrainerSpec

if TYPE_CHECKING:  # torch behind these: imported when a trainer is built, not at plugin load
    from topiclab.core.topic import Topic
    from topiclab.nn.gan import GANConfig, GANTrainer
    from topiclab.nn.mdn import MDNConfig, MDNTrainer
    from topiclab.nn.vae import VAEConfig, VAETrainer


def build_gan(config: GANConfig) -> GANTrainer:
    from topiclab.nn.gan import GANTrainer

    return GANTrainer(config)


def build_vae(config: VAEConfig) -> VAETrainer:
    from topiclab.nn.vae import VAETrainer

    return VAETrainer(config)


def build_mdn(config: MDNConfig) -> MDNTrainer:
    from topiclab.nn.mdn import MDNTrainer

    return MDNTrainer(config)


@hookimpl
def topiclab_register_topics() -> list[type[Topic]]:
    from topiclab.plugins.mode_collapse.topic import ModeCollapseTopic

    return [ModeCollapseTopic]


@hookimpl
def topiclab_register_trainers() -> list[TrainerSpec]:
    from topiclab.nn.gan import GANConfig, PacGANConfig, UnrolledGANConfig
    from topiclab.nn.generative import GENERATIVE_TASK
    from topiclab.nn.mdn import MDNConfig
    from topiclab.nn.vae import VAEConfig

    def spec(key: str, build: object, config: type, summary: str) -> TrainerSpec:
        return TrainerSpec(key, GENERATIVE_TASK, build, config, summary)  # type: ignore[arg-type]

    return [
        spec("gan", build_gan, GANConfig, "GAN, non-saturating loss (Goodfellow 2014)"),
        spec("pacgan", build_gan, PacGANConfig, "PacGAN: D sees m packed samples (Lin 2018)"),
        spec("unrolled-gan", build_gan, UnrolledGANConfig, "unrolled GAN, k steps (Metz 2017)"),
        spec("vae", build_vae, VAEConfig, "Gaussian VAE, latent 2 (Kingma & Welling 2014)"),
        spec("mdn", build_mdn, MDNConfig, "mixture density fitted by max. likelihood (Bishop)"),
    ]
