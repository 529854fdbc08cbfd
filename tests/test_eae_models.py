"""The EAE network and its k-NN entropy estimator."""

import math

import pytest
import torch

from playground.eae.models import (
    Autoencoder,
    gaussian_entropy,
    knn_entropy,
    log_unit_ball_volume,
)


def test_unit_ball_volume():
    assert math.exp(log_unit_ball_volume(1)) == pytest.approx(2.0)
    assert math.exp(log_unit_ball_volume(2)) == pytest.approx(math.pi)
    assert math.exp(log_unit_ball_volume(3)) == pytest.approx(4 / 3 * math.pi)


# Kozachenko-Leonenko is consistent; on 4,000 draws in up to 8 dimensions it lands within
# 0.1 nats of the closed form d/2 log(2 pi e sigma^2) (measured: within 0.05), for k = 1 and k > 1.
@pytest.mark.parametrize("d", [1, 2, 4, 8])
@pytest.mark.parametrize("k", [1, 4, 10])
@pytest.mark.parametrize("std", [1.0, 0.3])
def test_knn_entropy_matches_the_gaussian_closed_form(d, k, std):
    z = torch.randn(4000, d, generator=torch.Generator().manual_seed(d * 100 + k)) * std
    assert knn_entropy(z, k).item() == pytest.approx(gaussian_entropy(d, std), abs=0.1)


def test_knn_entropy_large_inputs_are_chunked_alike():
    from playground.eae.models import _kth_neighbour_sq

    z = torch.randn(1500, 3, generator=torch.Generator().manual_seed(0))
    # above 1,024 rows the distances come from cdist in chunks; on the same points they agree with
    # the direct pairwise form
    direct = (z[:, None] - z[None]).pow(2).sum(-1).fill_diagonal_(float("inf")).kthvalue(2, dim=1).values
    chunked = torch.cat([_kth_neighbour_sq(z, c, s, 2) for s, c in zip(range(0, 1500, 1024), z.split(1024))])
    assert torch.allclose(chunked, direct, rtol=1e-4, atol=1e-6)
    assert knn_entropy(z, 2).item() == pytest.approx(gaussian_entropy(3), abs=0.1)


def test_uniform_has_lower_entropy_than_the_gaussian_of_equal_variance():
    # uniform on [-sqrt3, sqrt3]^d has unit variance and entropy d log(2 sqrt3) < d/2 log(2 pi e)
    d = 4
    u = (torch.rand(4000, d, generator=torch.Generator().manual_seed(1)) * 2 - 1) * math.sqrt(3)
    expected = d * math.log(2 * math.sqrt(3))
    # the estimator overshoots a little on a bounded support (boundary effect): 0.25 nats here
    assert knn_entropy(u, 3).item() == pytest.approx(expected, abs=0.25)
    g = torch.randn(4000, d, generator=torch.Generator().manual_seed(2))
    assert knn_entropy(u, 3).item() < knn_entropy(g, 3).item() - 0.3


def test_maximising_entropy_spreads_a_batch():
    z = (torch.randn(64, 4) * 0.1).requires_grad_(True)
    before = knn_entropy(z, 1).item()
    opt = torch.optim.SGD([z], lr=0.01)
    for _ in range(20):
        loss = -knn_entropy(z, 1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.isfinite(z.grad).all() and knn_entropy(z, 1).item() > before + 1


def test_knn_entropy_rejects_bad_k():
    with pytest.raises(ValueError, match="k must be between"):
        knn_entropy(torch.randn(10, 2), 10)


def test_duplicate_points_stay_finite():
    z = torch.zeros(8, 3, requires_grad=True)
    h = knn_entropy(z, 1)
    h.backward()
    assert torch.isfinite(h) and torch.isfinite(z.grad).all()


@pytest.mark.parametrize("kind", ["eae", "ae-bn", "vae"])
def test_shapes_and_latent_norm(kind):
    net = Autoencoder(kind, latent_dim=8, channels=8)
    x = torch.rand(16, 1, 28, 28)
    recon, code, logvar = net(x, noise=torch.randn(16, 8))
    assert recon.shape == x.shape and code.shape == (16, 8) and 0 <= recon.min() and recon.max() <= 1
    assert net.decode(net.sample_latent(5)).shape == (5, 1, 28, 28)
    if kind == "vae":
        assert logvar.shape == (16, 8) and net.latent_norm is None
    else:
        # BatchNorm without scale or shift: the batch's codes have mean 0 and variance 1 per dimension
        assert logvar is None and not list(net.latent_norm.parameters())
        assert torch.allclose(code.mean(0), torch.zeros(8), atol=1e-5)
        assert torch.allclose(code.var(0, unbiased=False), torch.ones(8), atol=1e-3)


def test_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        Autoencoder("gan")
