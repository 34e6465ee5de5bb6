"""Layer-wise interpretation (idmlp.interpret), its figures and the ``interpret`` CLI."""

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

from idmlp.cli import main
from idmlp.interpret import Interpretation, default_layers, interpret, pick_samples
from idmlp.models import MLP, InterpretableMLP
from idmlp.plots import interpret as plots

PNG = b"\x89PNG\r\n\x1a\n"


def perturbed_model(n=16, c=3, depth=4, image_shape=(4, 4), seed=0, scale=0.15):
    """An identity-initialized model moved away from the identity (a stand-in for training)."""
    g = torch.Generator().manual_seed(seed)
    net = InterpretableMLP(n, c, depth, image_shape=image_shape, logit_scale=4.0)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.add_(scale * torch.randn(layer.weight.shape, generator=g))
    return net


def data(n_feat=16, c=3, n=40, seed=1):
    g = torch.Generator().manual_seed(seed)
    return 0.5 * torch.randn(n, n_feat, generator=g), torch.randint(0, c, (n,), generator=g)


@torch.no_grad()
def naive(net: InterpretableMLP, X, y):
    """Per-layer loop over layers and examples, straight from the definitions."""
    L, c, n = net.depth, net.num_classes, net.in_features
    acc, p_true, loss = np.zeros(L), np.zeros(L), np.zeros(L)
    last_pred = []
    for i in range(len(X)):
        x = torch.cat([X[i], torch.zeros(c)])
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


def test_batched_equals_naive_loop():
    net = perturbed_model()
    X, y = data()
    it = interpret(net, X, y, batch_size=7)
    acc, p_true, loss, last_pred = naive(net, X, y)
    np.testing.assert_allclose(it.accuracy, acc, atol=1e-12)
    np.testing.assert_allclose(it.true_class_prob, p_true, rtol=1e-5)
    np.testing.assert_allclose(it.loss, loss, rtol=1e-5)
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


_NET, (_X, _Y) = perturbed_model(seed=7), data(n=23, seed=8)


@settings(max_examples=12, deadline=None)
@given(batch_size=st.integers(1, 30), k=st.integers(1, 6))
def test_result_does_not_depend_on_batch_size(batch_size, k):
    net, X, y = _NET, _X, _Y
    ref = interpret(net, X, y, batch_size=1024, sample_indices=pick_samples(y, k))
    it = interpret(net, X, y, batch_size=batch_size, sample_indices=pick_samples(y, k))
    np.testing.assert_array_equal(it.confusion, ref.confusion)
    np.testing.assert_allclose(it.accuracy, ref.accuracy)
    np.testing.assert_allclose(it.loss, ref.loss, rtol=1e-6)
    np.testing.assert_allclose(it.class_contributions, ref.class_contributions, rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_allclose(it.sample_contributions, ref.sample_contributions, atol=1e-6)


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
        fig = plots.plot_contribution_maps(it, quantile=q)
        images = [im for ax in fig.axes for im in ax.images if im.get_cmap().name == "RdBu_r"]
        assert len(images) == 2 * len(it.layers)
        assert all(im.get_clim() == (-v, v) for im in images)
    with pytest.raises(ValueError, match="quantile"):
        plots.plot_class_contributions(it, quantile=0.2)


# -- CLI --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny trained run: 4x4 images of 3 classes (class means + noise), depth 3."""
    from idmlp.train import TrainConfig, fit

    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    X = rng.normal(size=(3, 4, 4))[y] + 0.3 * rng.normal(size=(90, 4, 4))
    np.savez(root / "toy.npz", X=X, y=y, class_names=np.array(["a", "b", "c"]))
    out = root / "run"
    fit(TrainConfig(dataset=f"npz:{root / 'toy.npz'}", depth=3, epochs=2, lr=1e-2,
                    batch_size=16), out, progress=False)
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
    assert d["layers"] == [2] and d["n"] == 72


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
        (["{run}", "--split", "val"], "argument --split"),
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
