"""A class-conditional DDPM pipeline with classifier-free guidance (Ho & Salimans 2022).

This file imports only torch and diffusers, so that a pipeline folder can carry a copy of it as
its ``pipeline.py`` (diffusers' way for a pipeline class that is not in diffusers):

    # with this package installed: no code is loaded from the folder
    from playground.ddpm.conditional import ClassConditionalDDPMPipeline
    pipe = ClassConditionalDDPMPipeline.from_pretrained("checkpoints/ddpm-fashion-cfg")

    # stock diffusers only: the folder's own pipeline.py (the same code as this file)
    from diffusers import DiffusionPipeline
    pipe = DiffusionPipeline.from_pretrained("checkpoints/ddpm-fashion-cfg",
                                             custom_pipeline="checkpoints/ddpm-fashion-cfg",
                                             trust_remote_code=True)

    images = pipe(class_labels=[9] * 8, guidance_scale=2.0, num_inference_steps=50).images

The U-Net (a stock ``UNet2DModel`` with ``num_class_embeds`` = classes + 1) was trained with the
label replaced by the null class (the last embedding) for a share of the examples, so it predicts
both the conditional output (label y) and the unconditional one (the null class). Guidance mixes
them, out = uncond + w (cond - uncond): w = 0 is the unconditional model, w = 1 the conditional
one, w > 1 pushes each sample toward what makes its class likely. Both halves come from one
batched U-Net call.
"""

from __future__ import annotations

import inspect

import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput
from diffusers.utils.torch_utils import randn_tensor

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")


def guided_output(unet, x: torch.Tensor, t, labels: torch.Tensor | None, guidance: float = 1.0,
                  null: int | None = None) -> torch.Tensor:
    """The U-Net's output (eps or v) at ``x``, step ``t``, guided by ``labels`` with scale ``guidance``.

    ``labels`` None: an unconditional U-Net (one plain call). Guidance 1 is exactly the conditional
    output and 0 exactly the unconditional (null-class) one, each from one call of the batch size;
    any other scale runs conditional and null labels as one batch of twice the size.
    """
    if labels is None:
        return unet(x, t).sample
    if guidance == 1:
        return unet(x, t, class_labels=labels).sample
    nulls = torch.full_like(labels, null)
    if guidance == 0:
        return unet(x, t, class_labels=nulls).sample
    both = unet(torch.cat([x, x]), t, class_labels=torch.cat([labels, nulls])).sample
    cond, uncond = both.chunk(2)
    return uncond + guidance * (cond - uncond)


class ClassConditionalDDPMPipeline(DiffusionPipeline):
    """A class-conditional ``UNet2DModel`` and a scheduler; ``guidance_scale`` (saved in
    ``model_index.json``) is the scale the model's card measured best."""

    model_cpu_offload_seq = "unet"

    def __init__(self, unet, scheduler, guidance_scale: float = 1.0):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler)
        self.register_to_config(guidance_scale=guidance_scale)

    @property
    def null_class(self) -> int:
        return self.unet.config.num_class_embeds - 1

    @torch.no_grad()
    def __call__(self, class_labels=None, batch_size: int = 1, guidance_scale: float | None = None,
                 num_inference_steps: int = 50, generator: torch.Generator | None = None, output_type: str = "pil",
                 return_dict: bool = True):
        """``class_labels``: a list of class indices or Fashion-MNIST names (one image each), or
        None for ``batch_size`` images of classes drawn uniformly; ``guidance_scale`` None: the
        saved one. Returns ``ImagePipelineOutput`` (PIL images, or with ``output_type="np"`` an
        array (n, H, W, C) in [0, 1])."""
        if not self.unet.config.num_class_embeds:
            raise ValueError("this pipeline needs a class-conditional U-Net (num_class_embeds)")
        classes = self.null_class
        if class_labels is None:
            labels = torch.randint(0, classes, (batch_size,), generator=generator)
        else:
            if isinstance(class_labels, (int, str)):
                class_labels = [class_labels]
            labels = torch.tensor([FASHION_MNIST_CLASSES.index(c) if isinstance(c, str) else int(c)
                                   for c in class_labels])
            if labels.min() < 0 or labels.max() >= classes:
                raise ValueError(f"class labels run from 0 to {classes - 1}")
        w = self.config.guidance_scale if guidance_scale is None else float(guidance_scale)
        size = self.unet.config.sample_size
        size = (size, size) if isinstance(size, int) else tuple(size)
        x = randn_tensor((len(labels), self.unet.config.in_channels, *size), generator=generator,
                         device=self.device, dtype=self.unet.dtype)
        labels = labels.to(self.device)
        self.scheduler.set_timesteps(num_inference_steps, device=self.device)
        x = x * self.scheduler.init_noise_sigma
        step_kwargs = {"generator": generator} if "generator" in inspect.signature(self.scheduler.step).parameters \
            else {}
        for t in self.progress_bar(self.scheduler.timesteps):
            out = guided_output(self.unet, self.scheduler.scale_model_input(x, t), t, labels, w, classes)
            x = self.scheduler.step(out, t, x, **step_kwargs).prev_sample
        image = (x / 2 + 0.5).clamp(0, 1).cpu().permute(0, 2, 3, 1).float().numpy()
        if output_type == "pil":
            image = self.numpy_to_pil(image)
        if not return_dict:
            return (image,)
        return ImagePipelineOutput(images=image)
