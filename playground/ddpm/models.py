"""The DDPM tab's network and noise schedules: a diffusers ``UNet2DModel`` for 28x28 greyscale
images and the ``DDPMScheduler`` configurations we train with.

The U-Net works on the images as they are, 28x28 (no padding to 32): its three levels run at
28, 14 and 7 pixels, with self-attention only at 7x7. Images enter in [-1, 1].

Schedules (T = 1000 each; the variance beta_t of step t):

* ``"su"``: the write-up's, beta_t = 0.02 t / T, linear from 2e-5 to 0.02
  (its a_t = sqrt(1 - 0.02 t / T));
* ``"linear"``: the DDPM paper's and diffusers' default, linear from 1e-4 to 0.02;
* ``"cosine"``: Nichol & Dhariwal's ``squaredcos_cap_v2``.

Predictions (what the U-Net outputs, the scheduler's ``prediction_type``): ``"epsilon"``, the
noise (the write-up's and Ho et al.'s), or ``"v_prediction"``, v = sqrt(abar) eps - sqrt(1 - abar) x0
(Salimans & Ho 2022), whose target stays well scaled at both ends of the schedule.

Class-conditional U-Nets (``classes=10``) carry one more class embedding than there are classes:
index ``classes`` is the null class, the "no label" of classifier-free guidance.
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


PREDICTIONS = ("epsilon", "v_prediction")


def make_unet(size: str = "small", sample_size: int = 28, channels: int = 1, classes: int = 0) -> UNet2DModel:
    """A U-Net from (x_t, t) to the noise eps (or v); attention only at the coarsest level. With
    ``classes`` > 0 it also takes a class label (``class_labels``), 0 to ``classes`` - 1, or
    ``classes`` itself for the null class; its embedding is added to the time embedding."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {list(SIZES)}, not {size!r}")
    return UNet2DModel(
        num_class_embeds=classes + 1 if classes else None,
        sample_size=sample_size,
        in_channels=channels,
        out_channels=channels,
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        **SIZES[size],
    )


def null_class(unet) -> int | None:
    """The null-class label of a class-conditional U-Net (its last class embedding), else None."""
    n = unet.config.num_class_embeds
    return n - 1 if n else None


def make_scheduler(schedule: str = "su", prediction: str = "epsilon") -> DDPMScheduler:
    """The training (and ancestral sampling) scheduler for ``schedule`` and ``prediction``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {list(SCHEDULES)}, not {schedule!r}")
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be one of {list(PREDICTIONS)}, not {prediction!r}")
    return DDPMScheduler(num_train_timesteps=T, prediction_type=prediction, clip_sample=True,
                         variance_type="fixed_small", **SCHEDULES[schedule])
