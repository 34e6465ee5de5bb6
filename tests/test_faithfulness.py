"""Faithfulness measures: deletion/insertion, AUC, bootstrap, sanity checks, Captum wrappers."""

from __future__ import annotations

import csv
import importlib
import io
import json
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from scipy import stats

from idmlp.attribution import (
    CAPTUM_METHODS,
    MissingCaptumError,
    captum_attribution,
    method_passes,
)
from idmlp.faithfulness import (
    Explainer,
    bootstrap_interval,
    curve_auc,
    evaluate_faithfulness,
    perturbation_curve,
    perturbation_schedule,
    pixel_ranks,
    rank_correlation,
)
from idmlp.nets.mlp import InterpretableMLP
from idmlp.plots.faithfulness import (
    plot_auc,
    plot_cost_vs_auc,
    plot_layer_auc,
    plot_perturbation_curves,
    save_faithfulness_figures,
)

F64 = torch.float64


def _linear(n: int = 30, c: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(c, n, generator=g, dtype=F64)
    bias = torch.randn(c, generator=g, dtype=F64)
    return w, bias, (lambda v: v @ w.T + bias)


def _inputs(b: int, n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(b, n, generator=torch.Generator().manual_seed(seed), dtype=F64)


# ------------------------------------------------------------------ linear model: exact


def test_input_x_gradient_is_exact_on_a_linear_model():
    w, _, fn = _linear()
    x = _inputs(16, 30)
    y = torch.arange(16) % 4
    ixg = captum_attribution("input_x_gradient", fn, x, y)
    torch.testing.assert_close(ixg, x * w[y], rtol=0, atol=1e-14)  # exact: x * dz/dx
    assert ixg.dtype == F64


def test_deletion_by_input_x_gradient_removes_contributions_in_order():
    # z_y(x^(k)) = z_y(x) - (sum of the k largest contributions x_j W[y, j]), baseline 0
    w, bias, fn = _linear()
    x, y = _inputs(8, 30), torch.arange(8) % 4
    contrib = x * w[y]
    ks = np.arange(31)
    logit = perturbation_curve(fn, x, y, contrib, ks=ks, score="logit")
    top = contrib.sort(dim=-1, descending=True).values
    expected = (fn(x).gather(1, y[:, None]) - torch.cat(
        [torch.zeros(8, 1, dtype=F64), top.cumsum(-1)], dim=1))
    torch.testing.assert_close(logit, expected, rtol=1e-12, atol=1e-12)
    # theory: falls while the deleted contributions are positive, rises after
    step = logit.diff(dim=-1)
    positive = (top > 0)
    assert bool((step[positive] <= 0).all()) and bool((step[~positive] >= 0).all())


def test_oracle_ordering_beats_random_on_a_linear_model():
    w, _, fn = _linear(n=40, c=3)
    x = _inputs(64, 40, seed=3)
    y = fn(x).argmax(1)
    oracle = x * w[y]
    rand = torch.rand(64, 40, generator=torch.Generator().manual_seed(5), dtype=F64)
    ks = np.arange(41)
    # for the logit the top-k contributions are the best k-subset: pointwise optimal
    lo = perturbation_curve(fn, x, y, oracle, ks=ks, score="logit")
    lr = perturbation_curve(fn, x, y, rand, ks=ks, score="logit")
    assert bool((lo <= lr + 1e-12).all())
    for mode, sign in (("deletion", 1), ("insertion", -1)):
        po = curve_auc(perturbation_curve(fn, x, y, oracle, mode=mode, ks=ks), ks, 40)
        pr = curve_auc(perturbation_curve(fn, x, y, rand, mode=mode, ks=ks), ks, 40)
        assert sign * (pr.mean() - po.mean()) > 0.1


# ------------------------------------------------------------------ curve and AUC properties


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(2, 40), b=st.integers(1, 6),
       mode=st.sampled_from(["deletion", "insertion"]))
def test_a_model_that_ignores_its_input_gives_flat_curves(seed, n, b, mode):
    logits = torch.tensor([0.3, -1.0, 2.0], dtype=F64)
    fn = lambda v: logits.expand(len(v), 3) + 0 * v[:, :1]  # noqa: E731
    x, y = _inputs(b, n, seed), torch.zeros(b, dtype=torch.long)
    a = torch.rand(b, n, generator=torch.Generator().manual_seed(seed), dtype=F64)
    ks = perturbation_schedule(n, steps=5)
    curve = perturbation_curve(fn, x, y, a, mode=mode, ks=ks, seed=seed)
    p = float(torch.softmax(logits, 0)[0])
    assert bool((curve == curve[:, :1]).all())
    np.testing.assert_allclose(curve_auc(curve, ks, n), p, rtol=1e-13)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), scale=st.floats(1e-3, 1e3),
       mode=st.sampled_from(["deletion", "insertion"]))
def test_auc_is_invariant_to_a_positive_rescaling_of_the_map(seed, scale, mode):
    _, _, fn = _linear(n=20, c=3)
    x = _inputs(5, 20, seed)
    y = torch.arange(5) % 3
    a = torch.randn(5, 20, generator=torch.Generator().manual_seed(seed + 1), dtype=F64)
    a = a.round(decimals=1)  # ties too: broken the same way at any scale
    assert torch.equal(pixel_ranks(a), pixel_ranks(a * scale))
    c1 = perturbation_curve(fn, x, y, a, mode=mode)
    c2 = perturbation_curve(fn, x, y, a * scale, mode=mode)
    assert torch.equal(c1, c2)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), value=st.floats(-2, 2))
def test_curve_endpoints_are_the_image_and_the_baseline(seed, value):
    _, _, fn = _linear(n=12, c=3)
    x, y = _inputs(4, 12, seed), torch.tensor([0, 1, 2, 0])
    a = torch.randn(4, 12, generator=torch.Generator().manual_seed(seed), dtype=F64)
    ks = [0, 5, 12]
    p_img = torch.softmax(fn(x), -1).gather(1, y[:, None])[:, 0]
    p_base = torch.softmax(fn(torch.full_like(x, value)), -1).gather(1, y[:, None])[:, 0]
    dele = perturbation_curve(fn, x, y, a, ks=ks, baseline=value)
    ins = perturbation_curve(fn, x, y, a, mode="insertion", ks=ks, baseline=value)
    for got, want in ((dele[:, 0], p_img), (dele[:, -1], p_base),
                      (ins[:, 0], p_base), (ins[:, -1], p_img)):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)


def test_chunking_does_not_change_the_curves():
    _, _, fn = _linear(n=16, c=3)
    x, y = _inputs(7, 16), torch.arange(7) % 3
    a = torch.randn(7, 16, generator=torch.Generator().manual_seed(2), dtype=F64)
    whole = perturbation_curve(fn, x, y, a)
    small = perturbation_curve(fn, x, y, a, max_elements=16 * 3)
    torch.testing.assert_close(whole, small, rtol=1e-12, atol=1e-14)


def test_pixel_ranks_orders_descending_and_breaks_ties_at_random():
    a = torch.tensor([[0.5, 2.0, -1.0, 2.0, 0.0]])
    r = pixel_ranks(a)
    assert r[0, 2] == 4 and r[0, 0] == 2 and set(r[0, [1, 3]].tolist()) == {0, 1}
    const = pixel_ranks(torch.zeros(50, 30), seed=3)
    assert torch.equal(const.sort(-1).values, torch.arange(30).expand(50, 30))
    assert not torch.equal(const[0], const[1])  # a different random order per map
    assert torch.equal(const, pixel_ranks(torch.zeros(50, 30), seed=3))


def test_curve_auc_normalization():
    ks = [0, 1, 4]
    np.testing.assert_allclose(curve_auc(np.ones((3, 3)), ks, 4), np.ones(3))
    np.testing.assert_allclose(curve_auc(np.array([1.0, 1.0, 0.0]), ks, 4), 1 / 4 + 3 / 8)
    # a partial schedule averages over its own span
    np.testing.assert_allclose(curve_auc(np.array([0.2, 0.4]), [1, 3], 4), 0.3)


def test_per_layer_curves_use_each_layers_own_logits():
    n, c, depth = 10, 3, 3
    g = torch.Generator().manual_seed(0)
    ws = torch.randn(depth, c, n, generator=g, dtype=F64)
    fn = lambda v: torch.einsum("bn,lcn->blc", v, ws)  # noqa: E731
    x, y = _inputs(5, n), torch.arange(5) % c
    maps = x[:, None] * ws[:, y].transpose(0, 1)  # (B, L, N): exact contributions per layer
    ks = np.arange(n + 1)
    got = perturbation_curve(fn, x, y, maps, ks=ks, score="logit")
    assert got.shape == (5, depth, n + 1)
    for layer in range(depth):
        one = perturbation_curve(lambda v, w=ws[layer]: v @ w.T, x, y, maps[:, layer], ks=ks,
                                 score="logit")
        torch.testing.assert_close(got[:, layer], one, rtol=1e-12, atol=1e-12)
    # a subset of layers, from the full stack or from a stack of the listed layers only
    sub = perturbation_curve(fn, x, y, maps, ks=ks, score="logit", layers=[3, 1])
    sub2 = perturbation_curve(fn, x, y, maps[:, [0, 2]], ks=ks, score="logit", layers=[1, 3])
    torch.testing.assert_close(sub, got[:, [0, 2]], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sub2, sub, rtol=0, atol=0)
    # the last layer is the output of a per-layer model
    last = perturbation_curve(fn, x, y, maps[:, -1], ks=ks, score="logit")
    torch.testing.assert_close(last, got[:, -1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"mode": "erase"}, "mode must be one of"),
    ({"ks": [0, 5, 3]}, "strictly increasing"),
    ({"ks": [0, 99]}, "strictly increasing"),
    ({"layers": [1]}, "per-layer logits"),
    ({"score": "loss"}, "score must be one of"),
    ({"max_elements": 3}, "max_elements must be"),
    ({"baseline": float("nan")}, "baseline must be"),
])
def test_perturbation_curve_bad_input(kwargs, match):
    _, _, fn = _linear(n=12, c=3)
    x, y = _inputs(2, 12), torch.tensor([0, 1])
    with pytest.raises(ValueError, match=match):
        perturbation_curve(fn, x, y, x, **kwargs)


def test_perturbation_curve_bad_shapes():
    _, _, fn = _linear(n=12, c=3)
    x, y = _inputs(2, 12), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="attribution must have shape"):
        perturbation_curve(fn, x, y, x[:, :5])
    with pytest.raises(ValueError, match="y must hold one integer class"):
        perturbation_curve(fn, x, y.double(), x)
    with pytest.raises(ValueError, match="y must hold classes in 0..2"):
        perturbation_curve(fn, x, torch.tensor([0, 3]), x)
    with pytest.raises(ValueError, match="attribution must be finite"):
        perturbation_curve(fn, x, y, torch.full_like(x, float("nan")))


# ------------------------------------------------------------------ statistics


def test_bootstrap_interval_contains_the_mean_and_shrinks_with_more_images():
    rng = np.random.default_rng(0)
    small, big = rng.normal(size=20), rng.normal(size=2000)
    a, b = bootstrap_interval(small), bootstrap_interval(big)
    for iv, v in ((a, small), (b, big)):
        assert iv.low < iv.mean < iv.high and iv.mean == pytest.approx(v.mean(), abs=0)
    assert (b.high - b.low) < (a.high - a.low) / 4  # ~ 1/sqrt(n): 10x here
    assert bootstrap_interval(small, seed=0) == a  # seeded
    cols = bootstrap_interval(np.stack([small, 2 * small], axis=1))
    assert cols.mean.shape == (2,) and cols.low[0] == pytest.approx(a.low, rel=1e-12)


def test_bootstrap_interval_leaves_out_nan_and_needs_two_values():
    iv = bootstrap_interval(np.array([1.0, np.nan, 3.0, 2.0]))
    assert iv.n == 3 and iv.mean == 2.0 and iv.low <= 2.0 <= iv.high
    one = bootstrap_interval(np.array([1.0, np.nan]))
    assert one.mean == 1.0 and np.isnan(one.low) and one.n == 1
    none = bootstrap_interval(np.array([np.nan, np.nan]))
    assert np.isnan(none.mean) and none.n == 0
    with pytest.raises(ValueError, match="confidence must lie in"):
        bootstrap_interval(np.ones(3), confidence=1.5)


def test_rank_correlation_matches_scipy_and_sanity_properties():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 5, (6, 40), generator=g).double()  # many ties
    b = a + torch.randint(0, 3, (6, 40), generator=g).double()
    rho = rank_correlation(a, b)
    want = [stats.spearmanr(a[i].numpy(), b[i].numpy()).statistic for i in range(6)]
    np.testing.assert_allclose(rho, want, rtol=1e-12)
    np.testing.assert_allclose(rank_correlation(a - 2, -b, absolute=True), [
        stats.spearmanr(np.abs(a[i].numpy() - 2), np.abs(b[i].numpy())).statistic
        for i in range(6)],
        rtol=1e-12)
    x = torch.randn(200, 784, generator=g, dtype=F64)
    np.testing.assert_allclose(rank_correlation(x, x), 1.0, rtol=1e-12)
    indep = rank_correlation(x, torch.randn(200, 784, generator=g, dtype=F64))
    assert abs(indep.mean()) < 0.02 and abs(bootstrap_interval(indep).mean) < 0.02
    assert np.isnan(rank_correlation(torch.zeros(1, 5), torch.rand(1, 5))[0])


# ------------------------------------------------------------------ Captum wrappers


def _small_net(seed: int = 0, depth: int = 4, dtype=F64) -> InterpretableMLP:
    net = InterpretableMLP(16, 3, depth=depth, logit_scale=4.0, dtype=dtype).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.add_(0.1 * torch.randn(layer.weight.shape, generator=g, dtype=dtype))
    return net


def test_captum_layer_explains_that_layers_logit():
    net = _small_net()
    x, y = 0.5 * _inputs(5, 16), torch.tensor([0, 1, 2, 0, 1])
    fn = lambda v: net.readout(v).logits  # noqa: E731
    for layer in (1, 3, None):
        got = captum_attribution("saliency", fn, x, y, layer=layer, abs=False)
        xr = x.clone().requires_grad_(True)
        z = fn(xr)[:, -1 if layer is None else layer - 1].gather(1, y[:, None]).sum()
        (grad,) = torch.autograd.grad(z, xr)
        torch.testing.assert_close(got, grad, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(captum_attribution("saliency", fn, x, y),
                               captum_attribution("saliency", net, x, y), rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore:Setting forward, backward hooks:UserWarning")
def test_captum_methods_run_and_are_seeded():
    net = _small_net()
    x, y = 0.5 * _inputs(6, 16), torch.tensor([0, 1, 2, 0, 1, 2])
    for method in CAPTUM_METHODS:
        a = captum_attribution(method, net, x, y, steps=4, batch_size=4)
        assert a.shape == x.shape and bool(torch.isfinite(a).all())
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002
    torch_state = torch.get_rng_state()
    a1 = captum_attribution("gradient_shap", net, x, y, steps=4, seed=7)
    a2 = captum_attribution("gradient_shap", net, x, y, steps=4, seed=7)
    assert torch.equal(a1, a2)
    assert np.array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002
    assert torch.equal(torch.get_rng_state(), torch_state)
    # zero baseline, hard-tanh unknown to Captum's DeepLift: it is InputXGradient
    torch.testing.assert_close(captum_attribution("deeplift", net, x, y),
                               captum_attribution("input_x_gradient", net, x, y),
                               rtol=1e-12, atol=1e-14)
    assert method_passes("gradient_shap", 8) == (8, 8) and method_passes("deeplift") == (1, 1)


def test_captum_attribution_bad_input():
    net = _small_net()
    x, y = _inputs(2, 16), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="method must be one of"):
        captum_attribution("lime", net, x, y)
    with pytest.raises(ValueError, match="deeplift needs logits_fn to be an nn.Module"):
        captum_attribution("deeplift", lambda v: net(v), x, y)
    with pytest.raises(ValueError, match="target must hold one integer class"):
        captum_attribution("saliency", net, x, y[:1])
    with pytest.raises(ValueError, match="layer= needs a logits_fn"):
        captum_attribution("saliency", net, x, y, layer=2)


def test_missing_captum_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "captum", None)
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    for mod in ("idmlp.faithfulness", "idmlp.attribution"):
        monkeypatch.delitem(sys.modules, mod)
    faith = importlib.import_module("idmlp.faithfulness")  # imports without Captum
    attribution = importlib.import_module("idmlp.attribution")
    _, _, fn = _linear(n=8, c=3)
    x, y = _inputs(3, 8), torch.tensor([0, 1, 2])
    with pytest.raises(attribution.MissingCaptumError) as err:
        attribution.captum_attribution("saliency", fn, x, y)
    msg = str(err.value)
    assert isinstance(err.value, ValueError) and "\n" not in msg
    assert "pip install 'idmlp[xai]'" in msg
    with pytest.raises(ValueError, match=r"pip install 'idmlp\[xai\]'"):
        faith.evaluate_faithfulness(fn, x, y, methods=("saliency",))
    res = faith.evaluate_faithfulness(fn, x, y, methods=(), schedule=4, n_resamples=50)
    assert res.names == ["abs_input", "random"] and res.drop_at == (2,)  # ceil(8 / 4)
    assert issubclass(MissingCaptumError, ValueError)


# ------------------------------------------------------------------ the whole study


@pytest.fixture(scope="module")
def study():
    net = _small_net(depth=4, dtype=torch.float32)
    ref = InterpretableMLP(16, 3, depth=4, logit_scale=4.0).eval()  # untrained identity
    x = torch.randn(12, 16, generator=torch.Generator().manual_seed(4))
    y = net(x).argmax(1)
    contributions = Explainer(lambda v, c: net.readout(v).contributions, 1, 0,
                              reference_fn=lambda v, c: ref.readout(v).contributions)
    res = evaluate_faithfulness(
        lambda v: net.readout(v).logits, x, y,
        {"contrib": contributions, "given": torch.rand(12, 16, generator=torch.Generator())},
        methods=("saliency", "input_x_gradient", "integrated_gradients"), steps=4,
        variants=("signed", "positive"), reference_logits_fn=lambda v: ref.readout(v).logits,
        layers=(2, 4), schedule=8, drop_at=(2, 4), n_resamples=200, batch_size=5)
    return res, net, x, y


def test_evaluate_faithfulness_collects_every_method(study):
    res, net, x, y = study
    assert res.names == ["contrib", "contrib+", "given", "given+", "saliency", "saliency+",
                         "input_x_gradient", "input_x_gradient+", "integrated_gradients",
                         "integrated_gradients+", "abs_input", "random"]
    assert res.layers == (2, 4) and res.depth == 4 and res.ks.tolist() == [0, 2, 4, 6, 8, 10,
                                                                            12, 14, 16]
    m = res.methods["integrated_gradients"]
    assert m.deletion.shape == (12, 9) and m.layer_deletion.shape == (12, 2, 9)
    assert (m.cost.forward_passes, m.cost.backward_passes) == (4, 4) and m.cost.seconds > 0
    assert res.methods["contrib"].cost.forward_passes == 1
    assert np.isnan(res.methods["given"].cost.seconds)
    # the output is the last layer: per-layer curves at layer 4 are the same measurement
    np.testing.assert_allclose(res.curves("contrib", "insertion", 4),
                               res.curves("contrib", "insertion"), rtol=1e-5, atol=1e-6)
    # sanity: contributions are defined on the identity network (clipping); class-logit
    # gradients of the identity network vanish (its class block stays 0): undefined
    assert res.methods["contrib"].sanity.shape == (12,)
    assert np.isnan(res.methods["saliency"].sanity).all()
    assert res.methods["given"].sanity is None and res.methods["random"].sanity is None
    np.testing.assert_allclose(res.methods["abs_input"].sanity, 1.0)
    # the curves follow perturbation_curve exactly
    a = net.readout(x).contributions[:, -1]
    want = perturbation_curve(lambda v: net.readout(v).logits, x, y, a, ks=res.ks)
    np.testing.assert_allclose(res.methods["contrib"].deletion, want.double().numpy(),
                               rtol=1e-6, atol=1e-7)
    drops = res.drops("contrib")
    np.testing.assert_allclose(drops[:, 1], want[:, 0] - want[:, 2], rtol=1e-5, atol=1e-6)
    # paired ratio of means
    same = res.compare("contrib", "contrib", "insertion_auc")
    assert same == (1.0, 1.0, 1.0, 12)
    r = res.compare("integrated_gradients", "random", "insertion_auc", layer=2)
    ins = [res.per_image(m, "insertion_auc", 2) for m in ("integrated_gradients", "random")]
    assert r.mean == pytest.approx(ins[0].mean() / ins[1].mean(), rel=1e-12)
    assert r.low <= r.mean <= r.high
    with pytest.raises(ValueError, match="metric must be one of"):
        res.per_image("contrib", "drop")


def test_result_exports(study, tmp_path):
    res = study[0]
    d = res.to_dict()
    json.dumps(d, allow_nan=False)  # strict JSON
    assert len(d["rows"]) == len(res.names) * 3 and d["ks"] == res.ks.tolist()
    assert d["costs"]["given"]["seconds_per_explanation"] is None
    text = res.to_csv(tmp_path / "f.csv")
    assert (tmp_path / "f.csv").read_text() == text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["layer"] for r in rows} == {"last", "2", "4"}
    ig = next(r for r in rows if r["method"] == "integrated_gradients" and r["layer"] == "last")
    assert 0 <= float(ig["deletion_auc_lo"]) <= float(ig["deletion_auc"]) <= float(
        ig["deletion_auc_hi"]) <= 1
    assert ig["sanity_rho"] == "" and ig["sanity_rho_n"] == "0"
    summary = res.summary()
    for name in res.names:
        assert name in summary
    assert "undefined (constant map)" in summary
    assert "FaithfulnessResult(" in repr(res)


def test_evaluate_faithfulness_bad_input():
    _, _, fn = _linear(n=12, c=3)
    x, y = _inputs(3, 12), torch.tensor([0, 1, 2])
    cases = [
        ({"methods": ("lime",)}, "methods must be one of"),
        ({"baselines": ("zeros",)}, "baselines must be one of"),
        ({"variants": ()}, "variants must name"),
        ({"layers": (1,)}, "per-layer logits"),
        ({"drop_at": (50,)}, "drop_at must hold k in 1..12"),
        ({"drop_at": ()}, "drop_at must hold k in 1..12"),
        ({"schedule": [0, 6, 12], "drop_at": (5,)}, "schedule must contain"),
        ({"maps": {"m": 3.0}}, "must be a tensor, a callable"),
        ({"maps": {"abs_input": x}}, "method names must be unique"),
        ({"maps": {"m": x[:, :4]}}, "map 'm' must have shape"),
    ]
    for kw, match in cases:
        maps = kw.pop("maps", None)
        kw.setdefault("methods", ())
        with pytest.raises(ValueError, match=match):
            evaluate_faithfulness(fn, x, y, maps, n_resamples=50, **kw)


def test_figures(study, tmp_path):
    res = study[0]
    for fig in (plot_perturbation_curves(res), plot_perturbation_curves(res, layer=2),
                plot_auc(res, methods=["contrib", "random"]), plot_cost_vs_auc(res),
                plot_layer_auc(res)):
        assert isinstance(fig, Figure) and fig.axes
    paths = save_faithfulness_figures(res, tmp_path)
    assert set(paths) == {"curves", "auc", "cost", "layers"}
    assert all(p.stat().st_size > 1000 for p in paths.values())
    with pytest.raises(ValueError, match="methods must be a non-empty list"):
        plot_auc(res, methods=["nope"])
    with pytest.raises(ValueError, match="layer must be one of the measured layers"):
        plot_perturbation_curves(res, layer=3)


def test_one_method_registry_behind_the_cli_and_the_study():
    from idmlp.cli import faithfulness as cli
    from idmlp.faithfulness.methods import BUILTIN_MAPS, METHODS, method_names

    assert cli._METHODS == method_names("lrp", "captum")
    assert CAPTUM_METHODS == method_names("captum")
    assert cli._MAPS == tuple(BUILTIN_MAPS) == method_names("builtin")
    for m in METHODS.values():
        assert m.paper and m.summary and m.family in ("builtin", "lrp", "captum", "baseline")
        assert "," not in m.name  # the command line takes comma lists
        assert m.needs_captum == (m.family == "captum")
        f, b = m.cost(steps=8)
        assert (f, b) == ((8, 8) if m.per_step else m.passes)
    with pytest.raises(ValueError, match="families must be among"):
        method_names("lime")
