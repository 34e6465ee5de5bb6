"""Linear probes (idmlp.analysis.probes) and the probe-comparison figure."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from joblib import parallel_config

from idmlp.analysis.interpret import interpret
from idmlp.analysis.probes import (
    ProbeComparison,
    StandardMLPClassifier,
    compare_probes,
    default_init,
    fit_probes,
    fit_standard_mlp,
    hidden_features,
    probe_model,
)
from idmlp.nets.mlp import MLP, InterpretableMLP
from idmlp.plots.interpret import plot_probe_comparison

PNG = b"\x89PNG\r\n\x1a\n"


def synthetic_features(n=300, layers=3, dim=12, classes=3, seed=0):
    """Layer 1 is pure noise; layers 2.. carry well-separated class means (separable)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    means = rng.normal(size=(classes, dim)) * 6.0
    F = rng.normal(size=(n, layers, dim)).astype(np.float32)
    F[:, 1:] += means[y][:, None, :]
    return F, y


def test_probes_separate_separable_features():
    F_all, y_all = synthetic_features(n=450)
    F, y, Ft, yt = F_all[:300], y_all[:300], F_all[300:], y_all[300:]
    res = fit_probes(F, y, Ft, yt, max_iter=200)
    assert res.n_classifiers == 3 and res.layers.tolist() == [1, 2, 3]
    assert res.test_accuracy[1:].min() >= 0.99 and res.train_accuracy[1:].min() == 1.0
    assert res.test_accuracy[0] < 0.6  # noise layer: near chance (1/3)
    assert res.total_seconds >= res.fit_seconds.max()  # the wall time covers every fit
    assert res.feature_seconds is None
    assert res.n_train == 300 and res.n_test == 150 and res.n_features == 12
    assert np.array_equal(res.converged, res.n_iter < 200)
    assert json.loads(json.dumps(res.to_dict()))["n_classifiers"] == 3
    pred = res.probes[2].predict(Ft[:, 2])
    assert (pred == yt).mean() == pytest.approx(res.test_accuracy[2])


def test_probes_deterministic_across_n_jobs():
    F, y = synthetic_features(n=200, layers=2, seed=3)
    a = fit_probes(F, y, F, y, max_iter=30)
    with parallel_config(backend="threading"):  # processes work too but start slowly
        b = fit_probes(torch.from_numpy(F), torch.from_numpy(y), F, y, max_iter=30, n_jobs=2)
    np.testing.assert_array_equal(a.test_accuracy, b.test_accuracy)
    for pa, pb in zip(a.probes, b.probes, strict=True):
        np.testing.assert_array_equal(pa[-1].coef_, pb[-1].coef_)


def test_probe_layers_subset_and_max_train():
    F, y = synthetic_features(n=200, layers=4)
    res = fit_probes(F, y, F, y, layers=[4, 2], max_train=60, seed=1)
    assert res.layers.tolist() == [2, 4] and res.n_train == 60
    again = fit_probes(F, y, F, y, layers=[4, 2], max_train=60, seed=1)
    np.testing.assert_array_equal(res.test_accuracy, again.test_accuracy)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"features_train": np.zeros((10, 5))}, r"\(n_samples, n_layers, n_features\)"),
        ({"features_test": np.zeros((10, 2, 3), np.float32)}, "must agree"),
        ({"y_train": np.zeros(9, int)}, "y_train must be 10 integer labels"),
        ({"y_train": np.zeros(10, int)}, "at least 2 classes"),
        ({"features_train": np.full((10, 2, 4), np.nan)}, "NaN"),
        ({"C": 0}, "C must be"),
        ({"max_iter": 0}, "max_iter"),
        ({"layers": [3]}, r"1\.\.2"),
    ],
)
def test_fit_probes_bad_input(kwargs, match):
    args = {"features_train": np.random.default_rng(0).normal(size=(10, 2, 4)),
            "y_train": np.arange(10) % 2, "features_test": np.zeros((5, 2, 4)),
            "y_test": np.zeros(5, int)}
    args.update({k: kwargs.pop(k) for k in list(kwargs) if k in args})
    with pytest.raises(ValueError, match=match) as err:
        fit_probes(args["features_train"], args["y_train"], args["features_test"],
                   args["y_test"], **kwargs)
    assert "\n" not in str(err.value)


def test_standard_mlp_classifier():
    assert default_init("hardtanh") == "orthogonal" and default_init("relu") == "he"
    a = StandardMLPClassifier(16, 3, 5, generator=torch.Generator().manual_seed(0))
    b = StandardMLPClassifier(16, 3, 5, generator=torch.Generator().manual_seed(0))
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    w = a.body.layers[0].weight.detach()
    torch.testing.assert_close(w @ w.T, torch.eye(19), atol=1e-5, rtol=0)  # orthogonal
    x = torch.randn(4, 16)
    assert a(x).shape == (4, 3)
    h = a.hidden_states(x)
    assert h.shape == (4, 6, 19)
    torch.testing.assert_close(h[:, 0, :16], x)  # x^0: the input padded with C zeros
    assert torch.count_nonzero(h[:, 0, 16:]) == 0
    torch.testing.assert_close(a.head(h[:, -1]), a(x))
    assert StandardMLPClassifier(16, 3, 2, activation="relu").body.init_scheme == "he"
    assert a.config["init"] == "orthogonal" and a.config["depth"] == 5
    with pytest.raises(ValueError, match="orthogonal, xavier, he"):
        StandardMLPClassifier(16, 3, 2, init="identity")
    with pytest.raises(ValueError, match="expected inputs with 16 features"):
        a(torch.randn(2, 15))


def test_hidden_features_of_each_model_kind():
    x = torch.randn(9, 16)
    net = InterpretableMLP(16, 3, 4)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.add_(0.1 * torch.randn_like(layer.weight))
        ref = net.forward_layers(net.embed(x))[:, 1:]
    h = hidden_features(net, x, batch_size=2)
    assert h.shape == (9, 4, 19) and h.dtype == torch.float32
    torch.testing.assert_close(h, ref)
    torch.testing.assert_close(hidden_features(net, x, layers=[4, 1]), ref[:, [0, 3]])
    mlp = MLP(16, 3, init="orthogonal", generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(hidden_features(mlp, x), mlp.forward_layers(x)[:, 1:])
    with pytest.raises(ValueError, match="must be an idmlp"):
        hidden_features(torch.nn.Linear(16, 3), x)


def _toy_problem(n=240, n_feat=16, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = 0.3 * torch.randn(classes, n_feat, generator=g)
    y = torch.arange(n) % classes
    X = centers[y] + 0.1 * torch.randn(n, n_feat, generator=g)
    cut = 3 * n // 4
    return X[:cut], y[:cut], X[cut:], y[cut:]


def test_compare_probes_end_to_end(tmp_path):
    Xtr, ytr, Xte, yte = _toy_problem()
    torch.manual_seed(0)
    net = InterpretableMLP(16, 3, 4, logit_scale=4.0)
    from idmlp.train.loop import fit_model

    fit_model(net, Xtr, ytr, Xte, yte, lr=3e-3, epochs=3, batch_size=32, progress=False)
    std, metrics = fit_standard_mlp(Xtr, ytr, Xte, yte, depth=4, lr=3e-3, epochs=3,
                                    batch_size=32, progress=False)
    assert isinstance(std, StandardMLPClassifier) and len(metrics) == 3
    cmp = compare_probes(net, Xtr, ytr, Xte, yte, standard_model=std, max_iter=50)
    np.testing.assert_allclose(cmp.readout_accuracy, interpret(net, Xte, yte).accuracy)
    assert cmp.num_classes == 3 and cmp.depth == 4 and cmp.own.n_features == 19
    assert cmp.standard_head_accuracy == pytest.approx(metrics[-1]["test_acc"])
    assert cmp.own.test_accuracy.min() > 0.9  # separable toy data
    header, rows = cmp.table()
    assert header[:2] == ["layer", "built-in readout"] and len(header) == 4
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    _, cost = cmp.cost_table()
    assert [r[1] for r in cost] == [0, 4, 4]
    assert json.loads(json.dumps(cmp.to_dict()))["readout_accuracy"] == pytest.approx(
        cmp.readout_accuracy.tolist())
    fig = plot_probe_comparison(cmp, tmp_path / "probes.png")
    assert (tmp_path / "probes.png").read_bytes().startswith(PNG)
    assert len(fig.axes[0].lines) >= 4

    only_own = compare_probes(net, Xtr, ytr, Xte, yte, layers=[2], max_iter=20)
    assert only_own.standard is None and only_own.own.layers.tolist() == [2]
    header, rows = only_own.table()
    assert header[-1] == "probe, interpretable MLP" and rows[0][-1] is None
    assert rows[1][-1] == pytest.approx(only_own.own.test_accuracy[0])
    plot_probe_comparison(only_own, tmp_path / "own.png")


def test_probe_model_layer_numbering():
    Xtr, ytr, Xte, yte = _toy_problem()
    net = InterpretableMLP(16, 3, 5)
    res = probe_model(net, Xtr, ytr, Xte, yte, layers=[5, 3], max_iter=20)
    assert res.layers.tolist() == [3, 5] and res.n_classifiers == 2


def test_compare_probes_bad_input():
    Xtr, ytr, Xte, yte = _toy_problem()
    net = InterpretableMLP(16, 3, 4)
    with pytest.raises(ValueError, match="InterpretableMLP"):
        compare_probes(MLP(16, 4), Xtr, ytr, Xte, yte)
    with pytest.raises(ValueError, match="depth 4"):
        compare_probes(net, Xtr, ytr, Xte, yte, standard_model=StandardMLPClassifier(16, 3, 2))
    with pytest.raises(ValueError, match=r"X_test must be \(n, 16\)"):
        compare_probes(net, Xtr, ytr, Xte[:, :5], yte)


def test_probe_comparison_is_a_plain_record():
    cmp = ProbeComparison(np.array([0.5, 0.7]), 0.01, None, None, None, 2)
    assert cmp.table() == (["layer", "built-in readout"], [[1, 0.5], [2, 0.7]])
    assert cmp.to_dict()["standard"] is None
