"""The DDPM tab's modern recipe on tiny U-Nets: the eps and v targets and the min-SNR weights
against diffusers' own conversions and the formula, classifier-free guidance (1 is the
conditional prediction, 0 the unconditional, one batched call per step), the class-conditional
pipeline folder through ``DiffusionPipeline.from_pretrained``, the new samplers, the API's
label and guidance, warm starts, and the guidance curve and card of ``eval ddpm``."""

import argparse
import json

import numpy as np
import pytest
import torch

from playground import data, ddpm
from playground.ddpm import api
from playground.ddpm.conditional import FASHION_MNIST_CLASSES, ClassConditionalDDPMPipeline, guided_output
from playground.ddpm.models import make_scheduler, make_unet, null_class
from playground.ddpm.pipeline import SAMPLERS, make_sampler, x0_estimate
from playground.ddpm.train import TrainConfig, compute_loss, load_initial_unet, loss_weights, train
from playground.training import BatchStream


def _conditional_folder(folder, prediction="v_prediction", guidance=2.0):
    from playground.ddpm.train import export_pipeline

    torch.manual_seed(0)
    unet = make_unet("tiny", classes=10)
    torch.nn.init.normal_(unet.class_embedding.weight)  # a random net whose classes matter
    export_pipeline(unet, make_scheduler("su", prediction), folder, guidance_scale=guidance)
    return str(folder)


@pytest.fixture(scope="module")
def cond(tmp_path_factory):
    return _conditional_folder(tmp_path_factory.mktemp("ddpm-cond") / "tiny-cfg")


# --------------------------------------------------------------------------- targets and weights
@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_x0_from_either_target_agrees_with_the_scheduler(prediction):
    sched = make_scheduler("su", prediction)
    sched.config.clip_sample = False  # compare the raw conversion
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(4, 1, 28, 28, generator=g), torch.randn(4, 1, 28, 28, generator=g)
    t = torch.tensor([10, 200, 600, 990])
    xt = sched.add_noise(x0, noise, t)
    target = sched.get_velocity(x0, noise, t) if prediction == "v_prediction" else noise
    for i in range(4):
        ours = x0_estimate(target[i:i + 1], xt[i:i + 1], sched.alphas_cumprod[t[i]], prediction)
        theirs = sched.step(target[i:i + 1], int(t[i]), xt[i:i + 1]).pred_original_sample
        assert torch.allclose(ours, x0[i:i + 1], atol=1e-3) and torch.allclose(ours, theirs, atol=1e-4)


def test_v_is_the_velocity_of_the_scheduler():
    sched = make_scheduler("su", "v_prediction")
    x0, noise, t = torch.randn(3, 1, 28, 28), torch.randn(3, 1, 28, 28), torch.tensor([0, 500, 999])
    a = sched.alphas_cumprod[t].view(-1, 1, 1, 1)
    assert torch.allclose(sched.get_velocity(x0, noise, t), a.sqrt() * noise - (1 - a).sqrt() * x0, atol=1e-5)


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_min_snr_weights_follow_the_formula(prediction):
    sched = make_scheduler("cosine", prediction)
    t = torch.tensor([0, 50, 300, 700, 999])
    a = sched.alphas_cumprod[t].double()
    snr = a / (1 - a)
    expected = snr.clamp(max=5) / (snr + 1 if prediction == "v_prediction" else snr)
    assert torch.allclose(loss_weights(sched, t, 5.0).double(), expected, rtol=1e-4)
    assert torch.equal(loss_weights(sched, t, 0.0), torch.ones(5))
    w = loss_weights(sched, t, 5.0)
    assert w[-1] == pytest.approx(1.0 if prediction == "epsilon" else float(snr[-1] / (snr[-1] + 1)), rel=1e-3)
    assert w[0] < 0.01  # the nearly clean step counts for almost nothing


@pytest.mark.parametrize("prediction, gamma", [("epsilon", 0.0), ("epsilon", 5.0), ("v_prediction", 0.0),
                                               ("v_prediction", 5.0)])
def test_the_loss_is_the_weighted_error_against_the_target(prediction, gamma):
    torch.manual_seed(0)
    unet, sched = make_unet("tiny", classes=10), make_scheduler("su", prediction)
    x0 = torch.rand(6, 1, 28, 28) * 2 - 1
    labels = torch.arange(6)
    loss = compute_loss(unet, sched, x0, torch.Generator().manual_seed(1), labels=labels, snr_gamma=gamma,
                        cond_drop=0.5, null=10)
    g = torch.Generator().manual_seed(1)  # the same draws, in compute_loss's order
    noise = torch.randn(x0.shape, generator=g)
    t = torch.randint(0, 1000, (6,), generator=g)
    drop = torch.rand(6, generator=g) < 0.5
    pred = unet(sched.add_noise(x0, noise, t), t, class_labels=torch.where(drop, 10, labels)).sample
    target = sched.get_velocity(x0, noise, t) if prediction == "v_prediction" else noise
    expected = ((pred - target).pow(2).mean(dim=(1, 2, 3)) * loss_weights(sched, t, gamma)).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    assert unet.class_embedding.weight.grad is not None


def test_batches_keep_each_image_with_its_label():
    images = torch.arange(20).float().view(20, 1, 1, 1)
    stream = BatchStream(images, 6, seed=0, labels=torch.arange(20) + 100)
    for _ in range(5):  # across an epoch boundary
        x, y = stream.next()
        assert torch.equal(x.view(-1).long() + 100, y)


# --------------------------------------------------------------------------- guidance
def test_guidance_one_is_the_conditional_and_zero_the_unconditional_prediction():
    torch.manual_seed(0)
    unet = make_unet("tiny", classes=10).eval()
    torch.nn.init.normal_(unet.class_embedding.weight)
    x, t, labels = torch.randn(3, 1, 28, 28), torch.tensor(500), torch.tensor([0, 4, 9])
    with torch.no_grad():
        cond = unet(x, t, class_labels=labels).sample
        uncond = unet(x, t, class_labels=torch.full((3,), 10)).sample
        assert torch.equal(guided_output(unet, x, t, labels, 1.0, 10), cond)
        assert torch.equal(guided_output(unet, x, t, labels, 0.0, 10), uncond)
        assert torch.allclose(guided_output(unet, x, t, labels, 3.0, 10), uncond + 3 * (cond - uncond), atol=1e-5)
        assert not torch.allclose(cond, uncond, atol=1e-3)


def test_guided_sampling_calls_the_unet_once_per_step_on_a_doubled_batch(cond):
    unet = ddpm.load_unet(cond)
    seen = []
    hook = unet.register_forward_hook(lambda module, args, kwargs, out: seen.append(
        (len(args[0]), kwargs["class_labels"].tolist())), with_kwargs=True)
    try:
        ddpm.generate(2, steps=4, sampler="dpm++", seed=0, model=cond, output_type="np", label="Bag", guidance=2.5)
        assert len(seen) == 4 and all(n == 4 and labels == [8, 8, 10, 10] for n, labels in seen)
        seen.clear()
        ddpm.generate(2, steps=4, sampler="dpm++", seed=0, model=cond, output_type="np", label=8, guidance=1)
        assert len(seen) == 4 and all(n == 2 and labels == [8, 8] for n, labels in seen)
    finally:
        hook.remove()


# --------------------------------------------------------------------------- the pipeline folder
def test_the_conditional_folder_round_trips_through_diffusion_pipeline(cond, tmp_path, monkeypatch):
    from diffusers import DiffusionPipeline

    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    ours = ClassConditionalDDPMPipeline.from_pretrained(cond)
    stock = DiffusionPipeline.from_pretrained(cond, custom_pipeline=cond, trust_remote_code=True)
    assert type(stock).__name__ == "ClassConditionalDDPMPipeline" and stock.config.guidance_scale == 2.0
    assert stock.scheduler.config.prediction_type == "v_prediction" and stock.null_class == 10
    for pipe in (ours, stock):
        pipe.set_progress_bar_config(disable=True)
    a = ours(class_labels=["Trouser", 9], num_inference_steps=3, generator=torch.Generator().manual_seed(0),
             output_type="np").images
    b = stock(class_labels=[1, "Ankle boot"], num_inference_steps=3, generator=torch.Generator().manual_seed(0),
              output_type="np").images
    assert a.shape == (2, 28, 28, 1) and np.array_equal(a, b)
    with pytest.raises(ValueError, match="class labels run from 0 to 9"):
        ours(class_labels=[10], num_inference_steps=2)
    pil = ours(batch_size=3, num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images
    assert len(pil) == 3 and pil[0].size == (28, 28)


def test_the_standalone_pipeline_file_names_the_dataset_classes():
    assert FASHION_MNIST_CLASSES == data.CLASSES == api.CLASSES


# --------------------------------------------------------------------------- samplers and the API
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_on_a_conditional_v_model(cond, sampler):
    a = ddpm.generate(3, steps=5, sampler=sampler, seed=7, model=cond, output_type="np", label="Coat")
    assert a.shape == (3, 28, 28) and a.dtype == np.uint8
    assert np.array_equal(a, ddpm.generate(3, steps=5, sampler=sampler, seed=7, model=cond, output_type="np",
                                           label=4))
    assert not np.array_equal(a, ddpm.generate(3, steps=5, sampler=sampler, seed=8, model=cond, output_type="np",
                                               label=4))


def test_the_stochastic_dpm_solver_draws_noise_and_unipc_runs_order_three():
    sched = make_scheduler("su")
    assert make_sampler(sched, "sde-dpm++").config.algorithm_type == "sde-dpmsolver++"
    assert make_sampler(sched, "dpm++").config.algorithm_type == "dpmsolver++"
    unipc = make_sampler(sched, "unipc")
    assert type(unipc).__name__ == "UniPCMultistepScheduler" and unipc.config.solver_order == 3
    assert make_sampler(make_scheduler("su", "v_prediction"), "unipc").config.prediction_type == "v_prediction"


def test_labels_names_and_indices(cond):
    by_name = ddpm.generate(2, steps=3, seed=1, model=cond, output_type="np", label="ankle BOOT")
    assert np.array_equal(by_name, ddpm.generate(2, steps=3, seed=1, model=cond, output_type="np", label=9))
    assert np.array_equal(by_name, ddpm.generate(2, steps=3, seed=1, model=cond, output_type="np", label="9"))
    other = ddpm.generate(2, steps=3, seed=1, model=cond, output_type="np", label="Trouser")
    assert not np.array_equal(by_name, other)  # the class changes the images...
    images = ddpm.generate(4, steps=3, seed=1, model=cond)
    params = [json.loads(im.info["parameters"]) for im in images]
    assert all(p["guidance"] == 2.0 and p["label"] in FASHION_MNIST_CLASSES for p in params)  # the saved default
    assert len({p["label"] for p in params}) > 1  # label None: a class drawn per image


def test_the_same_seed_gives_the_same_noise_for_every_label(cond):
    """At guidance 0 the class is not used, so two labels give the same images exactly when they
    start from the same noise."""
    a = list(ddpm.frames(2, steps=2, sampler="ddim", seed=3, model=cond, output_type="np", label=0, guidance=0))
    b = list(ddpm.frames(2, steps=2, sampler="ddim", seed=3, model=cond, output_type="np", label=5, guidance=0))
    assert np.array_equal(a[-1]["x_t"], b[-1]["x_t"])  # guidance 0 ignores the class: same noise, same images
    assert a[0]["labels"] == ["T-shirt/top"] * 2 and b[0]["labels"] == ["Sandal"] * 2


def test_frames_end_at_generate_with_their_classes(cond):
    seen = list(ddpm.frames(3, steps=4, sampler="unipc", seed=2, model=cond, output_type="np", guidance=3))
    end = ddpm.generate(3, steps=4, sampler="unipc", seed=2, model=cond, output_type="np", guidance=3)
    assert np.array_equal(seen[-1]["x_t"], end) and len(seen[-1]["labels"]) == 3


def test_sampler_grid_one_seed_across_samplers_and_steps(cond):
    cells = ddpm.sampler_grid(seed=4, samplers=["ddim", "unipc"], steps=[2, 3], model=cond, label="Dress",
                              guidance=1.5, output_type="np")
    assert [(c["sampler"], c["steps"]) for c in cells] == [("ddim", 2), ("ddim", 3), ("unipc", 2), ("unipc", 3)]
    assert np.array_equal(cells[1]["image"], ddpm.generate(1, steps=3, sampler="ddim", seed=4, model=cond,
                                                           output_type="np", label=3, guidance=1.5)[0])
    pil = ddpm.sampler_grid(seed=4, samplers=["dpm++"], steps=[2], model=cond)
    assert pil[0]["label"] in FASHION_MNIST_CLASSES and pil[0]["image"].size == (28, 28)
    for kwargs, match in [({"samplers": ["heun"]}, "sampler must be one of"), ({"samplers": "ddim"}, "samplers"),
                          ({"steps": [0]}, "steps"), ({"steps": list(range(1, 10))}, "steps"),
                          ({"steps": 5}, "steps")]:
        with pytest.raises(ValueError, match=match):
            ddpm.sampler_grid(seed=0, model=cond, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"label": "Hat"}, "label must be a Fashion-MNIST class"),
    ({"label": 10}, "label must be"), ({"label": -1}, "label must be"), ({"label": 2.5}, "label"),
    ({"label": True}, "label"), ({"guidance": -0.5}, "guidance"), ({"guidance": 21}, "guidance"),
    ({"guidance": float("nan")}, "guidance"), ({"guidance": "strong"}, "guidance"),
])
def test_bad_labels_and_guidance(cond, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ddpm.generate(1, steps=2, model=cond, **kwargs)
    with pytest.raises(ValueError, match=match):
        ddpm.frames(1, steps=2, model=cond, **kwargs)


def test_an_unconditional_model_refuses_a_class_or_a_scale(tmp_path):
    from diffusers import DDPMPipeline

    DDPMPipeline(unet=make_unet("tiny"), scheduler=make_scheduler("su")).save_pretrained(tmp_path / "u")
    for kwargs in ({"label": 1}, {"guidance": 2.0}, {"label": "Bag", "guidance": 1}):
        with pytest.raises(ValueError, match="is unconditional"):
            ddpm.generate(1, steps=2, model=str(tmp_path / "u"), **kwargs)
    assert ddpm.generate(1, steps=2, model=str(tmp_path / "u"), output_type="np").shape == (1, 28, 28)


def test_interpolation_on_a_conditional_model_is_unconditional(cond):
    unet = ddpm.load_unet(cond)
    seen = []
    hook = unet.register_forward_hook(lambda module, args, kwargs, out: seen.append(
        kwargs["class_labels"].tolist()), with_kwargs=True)
    try:
        mixes = ddpm.interpolate(np.zeros((28, 28)), np.ones((28, 28)) * 255, t0=400, steps=5, points=3, seed=0,
                                 model=cond, output_type="np")
    finally:
        hook.remove()
    assert mixes.shape == (3, 28, 28) and seen and all(labels == [10, 10, 10] for labels in seen)


# --------------------------------------------------------------------------- training
def test_a_warm_start_adds_a_class_embedding_that_changes_nothing(tmp_path):
    from diffusers import DDPMPipeline

    torch.manual_seed(0)
    source = make_unet("tiny").eval()
    DDPMPipeline(unet=source, scheduler=make_scheduler("su")).save_pretrained(tmp_path / "u")
    unet = make_unet("tiny", classes=10).eval()
    load_initial_unet(unet, str(tmp_path / "u"))
    assert null_class(unet) == 10 and not unet.class_embedding.weight.any()
    x, t = torch.randn(2, 1, 28, 28), torch.tensor(300)
    with torch.no_grad():
        assert torch.allclose(unet(x, t, class_labels=torch.tensor([3, 10])).sample, source(x, t).sample, atol=1e-6)
    with pytest.raises(ValueError, match="block_out_channels"):
        load_initial_unet(make_unet("small", classes=10), str(tmp_path / "u"))


def test_a_conditional_run_trains_resumes_and_exports(tmp_path):
    from diffusers import DDPMPipeline

    DDPMPipeline(unet=make_unet("tiny"), scheduler=make_scheduler("su")).save_pretrained(tmp_path / "u")
    config = TrainConfig(size="tiny", batch_size=8, warmup=2, steps=3, classes=10, prediction="v_prediction",
                         snr_gamma=5, init_from=str(tmp_path / "u"), seed=1)
    straight = train(config, tmp_path / "a", export_dir=tmp_path / "export", progress=False, log_every=1)
    assert straight["finished"] and straight["classes"] == 10 and straight["prediction"] == "v_prediction"
    short = TrainConfig(**{**config.__dict__, "steps": 1})
    train(short, tmp_path / "b", progress=False, log_every=1)
    train(config, tmp_path / "b", progress=False, log_every=1)
    a = torch.load(tmp_path / "a" / "state.pt", weights_only=True)["unet"]
    b = torch.load(tmp_path / "b" / "state.pt", weights_only=True)["unet"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)
    export = tmp_path / "export"
    assert (export / "pipeline.py").read_text() == (api.Path(api.__file__).with_name("conditional.py")).read_text()
    index = json.loads((export / "model_index.json").read_text())
    assert index["_class_name"] == "ClassConditionalDDPMPipeline" and index["guidance_scale"] == 1.0
    card = (export / "README.md").read_text()
    assert "Class-conditional DDPM" in card and "v + min-SNR 5" in card and "custom_pipeline=folder" in card
    assert ddpm.generate(2, steps=2, model=str(export), output_type="np", label="Bag").shape == (2, 28, 28)


def test_bad_recipe_configurations(tmp_path):
    for kwargs, match in [(dict(prediction="sample"), "--prediction must be one of"),
                          (dict(snr_gamma=-1.0), "snr_gamma"), (dict(classes=5), "classes must be 0"),
                          (dict(cond_drop=1.0), "cond_drop"), (dict(init_from=str(tmp_path)), "init_from")]:
        with pytest.raises(ValueError, match=match):
            TrainConfig(**kwargs)


# --------------------------------------------------------------------------- eval
def test_the_guidance_curve_picks_the_lowest_fd_default_and_the_card_plots_it(cond, tmp_path):
    import shutil

    from playground.ddpm import tab
    from playground.ddpm.card import write_card

    folder = tmp_path / "m"
    shutil.copytree(cond, folder)
    args = argparse.Namespace(pipeline=str(folder), n=40, table="dpm++:2@40", json=None, compare_schedules=None,
                              compare_recipes=None, guidance=None, guidance_curve="0,1,2", curve_n=40, seed=0,
                              data_dir=None, write_card=True, threads=None)
    assert tab.evaluate(args, "eval ddpm (test)") == 0
    m = json.loads((folder / "metrics.json").read_text())
    curve = m["guidance"]
    assert [p["guidance"] for p in curve["points"]] == [0, 1, 2] and curve["n"] == 40
    assert all(0 <= p["accuracy"] <= 1 and len(p["class_accuracy"]) == 10 for p in curve["points"])
    assert curve["best"] == min(curve["points"], key=lambda p: p["fd"])["guidance"]
    faithful = [p["guidance"] for p in curve["points"] if p["accuracy"] >= tab.ACCURACY_BAR]
    assert curve["faithful"] == (min(faithful) if faithful else None)
    assert m["rows"][0]["guidance"] == curve["best"]  # the table runs at the chosen scale
    assert json.loads((folder / "model_index.json").read_text())["guidance_scale"] == curve["best"]
    card = (folder / "README.md").read_text()
    assert "![FD and class accuracy against guidance](guidance.png)" in card and "| 0 |" in card
    assert (folder / "guidance.png").stat().st_size > 1000
    # a rewrite keeps the measured default; an unconditional model has no curve
    write_card(folder)
    with pytest.raises(ValueError, match="class-conditional"):
        tab.guidance_curve(argparse.Namespace(guidance_curve="1", curve_n=20, seed=0, data_dir=None), api.SHIPPED, {})
    with pytest.raises(ValueError, match="0 to 20"):
        tab._parse_scales("1,50")
