"""Generator and critic networks for the two GAN architectures.

Every generator maps a latent batch to images in [0, 1] of shape (N, 1, 28, 28) and
knows how to draw its own latents (``sample_latent``), so the sampling API does not
care which architecture it runs. All networks are ``PyTorchModelHubMixin`` classes:
``save_pretrained`` writes ``model.safetensors`` + ``config.json``.
"""

from __future__ import annotations

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn


class Su2017Generator(nn.Module, PyTorchModelHubMixin):
    """The write-up's MLP generator: uniform(-1, 1) noise 10 -> 32 -> 128 -> 784, sigmoid."""

    latent_distribution = "uniform"

    def __init__(self, latent_dim: int = 10, hidden: tuple = (32, 128), image_size: int = 28):
        super().__init__()
        self.latent_dim = latent_dim
        self.image_size = image_size
        dims = [latent_dim, *hidden]
        layers = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers += [nn.Linear(dims[-1], image_size * image_size), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)
        _su2017_init(self)

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.rand(n, self.latent_dim, generator=generator) * 2 - 1

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, 1, self.image_size, self.image_size)


class Su2017Critic(nn.Module, PyTorchModelHubMixin):
    """The write-up's MLP critic: 784 -> 128 -> 32 -> 1, ReLU, no normalisation."""

    def __init__(self, hidden: tuple = (128, 32), image_size: int = 28):
        super().__init__()
        dims = [image_size * image_size, *hidden]
        layers = [nn.Flatten()]
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers += [nn.Linear(dims[-1], 1)]
        self.net = nn.Sequential(*layers)
        _su2017_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def _su2017_init(module: nn.Module) -> None:
    # The original initialises every weight uniformly in [-0.05, 0.05] and biases at zero.
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -0.05, 0.05)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module, PyTorchModelHubMixin):
    """Convolutional generator: N(0, I) latent -> 7x7 -> 14x14 -> 28x28, BatchNorm + ReLU."""

    latent_distribution = "normal"

    def __init__(self, latent_dim: int = 64, channels: int = 32):
        super().__init__()
        self.latent_dim = latent_dim
        c = channels
        self.project = nn.Sequential(
            nn.Linear(latent_dim, 4 * c * 7 * 7, bias=False),
            nn.Unflatten(1, (4 * c, 7, 7)),
            nn.BatchNorm2d(4 * c),
            nn.ReLU(),
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(4 * c, 2 * c, 4, stride=2, padding=1, bias=False),  # 14x14
            nn.BatchNorm2d(2 * c),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1, bias=False),  # 28x28
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.Conv2d(c, 1, 3, padding=1),
            nn.Sigmoid(),
        )

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(self.project(z))


class DCGANCritic(nn.Module, PyTorchModelHubMixin):
    """Convolutional critic: strided convs + LeakyReLU, no normalisation (R1 needs none)."""

    def __init__(self, channels: int = 32):
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c, 4, stride=2, padding=1),  # 14x14
            nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),  # 7x7
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 4 * c, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(4 * c * 7 * 7, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1).squeeze(1)


ARCHITECTURES = {
    "su2017": (Su2017Generator, Su2017Critic),
    "dcgan": (DCGANGenerator, DCGANCritic),
}
