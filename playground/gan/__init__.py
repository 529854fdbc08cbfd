"""Fashion-MNIST GAN: the write-up's WGAN-GP MLP (``su2017``) and a convolutional GAN (``dcgan``)."""

from .api import (
    ARCHS,
    DEFAULT_ARCH,
    generate,
    interpolate,
    interpolation_gif,
    load_generator,
    model_dir,
)

__all__ = ["ARCHS", "DEFAULT_ARCH", "generate", "interpolate", "interpolation_gif", "load_generator", "model_dir"]
