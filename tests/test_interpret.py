"""Layer-wise interpretation (idmlp.analysis.interpret), its figures and the ``interpret`` CLI."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import perturb_
from idmlp.analysis.interpret import Interpretation, default_layers, interpret
from idmlp.cli import main
from idmlp.nets.mlp import MLP, InterpretableMLP
from idmlp.plots import interpret as plots
from idmlp.train.evaluate import pick_samples

PNG = b"\x89PNG\r\n\x1a\n"


def perturbed_model(n=16, c=3, depth=4, image_shape=(4, 4), seed=0, scale=0.15,
                    dtype=torch.float32):
    """An identity-initialized model moved away from the identity (a stand-in for training)."""
    net = InterpretableMLP(n, c, depth, image_shape=image_shape, logit_scale=4.0, dtype=dtype)
    return perturb_(net, scale, torch.Generator().manual_seed(seed))


def data(n_feat=16, c=3, n=40, seed=1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (0.5 * torch.randn(n, n_feat, generator=g, dtype=dtype),
            torch.randint(0, c, (n,), generator=g))


@torch.no_grad()
def naive(net: InterpretableMLP, X, y):
    """Per-layer loop over layers and examples, straight from the definitions."""
    L, c, n = net.depth, net.num_classes, net.in_features
    acc, p_true, loss = np.zeros(L), np.zeros(L), np.zeros(L)
    last_pred = []
    for i in range(len(X)):
        x = torch.cat([X[i], torch.zeros(c, dtype=X.dtype)])
        for layer in range(L):
            x = F.hardtanh(net.layers[layer].weight @ x)
            z = float(net.logit_scale) * x[n:]
            p = torch.softmax(z, 0)
            acc[layer] += int(z.argmax()) == int(y[i])
            p_true[layer] += float(p[y[i]])
            loss[layer] += -math.log(float(p[y[i]]))
        last_pred.append(int(z.argmax()))
    return acc / len(X), p_true / len(X), loss / len(X), np.array(last_pred)


# -- interpret --------------------------------------------------------------------------


def test_identity_init_has_zero_contributions_and_distances():
    net = InterpretableMLP(64, 10, depth=12, sigma=1.0, activation="hardtanh", image_shape=(8, 8))
    X = torch.rand(50, 64) * 1.8 - 0.9  # inside (-1, 1): hard-tanh is the identity there
    y = torch.arange(50) % 10
    it = interpret(net, X, y)
    assert np.all(it.sample_contributions == 0)
    assert np.all(it.class_contributions == 0)
    assert np.all(it.identity_distance == 0)
    assert np.all(it.feature_distance == 0) and np.all(it.class_distance == 0)
    # the class block stays 0, so every layer's softmax is uniform
    np.testing.assert_allclose(it.true_class_prob, 0.1, rtol=1e-6)
    np.testing.assert_allclose(it.loss, math.log(10), rtol=1e-6)
    np.testing.assert_allclose(it.sample_inputs.reshape(len(it.sample_indices), -1),
                               X[list(it.sample_indices)].numpy())


@pytest.mark.numerics
def test_batched_equals_naive_loop():
    # float64: chunked GEMMs against per-example matvecs, so argmax ties are out of reach
    net = perturbed_model(dtype=torch.float64)
    X, y = data(dtype=torch.float64)
    it = interpret(net, X, y, batch_size=7)
    acc, p_true, loss, last_pred = naive(net, X, y)
    eps = torch.finfo(torch.float64).eps
    np.testing.assert_array_equal(it.accuracy, acc)
    np.testing.assert_allclose(it.true_class_prob, p_true, rtol=1e3 * eps)
    np.testing.assert_allclose(it.loss, loss, rtol=1e3 * eps)
    expected = np.zeros((3, 3), np.int64)
    np.add.at(expected, (y.numpy(), last_pred), 1)
    np.testing.assert_array_equal(it.confusion, expected)
    assert len(np.unique(acc)) > 1 or acc[0] not in (0.0, 1.0)  # a non-trivial model


def test_confusion_matrix_consistent_with_accuracy():
    net = perturbed_model(seed=3)
    X, y = data(n=57, seed=4)
    it = interpret(net, X, y)
    assert it.confusion.sum() == len(y) == it.n
    assert np.trace(it.confusion) / len(y) == pytest.approx(it.accuracy[-1])
    np.testing.assert_array_equal(it.confusion.sum(axis=1), np.bincount(y.numpy(), minlength=3))


def test_class_means_and_samples_match_readout():
    net = perturbed_model(seed=5)
    X, y = data(n=30, seed=6)
    y[y == 2] = 1  # class 2 has no example
    it = interpret(net, X, y, layers=[4, 2], sample_indices=[9, 3, 9])
    r = net.readout(X)
    contrib = r.contributions.detach()
    assert it.layers.tolist() == [2, 4]
    for k in (0, 1):
        mean = contrib[y == k][:, [1, 3]].mean(0).reshape(2, 4, 4).double().numpy()
        np.testing.assert_allclose(it.class_contributions[k], mean, rtol=1e-5, atol=1e-6)
    assert np.isnan(it.class_contributions[2]).all() and it.class_counts[2] == 0
    assert it.sample_indices.tolist() == [9, 3, 9]
    assert it.sample_labels.tolist() == y[[9, 3, 9]].tolist()
    np.testing.assert_allclose(it.sample_contributions[1].reshape(4, 16), contrib[3], atol=1e-6)
    np.testing.assert_array_equal(it.sample_preds, r.preds[[9, 3, 9]].numpy())
    np.testing.assert_allclose(it.sample_probs.sum(-1), 1.0, rtol=1e-5)


_NET = perturbed_model(seed=7, dtype=torch.float64)
_X, _Y = data(n=23, seed=8, dtype=torch.float64)


@pytest.mark.numerics
@settings(max_examples=12, deadline=None)
@given(batch_size=st.integers(1, 30), k=st.integers(1, 6))
def test_result_does_not_depend_on_batch_size(batch_size, k):
    # Chunks of another size take other GEMM kernels: compare in float64, to its eps.
    net, X, y = _NET, _X, _Y
    ref = interpret(net, X, y, batch_size=1024, sample_indices=pick_samples(y, k))
    it = interpret(net, X, y, batch_size=batch_size, sample_indices=pick_samples(y, k))
    tol = 1e3 * torch.finfo(torch.float64).eps
    np.testing.assert_array_equal(it.confusion, ref.confusion)
    np.testing.assert_array_equal(it.accuracy, ref.accuracy)
    np.testing.assert_allclose(it.loss, ref.loss, rtol=tol)
    np.testing.assert_allclose(it.class_contributions, ref.class_contributions, rtol=tol,
                               atol=tol)
    # maps are kept in float32: equal to float32's rounding of the same float64 values
    np.testing.assert_allclose(it.sample_contributions, ref.sample_contributions, rtol=0,
                               atol=4 * np.finfo(np.float32).eps)


def test_model_mode_restored_and_no_grad():
    net = perturbed_model().train()
    X, y = data()
    interpret(net, X, y)
    assert net.training
    assert all(p.grad is None for p in net.parameters())


@settings(max_examples=40, deadline=None)
@given(y=st.lists(st.integers(0, 4), min_size=1, max_size=40), k=st.integers(1, 50))
def test_pick_samples_round_robin(y, k):
    y = np.array(y)
    picked = pick_samples(y, k)
    assert len(picked) == min(k, len(y)) and len(set(picked)) == len(picked)
    classes = np.unique(y)
    first = pick_samples(y)
    assert list(first) == [int(np.flatnonzero(y == c)[0]) for c in classes]
    m = min(k, len(classes))  # the first picks: one example of each class, in label order
    assert y[list(picked[:m])].tolist() == classes[:m].tolist()


@settings(max_examples=40, deadline=None)
@given(depth=st.integers(1, 60), n=st.integers(1, 12))
def test_default_layers(depth, n):
    layers = default_layers(depth, n)
    assert len(layers) == min(n, depth)
    assert list(layers) == sorted(set(layers)) and layers[-1] == depth
    assert layers[0] == (1 if n > 1 else depth)
    assert all(1 <= v <= depth for v in layers)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": MLP(8, 2)}, "InterpretableMLP"),
        ({"X": torch.zeros(5, 7)}, r"X must have shape \(n, 16\)"),
        ({"y": torch.tensor([0, 1, 5, 0, 0])}, r"labels in 0\.\.2"),
        ({"y": torch.zeros(4, dtype=torch.long)}, r"y must have shape \(5,\)"),
        ({"y": torch.zeros(5)}, "integer class labels"),
        ({"layers": [0, 2]}, r"layers must hold integers in 1\.\.4"),
        ({"layers": [5]}, r"1\.\.4"),
        ({"sample_indices": [5]}, r"0\.\.4"),
        ({"batch_size": 0}, "batch_size"),
        ({"class_names": ["a"]}, "class_names must have 3 entries"),
    ],
)
def test_bad_arguments_raise_one_line(kwargs, match):
    args = {"model": perturbed_model(), "X": torch.zeros(5, 16),
            "y": torch.zeros(5, dtype=torch.long)}
    args.update({k: kwargs.pop(k) for k in ("model", "X", "y") if k in kwargs})
    with pytest.raises(ValueError, match=match) as err:
        interpret(args["model"], args["X"], args["y"], **kwargs)
    assert "\n" not in str(err.value)


def test_save_load_and_json(tmp_path):
    net = perturbed_model()
    X, y = data()
    it = interpret(net, X, y, class_names=["cat", "dog", "eel"])
    it.save(tmp_path / "it.npz")
    back = Interpretation.load(tmp_path / "it.npz")
    for name in ("accuracy", "confusion", "sample_contributions", "class_contributions"):
        np.testing.assert_array_equal(getattr(back, name), getattr(it, name))
    assert back.class_names == ("cat", "dog", "eel") and back.image_shape == (4, 4)
    it.save(tmp_path / "it.json")
    d = json.loads((tmp_path / "it.json").read_text())
    assert d == json.loads(json.dumps(it.to_dict()))
    assert d["final_accuracy"] == pytest.approx(it.accuracy[-1])
    assert d["per_layer"]["layer"] == [1, 2, 3, 4]
    assert np.sum(d["confusion"]) == len(y)
    with pytest.raises(ValueError, match=r"\.json or \.npz"):
        it.save(tmp_path / "it.txt")
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(ValueError, match="cannot read"):
        Interpretation.load(tmp_path / "bad.npz")
    assert "Interpretation(n=40" in repr(it) and "layer" in it.summary()


# -- figures ----------------------------------------------------------------------------


@pytest.mark.parametrize("image_shape", [(4, 4), (16,)], ids=["image", "flat"])
def test_figures_write_nonempty_pngs(tmp_path, image_shape):
    net = perturbed_model(image_shape=image_shape)
    X, y = data()
    it = interpret(net, X, y, layers=[1, 4], sample_indices=[0, 1],
                   class_names=["zero", "one", "a long name"])
    paths = plots.save_interpretation_figures(it, tmp_path)
    assert set(paths) == set(plots.FIGURES)
    for path in paths.values():
        data_ = path.read_bytes()
        assert data_.startswith(PNG) and len(data_) > 5000


def test_figure_options(tmp_path):
    net = perturbed_model()
    X, y = data()
    it = interpret(net, X, y, sample_indices=[0, 1, 2])
    fig = plots.plot_contribution_maps(it, tmp_path / "maps.png", layers=[1, 2, 3],
                                       max_samples=1)
    assert len(fig.axes) == 1 * 4 + 1  # one row of input + 3 maps, plus the colorbar
    assert (tmp_path / "maps.png").read_bytes().startswith(PNG)
    cm = plots.plot_confusion_matrix(it, normalize=True)
    texts = [t.get_text() for t in cm.axes[0].texts]
    assert len(texts) == 9 and all("." in t for t in texts)
    both = plots.plot_layer_accuracy({"train": it, "test": it})
    assert len(both.axes[0].lines) == 3  # two runs and chance
    with pytest.raises(ValueError, match="layers"):
        plots.plot_contribution_maps(it, layers=[9])
    none = interpret(net, X, y, sample_indices=[])
    with pytest.raises(ValueError, match="no examples"):
        plots.plot_contribution_maps(none)
    assert "contribution_maps" not in plots.save_interpretation_figures(none, tmp_path / "n")


def test_contribution_colors_are_symmetric():
    net = perturbed_model()
    X, y = data()
    it = interpret(net, X, y, sample_indices=[0, 1])
    shown = np.abs(it.sample_contributions[:, it.layers - 1])
    for q, v in ((1.0, shown.max()), (0.9, np.quantile(shown, 0.9))):
        fig = plots.plot_contribution_maps(it, quantile=q, map="change")
        images = [im for ax in fig.axes for im in ax.images if im.get_cmap().name == "RdBu_r"]
        assert len(images) == 2 * len(it.layers)
        assert all(im.get_clim() == (-v, v) for im in images)
    # positive class evidence is never negative: a sequential colormap from 0
    evidence = it.sample_maps["evidence"][:, it.layers - 1]
    assert evidence.min() >= 0
    fig = plots.plot_contribution_maps(it, quantile=1.0)
    images = [im for ax in fig.axes for im in ax.images if im.get_cmap().name == "viridis"]
    assert len(images) == 2 * len(it.layers)
    assert all(im.get_clim() == (0.0, evidence.max()) for im in images)
    with pytest.raises(ValueError, match="quantile"):
        plots.plot_class_contributions(it, quantile=0.2)


# -- CLI --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny trained run: 4x4 images of 3 classes (class means + noise), depth 3."""
    from idmlp.train.runs import RunConfig, fit

    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    X = rng.normal(size=(3, 4, 4))[y] + 0.3 * rng.normal(size=(90, 4, 4))
    np.savez(root / "toy.npz", X=X, y=y, class_names=np.array(["a", "b", "c"]))
    out = root / "run"
    config = RunConfig().replace(dataset=f"npz:{root / 'toy.npz'}", depth=3, epochs=2,
                                 lr=1e-2, batch_size=16)
    fit(config, out, progress=False)
    return out


def test_cli_interpret_end_to_end(run_dir, capsys):
    rc = main(["interpret", str(run_dir), "--samples", "2", "--layers", "1", "3"])
    assert rc == 0
    stdout = capsys.readouterr().out
    assert "accuracy" in stdout and stdout.count("\n") == 1 + 3 + 1  # header, 3 layers, total
    out = run_dir / "interpret"  # the default
    names = {p.name for p in out.iterdir()}
    assert {"interpretation.json", "interpretation.npz", "report.html",
            *plots.FIGURES.values()} <= names
    d = json.loads((out / "interpretation.json").read_text())
    assert d["depth"] == 3 and d["layers"] == [1, 3] and len(d["samples"]["index"]) == 2
    assert d["n"] == 18 and d["class_names"] == ["a", "b", "c"]  # 20 % test split
    assert d["image_shape"] == [4, 4]
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 1  # the rest are interactive views
    assert "http" not in html and 'id="idmlp-data"' in html
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")]  # no temp folder left

    # an existing output folder is refused (one line, exit 2) unless --overwrite
    assert main(["interpret", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--overwrite" in err
    assert main(["interpret", str(run_dir), "--split", "train", "--samples", "1",
                 "--layers", "2", "--overwrite"]) == 0
    d = json.loads((out / "interpretation.json").read_text())
    assert d["layers"] == [2] and d["n"] == 64  # 72 training images, 8 of them validation
    assert main(["interpret", str(run_dir), "--split", "val", "--out",
                 str(run_dir / "val")]) == 0
    assert json.loads((run_dir / "val" / "interpretation.json").read_text())["n"] == 8


def run_cli(argv):
    """``main(argv)``'s exit status, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["{missing}"], "does not exist"),
        (["{empty}"], "is not an idmlp training run"),
        (["{run}", "--layers", "1", "4"], r"--layers must be in 1\.\.3"),
        (["{run}", "--samples", "0"], "argument --samples"),
        (["{run}", "--layers", "x"], "argument --layers"),
        (["{run}", "--split", "all"], "argument --split"),
        (["{run}", "--device", "tpu"], "argument --device"),
    ],
)
def test_cli_bad_input_one_line_exit_2(run_dir, tmp_path, capsys, argv, match):
    (tmp_path / "empty").mkdir()
    subs = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "run": run_dir}
    out = tmp_path / "out"
    rc = run_cli(["interpret", *[a.format(**subs) for a in argv], "--out", str(out)])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(match, err)
    assert not out.exists()


# -- the maps of issue 8: class evidence, what training changed, clipping share ----------


@pytest.mark.numerics
@pytest.mark.parametrize("bias", [False, True])
def test_class_evidence_splits_each_layers_change_exactly(bias):
    """Unsaturated hard-tanh: feature and class terms sum to x^l[c] - sigma x^{l-1}[c]."""
    torch.manual_seed(0)
    net = InterpretableMLP(12, 4, depth=5, sigma=0.95, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.add_(0.03 * torch.randn_like(layer.weight))
            if bias:
                layer.bias.normal_(0, 0.01)
    z = 0.2 * torch.randn(9, 12, dtype=torch.float64)  # far inside (-1, 1): no saturation
    r = net.readout(z)
    assert r.states.abs().max() < 0.9
    y = torch.arange(9) % 4
    feat, cls = r.evidence_terms(y)
    k = r.states[torch.arange(9), :, 12 + y]  # the explained class coordinate, (B, L+1)
    change = k[:, 1:] - net.sigma * k[:, :-1]
    if bias:
        change = change - torch.stack([l.bias[12 + y] for l in net.layers], 1).detach()
    eps = torch.finfo(torch.float64).eps
    torch.testing.assert_close(feat.sum(-1) + cls.sum(-1), change, rtol=0, atol=64 * eps)
    # summed over layers, the cumulative signed evidence behind layer l
    cum = r.class_evidence(y, part="signed")
    torch.testing.assert_close(cum[:, -1], feat.sum(1), rtol=0, atol=64 * eps)
    torch.testing.assert_close(r.class_evidence(y), feat.cumsum(1).clamp(min=0))
    torch.testing.assert_close(r.class_evidence(y, cumulative=False, part="negative"),
                               (-feat).clamp(min=0))


def test_saturated_class_coordinates_drop_their_terms():
    net = InterpretableMLP(2, 2, depth=1, dtype=torch.float64)
    with torch.no_grad():
        net.layers[0].weight[2, :2] = torch.tensor([5.0, -5.0])  # class 0 reads the features
    r = net.readout(torch.tensor([[0.5, 0.1], [0.05, 0.01]], dtype=torch.float64))
    feat, _ = r.evidence_terms(0)
    # example 0: pre-activation 2.0 saturates, nothing of the change is explained by a term
    assert torch.count_nonzero(feat[0]) == 0
    torch.testing.assert_close(feat[1, 0], torch.tensor([0.25, -0.05], dtype=torch.float64))


def test_what_training_changed_is_zero_at_identity_and_clipping_is_the_change():
    net = InterpretableMLP(16, 3, 4, image_shape=(4, 4))
    z = 2.0 * torch.randn(20, 16)  # many coordinates clip
    r = net.readout(z)
    assert torch.count_nonzero(r.maps("trained")) == 0
    torch.testing.assert_close(r.maps("change"), r.clipping)
    assert torch.count_nonzero(r.clipping) > 0
    assert torch.count_nonzero(r.class_evidence(0)) == 0  # D = W - sigma I = 0


def test_clipping_share_of_a_hand_built_network():
    """Identity network: the change map is all clipping (share 1), the other maps none;
    a network whose only learned change is a known feature permutation has a share we can
    compute from the definition."""
    net = InterpretableMLP(16, 3, depth=2, image_shape=(4, 4), dtype=torch.float64)
    X = 1.5 * torch.randn(400, 16, dtype=torch.float64)
    y = torch.arange(400) % 3
    it = interpret(net, X, y)
    np.testing.assert_allclose(it.clipping_share["change"], 1.0, rtol=1e-12)
    assert np.all(it.clipping_share["trained"] == 0) and np.all(it.clipping_share["evidence"] == 0)
    # layer 2 adds a change that is independent of the clipping
    with torch.no_grad():
        perm = torch.randperm(16, generator=torch.Generator().manual_seed(0))
        net.layers[1].weight[:16, :16] = 0.5 * torch.eye(16, dtype=torch.float64)[perm] + \
            0.5 * torch.eye(16, dtype=torch.float64)
    it = interpret(net, X, y)
    with torch.no_grad():
        r = net.readout(X)
    change, clip = r.maps("change")[:, 1].flatten(), r.clipping[:, 1].flatten()
    expected = float(np.corrcoef(change.numpy(), clip.numpy())[0, 1] ** 2)
    assert it.clipping_share["change"][1] == pytest.approx(expected, rel=1e-9)
    assert 0.05 < expected < 0.95  # a mix, neither all nor nothing
    assert it.clipping_share["change"][0] == pytest.approx(1.0)


def test_interpretation_keeps_every_map_and_the_largest_input(tmp_path):
    net = perturbed_model()
    X, y = data()
    it = interpret(net, X, y, sample_indices=[0, 3])
    assert it.map_names == ("evidence", "evidence_signed", "change", "trained")
    r = net.readout(X)
    for name in it.map_names:
        np.testing.assert_allclose(it.sample_maps[name][1].reshape(4, 16),
                                   r.maps(name, target=y)[3].detach().numpy(), atol=1e-6)
    assert it.max_abs_input == pytest.approx(float(X.abs().max()))
    lo, hi = it.accuracy_interval()
    assert np.all(lo <= it.accuracy) and np.all(it.accuracy <= hi) and np.all(hi - lo > 0.05)
    it.save(tmp_path / "it.npz")
    back = Interpretation.load(tmp_path / "it.npz")
    assert back.map_names == it.map_names and back.max_abs_input == it.max_abs_input
    np.testing.assert_array_equal(back.clipping_share["trained"], it.clipping_share["trained"])
    only = interpret(net, X, y, maps=["change"])
    assert only.map_names == ("change",)
    with pytest.raises(ValueError, match="maps must be one of"):
        interpret(net, X, y, maps=["saliency"])
