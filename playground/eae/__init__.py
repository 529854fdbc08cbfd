"""EAE: a deterministic autoencoder made generative by BatchNorm + maximum entropy, beside
the same autoencoder with BatchNorm alone (``ae-bn``) and a VAE."""

from .api import (
                  DEFAULT_MODEL,
                  MODELS,
                  generate,
                  interpolate,
                  latent_report,
                  load_model,
                  model_dir,
                  reconstruct,
                  reconstruction_error,
)

__all__ = ["DEFAULT_MODEL", "MODELS", "generate", "interpolate", "latent_report", "load_model", "model_dir",
           "reconstruct", "reconstruction_error"]
