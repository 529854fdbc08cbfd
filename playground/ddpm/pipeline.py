"""The denoising loop, written out: one U-Net, five diffusers schedulers swapped over it.

* ``"ddpm"``: ancestral sampling (``DDPMScheduler``), the write-up's loop; at 1000 steps
  it is the loop the model was trained for, with fewer it strides the schedule;
* ``"ddim"``: ``DDIMScheduler``, deterministic at eta = 0, ancestral-like at eta = 1;
* ``"dpm++"``: ``DPMSolverMultistepScheduler`` with ``algorithm_type="dpmsolver++"``
  (second-order multistep DPM-Solver++, Lu et al. 2022);
* ``"sde-dpm++"``: the same solver with ``algorithm_type="sde-dpmsolver++"``: second-order
  and stochastic (fresh noise each step), which forgets early errors;
* ``"unipc"``: ``UniPCMultistepScheduler`` at order 3 (Zhao et al. 2023: a predictor plus a
  corrector that reuses the last model output), made for 5-10 steps.

Every scheduler is built from the training scheduler's config, so all follow the noise
schedule and the prediction (eps or v) the U-Net was trained with. A class-conditional U-Net
takes ``labels`` and is guided at scale ``guidance`` (``conditional.guided_output``).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler

from .conditional import guided_output

SAMPLERS = ("ddpm", "ddim", "dpm++", "sde-dpm++", "unipc")
STOCHASTIC = ("ddpm", "ddim", "sde-dpm++")  # samplers whose step draws noise from the generator


def make_sampler(train_scheduler, sampler: str):
    """A fresh scheduler of kind ``sampler`` on the training scheduler's noise schedule."""
    config = train_scheduler.config
    if sampler == "ddpm":
        return DDPMScheduler.from_config(config)
    if sampler == "ddim":
        # "trailing" spacing starts at t = T - 1 (pure noise) even at few steps
        return DDIMScheduler.from_config(config, timestep_spacing="trailing", set_alpha_to_one=True)
    if sampler in ("dpm++", "sde-dpm++"):
        # thresholding with sample_max_value 1 clips each x0 prediction to [-1, 1], as the
        # DDPM and DDIM schedulers do with clip_sample: near t = T the U-Net's x0 estimate is
        # (x_t - sqrt(1 - abar) eps) / sqrt(abar) with sqrt(abar) ~ 0.007, and unclipped it
        # saturates the multistep extrapolation (salt-and-pepper samples)
        return DPMSolverMultistepScheduler.from_config(config, algorithm_type=sampler.replace("++", "solver++"),
                                                       solver_order=2, timestep_spacing="trailing",
                                                       thresholding=True, sample_max_value=1.0)
    if sampler == "unipc":
        # the same thresholding of each x0 prediction, for the same reason
        return UniPCMultistepScheduler.from_config(config, solver_order=3, timestep_spacing="trailing",
                                                   thresholding=True, sample_max_value=1.0)
    raise ValueError(f"sampler must be one of {list(SAMPLERS)}, not {sampler!r}")


def x0_estimate(output: torch.Tensor, x: torch.Tensor, abar: torch.Tensor, prediction: str) -> torch.Tensor:
    """The clean image implied by the U-Net's ``output`` at ``x`` = sqrt(abar) x0 + sqrt(1 - abar) eps:
    (x - sqrt(1 - abar) eps) / sqrt(abar) for eps, sqrt(abar) x - sqrt(1 - abar) v for v."""
    if prediction == "v_prediction":
        return abar.sqrt() * x - (1 - abar).sqrt() * output
    return (x - (1 - abar).sqrt() * output) / abar.sqrt()


def denoise(unet, train_scheduler, x: torch.Tensor, steps: int, sampler: str = "dpm++", eta: float = 0.0,
            generator: torch.Generator | None = None, t_start: int | None = None,
            autocast: bool = False, labels: torch.Tensor | None = None,
            guidance: float = 1.0) -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor]]:
    """Run the reverse process from ``x`` (pure noise, or an image noised to ``t_start``),
    yielding ``(i, t, x_prev, x0_estimate)`` after each of the ``steps`` U-Net calls.

    ``x0_estimate`` is the model's current guess of the clean image (``x0_estimate``),
    clipped to [-1, 1]. With ``t_start`` only the timesteps at or below it are run
    (SDEdit-style: used by interpolation); ``steps`` then counts the steps of the whole schedule.
    ``labels`` (a class-conditional U-Net only): one class per image, guided at ``guidance``.
    """
    sched = make_sampler(train_scheduler, sampler)
    sched.set_timesteps(steps, device=x.device)
    timesteps = sched.timesteps
    if t_start is not None:
        keep = timesteps <= t_start
        timesteps = timesteps[keep]
        if hasattr(sched, "set_begin_index"):
            sched.set_begin_index(len(sched.timesteps) - len(timesteps))
    abar = train_scheduler.alphas_cumprod.to(x.device)
    prediction = train_scheduler.config.prediction_type
    null = unet.config.num_class_embeds - 1 if labels is not None else None
    labels = labels.to(x.device) if labels is not None else None
    device_type = x.device.type
    kwargs = {"generator": generator} if sampler in STOCHASTIC else {}
    if sampler == "ddim":
        kwargs["eta"] = eta
    for i, t in enumerate(timesteps):
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=autocast):
            out = guided_output(unet, sched.scale_model_input(x, t), t, labels, guidance, null)
        out = out.float()
        x0 = x0_estimate(out, x, abar[t], prediction).clamp(-1, 1)
        x = sched.step(out, t, x, **kwargs).prev_sample
        yield i, int(t), x, x0


def sample_images(unet, train_scheduler, n: int, steps: int = 25, sampler: str = "dpm++", eta: float = 0.0,
                  generator: torch.Generator | None = None, autocast: bool = False,
                  labels: torch.Tensor | None = None, guidance: float = 1.0) -> torch.Tensor:
    """``n`` samples in [-1, 1], shape (n, C, H, W), from pure noise (``labels``: one class each)."""
    size = unet.config.sample_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    device = next(unet.parameters()).device
    x = torch.randn((n, unet.config.in_channels, *size), generator=generator).to(device)
    with torch.inference_mode():
        for _, _, x, _ in denoise(unet, train_scheduler, x, steps, sampler, eta, generator, autocast=autocast,
                                  labels=labels, guidance=guidance):
            pass
    return x.clamp(-1, 1)
