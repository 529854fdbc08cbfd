"""The DDPM tab's network and noise schedules: a diffusers ``UNet2DModel`` for 28x28 greyscale
images and the ``DDPMScheduler`` configurations we train with.

The U-Net works on the images as they are, 28x28 (no padding to 32): its three levels run at
28, 14 and 7 pixels, with self-attention only at 7x7. Images enter in [-1, 1].

Schedules (T = 1000 each; the variance beta_t of step t):

* ``"su"``: the write-up's, beta_t = 0.02 t / T, linear from 2e-5 to 0.02
  (its a_t = sqrt(1 - 0.02 t / T));
* ``"linear"``: the DDPM paper's and diffusers' default, linear from 1e-4 to 0.02;
* ``"cosine"``: Nichol & Dhariwal's ``squaredcos_cap_v2``.
"""

from __future__ import annotations

from diffusers import DDPMScheduler, UNet2DModel

SCHEDULES = {
    "su": dict(beta_schedule="linear", beta_start=2e-5, beta_end=0.02),
    "linear": dict(beta_schedule="linear", beta_start=1e-4, beta_end=0.02),
    "cosine": dict(beta_schedule="squaredcos_cap_v2"),
}
T = 1000

# sizes: channels per level, resnet blocks per level
SIZES = {
    "tiny": dict(block_out_channels=(8, 16, 16), layers_per_block=1, norm_num_groups=4, attention_head_dim=8),
    "small": dict(block_out_channels=(32, 64, 96), layers_per_block=1, norm_num_groups=8, attention_head_dim=32),
    "base": dict(block_out_channels=(48, 96, 192), layers_per_block=1, norm_num_groups=8, attention_head_dim=32),
}


def make_unet(size: str = "small", sample_size: int = 28, channels: int = 1) -> UNet2DModel:
    """A U-Net predicting the noise eps from (x_t, t); attention only at the coarsest level."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {list(SIZES)}, not {size!r}")
    return UNet2DModel(
        sample_size=sample_size,
        in_channels=channels,
        out_channels=channels,
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        **SIZES[size],
    )


def make_scheduler(schedule: str = "su") -> DDPMScheduler:
    """The training (and ancestral sampling) scheduler for ``schedule``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {list(SCHEDULES)}, not {schedule!r}")
    return DDPMScheduler(num_train_timesteps=T, prediction_type="epsilon", clip_sample=True,
                         variance_type="fixed_small", **SCHEDULES[schedule])
