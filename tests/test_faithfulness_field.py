"""The field's measures: ROAD, FaithfulnessCorrelation, randomization tests, RandomLogit,
LRP-epsilon and the grid pointing game, on small cases with known answers (and against
Quantus and scikit-image where they are installed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import tol
from idmlp.faithfulness import evaluate_faithfulness
from idmlp.faithfulness.correlation import correlation_probe, faithfulness_correlation
from idmlp.faithfulness.evaluation import Explainer
from idmlp.faithfulness.lrp import lrp_epsilon
from idmlp.faithfulness.pointing import make_grids, pointing_game, pointing_scores
from idmlp.faithfulness.randomization import (
    random_other_class,
    randomization_stages,
    randomized_model,
    ssim,
)
from idmlp.faithfulness.road import (
    banded_imputation_system,
    imputation_system,
    noisy_linear_imputation,
    road_curves,
)
from idmlp.nets.cnn import InterpretableCNN
from idmlp.nets.mlp import InterpretableMLP

F64 = torch.float64
_OFFSETS = {(0, 1): 1 / 6, (0, -1): 1 / 6, (1, 0): 1 / 6, (-1, 0): 1 / 6,
            (1, 1): 1 / 12, (1, -1): 1 / 12, (-1, 1): 1 / 12, (-1, -1): 1 / 12}


def _dense_imputation(img: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """The reference: one dense solve per image, written pixel by pixel from the paper's
    definition (each removed pixel is the weighted mean of its neighbours in the image)."""
    h, w = img.shape
    ids = [(i, j) for i in range(h) for j in range(w) if removed[i, j]]
    pos = {p: k for k, p in enumerate(ids)}
    a = np.zeros((len(ids), len(ids)))
    b = np.zeros(len(ids))
    for (i, j), k in pos.items():
        for (di, dj), wt in _OFFSETS.items():
            ni, nj = i + di, j + dj
            if not (0 <= ni < h and 0 <= nj < w):
                continue
            a[k, k] += wt
            if removed[ni, nj]:
                a[k, pos[(ni, nj)]] -= wt
            else:
                b[k] += wt * img[ni, nj]
    out = img.copy()
    for (i, j), v in zip(ids, np.linalg.solve(a, b), strict=True):
        out[i, j] = v
    return out


@pytest.mark.numerics
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), frac=st.floats(0.05, 0.95))
def test_road_imputation_equals_a_dense_reference_solve(seed, frac):
    rng = np.random.default_rng(seed)
    imgs = rng.standard_normal((3, 5, 6))
    removed = rng.random((3, 5, 6)) < frac
    removed[:, 0, 0] = False  # keep one pixel of every image
    got = noisy_linear_imputation(torch.from_numpy(imgs.reshape(3, 30)),
                                  torch.from_numpy(removed.reshape(3, 30)), (5, 6), noise=0.0)
    want = np.stack([_dense_imputation(i, r) for i, r in zip(imgs, removed, strict=True)])
    np.testing.assert_allclose(got.numpy().reshape(3, 5, 6), want, rtol=0,
                               atol=tol(F64, 30, 1e3))
    kept = ~removed.reshape(3, 30)
    assert np.array_equal(got.numpy()[kept], imgs.reshape(3, 30)[kept])


@pytest.mark.numerics
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), frac=st.floats(0.02, 0.98),
       shape=st.sampled_from([(7, 9), (3, 5, 4), (23,), (1, 6)]))
def test_road_banded_solve_equals_the_sparse_lu(seed, frac, shape):
    """The banded Cholesky solve against the sparse LU of the same system
    (:func:`imputation_system`, what the imputation solved before), in float64."""
    from scipy.sparse.linalg import spsolve

    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    x = rng.standard_normal((6, n))
    removed = rng.random((6, n)) < frac
    removed[:, :: max(1, n // 3)] = False  # every channel of every image keeps a pixel
    a, rhs, flat = imputation_system(x, removed, shape)
    want = x.copy()
    want.ravel()[flat] = spsolve(a, rhs, permc_spec="NATURAL")
    ab, rhs_band, flat_band = banded_imputation_system(x, removed, shape)
    assert np.array_equal(flat_band, flat) and np.array_equal(rhs_band, rhs)
    assert ab.shape[0] - 1 <= (shape[-1] + 1 if len(shape) > 1 else 1)  # k <= W + 1
    got = noisy_linear_imputation(torch.from_numpy(x), torch.from_numpy(removed), shape,
                                  noise=0.0).numpy()
    # the system is diagonally dominant with condition number well below 1e3
    np.testing.assert_allclose(got, want, rtol=0, atol=tol(F64, n, 1e3))


def test_road_imputation_noise_and_channels():
    x = torch.randn(2, 2 * 4 * 4, dtype=F64, generator=torch.Generator().manual_seed(0))
    removed = torch.zeros_like(x, dtype=torch.bool)
    removed[:, [5, 21]] = True  # pixel (1, 1) of both channels
    clean = noisy_linear_imputation(x, removed, (2, 4, 4), noise=0.0)
    # channels are imputed separately: each from its own channel's neighbours
    for c in range(2):
        img = x[0, 16 * c : 16 * (c + 1)].reshape(4, 4).numpy()
        want = _dense_imputation(img, np.eye(4, dtype=bool) & (np.arange(4) == 1))
        assert clean[0, 16 * c + 5].item() == pytest.approx(want[1, 1], abs=1e-12)
    noisy = noisy_linear_imputation(x, removed, (2, 4, 4), noise=0.5, seed=3)
    assert torch.equal(noisy, noisy_linear_imputation(x, removed, (2, 4, 4), noise=0.5, seed=3))
    assert 0 < (noisy - clean).abs().max() < 3
    with pytest.raises(ValueError, match="keep at least one pixel"):
        noisy_linear_imputation(x, torch.ones_like(removed), (2, 4, 4))


def test_road_imputation_matches_quantus():
    quantus_perturb = pytest.importorskip("quantus.functions.perturb_func")
    rng = np.random.default_rng(0)
    img = rng.standard_normal((1, 7, 7))
    idx = rng.choice(49, 20, replace=False)
    want = quantus_perturb.noisy_linear_imputation(img, idx, noise=0.0)
    removed = np.zeros(49, dtype=bool)
    removed[idx] = True
    got = noisy_linear_imputation(torch.from_numpy(img.reshape(1, 49)),
                                  torch.from_numpy(removed[None]), (7, 7), noise=0.0)
    np.testing.assert_allclose(got.numpy().reshape(1, 7, 7), want, atol=1e-10)


def _linear(n: int = 36, c: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(c, n, generator=g, dtype=F64)
    return w, (lambda v: v @ w.T)


def test_road_direction_oracle_beats_its_reverse():
    w, fn = _linear()
    x = torch.randn(40, 36, generator=torch.Generator().manual_seed(1), dtype=F64)
    y = fn(x).argmax(1)
    oracle = x * w[y]  # exact contributions of a linear model
    good = road_curves(fn, x, y, oracle, (6, 6), noise=0.0)
    bad = road_curves(fn, x, y, -oracle, (6, 6), noise=0.0)
    assert good[0].mean() < good[1].mean()  # MoRF falls below LeRF
    assert good.gap.mean() > 0.3 > bad.gap.mean()  # higher gap is better
    assert good.gap.shape == (40,) and np.all(np.abs(good.gap) <= 1)


def test_faithfulness_correlation_known_cases():
    # a linear model with baseline 0: the logit drop is exactly the subset's sum of x * w
    w, fn = _linear(20, 2)
    x = torch.randn(6, 20, generator=torch.Generator().manual_seed(2), dtype=F64)
    y = torch.zeros(6, dtype=torch.long)
    exact = faithfulness_correlation(fn, x, y, x * w[0], subset_size=5, runs=30, baseline=0.0)
    np.testing.assert_allclose(exact.numpy(), 1.0, atol=1e-12)
    flipped = faithfulness_correlation(fn, x, y, -x * w[0], subset_size=5, runs=30,
                                       baseline=0.0)
    np.testing.assert_allclose(flipped.numpy(), -1.0, atol=1e-12)  # higher is better
    assert torch.isnan(faithfulness_correlation(fn, x, y, torch.zeros_like(x), subset_size=5,
                                                runs=30)).all()  # a flat map: undefined
    probe = correlation_probe(fn, x, y, subset_size=5, runs=30, baseline=0.0)
    assert probe.mask.sum(-1).eq(5).all()  # subsets of exactly subset_size pixels
    with pytest.raises(ValueError, match="subset_size must be in 1..20"):
        faithfulness_correlation(fn, x, y, x, subset_size=21)


def _net(depth: int = 4, seed: int = 0, activation: str = "hardtanh") -> InterpretableMLP:
    net = InterpretableMLP(16, 3, depth=depth, logit_scale=4.0, dtype=F64,
                           activation=activation).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.add_(0.1 * torch.randn(layer.weight.shape, generator=g, dtype=F64))
    return net


def test_randomization_gives_one_for_a_map_that_ignores_the_weights():
    net = _net()
    x = 0.5 * torch.randn(10, 16, generator=torch.Generator().manual_seed(3), dtype=F64)
    y = net(x).argmax(1)
    stages = randomization_stages(4)
    nets = {label: randomized_model(net, layers, seed=1) for label, layers in stages}
    ev = Explainer(lambda v, c: net.readout(v).maps("evidence_signed", target=c), 1, 0,
                   randomized_fns={k: (lambda v, c, m=m: m.readout(v).maps(
                       "evidence_signed", target=c)) for k, m in nets.items()})
    res = evaluate_faithfulness(
        net.layer_logits, x, y, {"evidence": ev}, methods=("integrated_gradients",),
        steps=4, schedule=4, n_resamples=100, metrics=("randomization", "random_logit"),
        randomized={k: m.layer_logits for k, m in nets.items()})
    np.testing.assert_allclose(res.methods["abs_input"].randomization["top 4"], 1.0)
    np.testing.assert_allclose(res.methods["abs_input"].random_logit, 1.0)  # class-blind
    for name in ("evidence", "integrated_gradients"):
        rho = res.per_image(name, "rand:top 4")
        assert rho.shape == (10,) and rho.mean() < 0.9  # depends on the weights
        assert res.per_image(name, "random_logit_ssim").mean() < 0.99  # depends on the class
    assert set(res.methods["evidence"].randomization) == {label for label, _ in stages}


def test_one_model_under_two_names_is_explained_once():
    """Cascading "top 1" and independent "layer L" are the same network: its maps are
    computed once and shared, and every label still gets its measure."""
    net = _net()
    x = 0.5 * torch.randn(6, 16, generator=torch.Generator().manual_seed(4), dtype=F64)
    y = net(x).argmax(1)
    top1 = randomized_model(net, [4], seed=1)
    nets = {"top 1": top1, "top 4": randomized_model(net, [1, 2, 3, 4], seed=1),
            "layer 4": top1}
    calls: list[str] = []

    def on(label: str, m):
        def fn(v, c):
            calls.append(label)
            return m.readout(v).maps("evidence_signed", target=c)
        return fn

    ev = Explainer(lambda v, c: net.readout(v).maps("evidence_signed", target=c), 1, 0,
                   randomized_fns={k: on(k, m) for k, m in nets.items()})
    res = evaluate_faithfulness(
        net.layer_logits, x, y, {"evidence": ev}, methods=(), steps=4, schedule=4,
        n_resamples=100, metrics=("randomization",),
        randomized={k: m.layer_logits for k, m in nets.items()})
    assert sorted(set(calls)) == ["top 1", "top 4"]  # "layer 4" reused "top 1"'s maps
    r = res.methods["evidence"].randomization
    assert set(r) == set(nets)
    np.testing.assert_array_equal(r["layer 4"], r["top 1"])


def test_randomized_model_cascades_from_the_top():
    net = _net(depth=3)
    stages = dict(randomization_stages(3))
    r = randomized_model(net, stages["top 2"], seed=5)
    same = [torch.equal(a.weight, b.weight) for a, b in zip(r.layers, net.layers, strict=True)]
    assert same == [True, False, False]
    again = randomized_model(net, stages["top 3"], seed=5)  # the same draws per layer
    assert torch.equal(again.layers[2].weight, r.layers[2].weight)
    y = torch.tensor([0, 1, 2, 1, 0])
    off = random_other_class(y, 3, seed=0)
    assert bool((off != y).all()) and off.max() < 3


def test_ssim_matches_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 100, generator=g, dtype=F64), torch.rand(3, 100, generator=g,
                                                                  dtype=F64)
    b[0] = 0.7 * a[0] + 0.3 * b[0]
    for shape in ((10, 10), (100,)):
        got = ssim(a, b, shape)
        for i in range(3):
            u, v = a[i].numpy().reshape(shape), b[i].numpy().reshape(shape)
            rng = max(u.max(), v.max()) - min(u.min(), v.min())
            want = metrics.structural_similarity(u, v, win_size=7, data_range=rng)
            assert got[i].item() == pytest.approx(want, abs=1e-10)


def test_ssim_properties():
    a = torch.rand(4, 64, generator=torch.Generator().manual_seed(1), dtype=F64)
    np.testing.assert_allclose(ssim(a, a, (8, 8)).numpy(), 1.0)
    assert (ssim(a, a.flip(1), (8, 8)) < 1).all()


@pytest.mark.numerics
def test_lrp_zero_is_input_x_gradient_on_a_linear_network():
    # linear activation, no bias: LRP-0 equals x * d f_c / d x and conserves f_c
    net = _net(depth=3, activation="linear")
    x = torch.randn(5, 16, generator=torch.Generator().manual_seed(4), dtype=F64)
    y = torch.tensor([0, 1, 2, 0, 1])
    r = lrp_epsilon(net, x, y, epsilon=0.0)
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(xg).gather(1, y[:, None]).sum(), xg)
    torch.testing.assert_close(r, x * grad, rtol=0, atol=tol(F64, 64, 1e3))
    torch.testing.assert_close(r.sum(1), net(x).gather(1, y[:, None])[:, 0], rtol=0,
                               atol=tol(F64, 64, 1e3))


def test_lrp_epsilon_absorbs_relevance_and_handles_the_cnn():
    net = _net(depth=3)
    x = 0.3 * torch.randn(4, 16, generator=torch.Generator().manual_seed(5), dtype=F64)
    y = torch.tensor([0, 1, 2, 0])
    r0, r1 = lrp_epsilon(net, x, y, epsilon=0.0), lrp_epsilon(net, x, y, epsilon=1.0)
    assert r1.abs().sum() < r0.abs().sum()  # epsilon absorbs relevance
    cnn = InterpretableCNN((6, 6), 3, depth=2, activation="linear", extra_channels=1,
                           extra_init_std=0.0, dtype=F64).eval()
    with torch.no_grad():
        for layer in cnn.layers:
            layer.weight.add_(0.1 * torch.randn(layer.weight.shape, dtype=F64,
                                                generator=torch.Generator().manual_seed(6)))
    z = torch.randn(2, 36, generator=torch.Generator().manual_seed(7), dtype=F64)
    t = torch.tensor([0, 2])
    rc = lrp_epsilon(cnn, z, t, epsilon=0.0)
    torch.testing.assert_close(rc.sum(1), cnn(z).gather(1, t[:, None])[:, 0], rtol=0,
                               atol=tol(F64, 36 * 36, 1e3))


def test_pointing_game_scores_and_grids():
    x = torch.arange(6.0).repeat_interleave(9).reshape(6, 9)  # 3x3 "images" of class i
    y = torch.arange(6)
    grids, classes = make_grids(x, y, (3, 3), 50, seed=1)
    assert grids.shape == (50, 36)
    assert all(len(set(c.tolist())) == 4 for c in classes)  # four distinct classes
    cells = grids.reshape(50, 2, 3, 2, 3)
    np.testing.assert_array_equal(cells[:, 0, 0, 1, 0].numpy(), classes[:, 1].numpy())
    # an oracle map (the explained cell's indicator) scores 1; a flat map 1/4
    ind = torch.zeros(50, 4, 2, 3, 2, 3)
    for k in range(4):
        ind[:, k, :, :, :, :][:, k // 2, :, k % 2, :] = 1
    np.testing.assert_allclose(pointing_scores(ind.reshape(50, 4, 36), (3, 3)).numpy(), 1)
    np.testing.assert_allclose(pointing_scores(torch.ones(50, 4, 36), (3, 3)).numpy(), 0.25)
    assert torch.isnan(pointing_scores(-torch.ones(50, 4, 36), (3, 3))).all()


def test_pointing_game_on_a_cnn_and_refuses_an_mlp():
    cnn = InterpretableCNN((4, 4), 4, depth=2, logit_scale=4.0, dtype=F64).eval()
    with torch.no_grad():
        for layer in cnn.layers:
            layer.weight.add_(0.2 * torch.randn(layer.weight.shape, dtype=F64,
                                                generator=torch.Generator().manual_seed(8)))
    x = torch.randn(64, 16, generator=torch.Generator().manual_seed(9), dtype=F64)
    y = cnn(x).argmax(1)
    res = pointing_game(cnn, x, y, {"abs": lambda net: (lambda v, c: v.abs())}, n_grids=8,
                        confidence=0.0, n_resamples=100)
    assert res.grid_shape == (8, 8) and res.scores["abs"].shape == (8,)
    assert "grid pointing game" in res.summary()
    with pytest.raises(ValueError, match="fully convolutional"):
        pointing_game(_net(), x, y, {}, n_grids=2)


@pytest.mark.numerics
def test_propagated_evidence_splits_the_logit_exactly():
    from idmlp.faithfulness.evidence import EVIDENCE_VARIANTS, evidence_variant, propagated_evidence

    net = _net(depth=5, seed=3)
    with torch.no_grad():  # strong class-to-class weights: saturation and mixing
        for layer in net.layers:
            layer.weight[16:, 16:] += 0.5
    x = 2 * torch.randn(8, 16, generator=torch.Generator().manual_seed(11), dtype=F64)
    y = torch.arange(8) % 3
    e = propagated_evidence(net, x, torch.arange(3).expand(8, 3))  # (B, C, N)
    torch.testing.assert_close(e.sum(-1), net(x), rtol=0, atol=tol(F64, 16 * 5, 1e3))
    first = propagated_evidence(net, x, y[:, None], gate="derivative")[:, 0]
    assert first.shape == (8, 16)
    for v in EVIDENCE_VARIANTS:
        assert evidence_variant(net, x, y, v).shape == (8, 16)
    contrast = evidence_variant(net, x, y, "propagated contrast")
    torch.testing.assert_close(contrast.sum(-1), net(x).gather(1, y[:, None])[:, 0]
                               - net(x).mean(1), rtol=0, atol=tol(F64, 16 * 5, 1e3))
