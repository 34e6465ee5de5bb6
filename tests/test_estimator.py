"""idmlp.InterpretableClassifier: a scikit-learn estimator over the interpretable networks."""

from __future__ import annotations

import inspect
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from idmlp import InterpretableClassifier
from idmlp.attribution import ClassEvidence
from idmlp.cli import main
from idmlp.config import DataConfig, ModelConfig, OptimConfig, RunConfig
from idmlp.estimator import RUN_SETTINGS
from idmlp.train.runs import fit, load_run

#: Small settings: a few epochs of a shallow network (seconds on 2 cores).
SMALL = {"depth": 2, "lr": 0.1, "epochs": 3, "batch_size": 100}

#: The estimator checks that cannot apply, and why (every other check must pass).
NOT_APPLICABLE = {
    "check_array_api_input": "the estimator computes with torch, not with the array API "
                             "namespace of its input (tags.array_api_support is False); "
                             "scikit-learn skips the check unless SCIPY_ARRAY_API=1",
}


def iris():
    data = load_iris()
    return data.data, data.target_names[data.target]


@pytest.mark.slow
def test_check_estimator_passes_every_check_that_applies():
    # input_noise=0: check_classifiers_train asks for a training accuracy above 0.83 on
    # blobs after SMALL's 3 epochs, which the default noise (0.3) slows down
    est = InterpretableClassifier(**SMALL, val_size=0.0, input_noise=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(est, on_fail=None)
    status = {r["check_name"]: r["status"] for r in results}
    assert len(status) >= 50
    failed = {k: str(r["exception"]) for r in results for k in [r["check_name"]]
              if r["status"] == "failed"}
    assert failed == {}
    assert {k for k, v in status.items() if v != "passed"} == set(NOT_APPLICABLE)


def test_parameters_are_the_run_settings_and_stay_as_given():
    params = InterpretableClassifier().get_params()
    assert set(params) == RUN_SETTINGS | {"verbose"}
    sig = inspect.signature(InterpretableClassifier.__init__)
    assert all(p.default is None for n, p in sig.parameters.items()
               if n not in ("self", "arch", "verbose"))
    est = InterpretableClassifier("cnn", kernel_size=5)
    assert clone(est).get_params() == est.get_params()
    # None: the default of idmlp train after the architecture's presets
    assert est.run_config() == RunConfig.from_changes({"arch": "cnn", "kernel_size": 5})
    assert est.run_config().optim.lr == 1e-2


def test_bad_parameters_and_inputs_are_one_value_error():
    X, y = iris()
    with pytest.raises(ValueError, match="kernel_size applies to arch 'cnn' only"):
        InterpretableClassifier(kernel_size=5).fit(X, y)
    with pytest.raises(ValueError, match="lr must be"):
        InterpretableClassifier(lr=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="needs at least 2 classes in y, got 1 class"):
        InterpretableClassifier(**SMALL).fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        InterpretableClassifier(**SMALL).fit(np.where(X > 7, np.nan, X), y)
    with pytest.raises(ValueError, match="val_size=0 \\(no validation split\\)"):
        InterpretableClassifier(**SMALL).fit(X[::10], y[::10])
    with pytest.raises(NotFittedError):
        InterpretableClassifier().predict(X)
    clf = InterpretableClassifier(**SMALL).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but InterpretableClassifier is "
                                         "expecting 4 features"):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="not among classes_"):
        clf.explain(X[:2], target="daisy")


def test_iris_fit_predict_cv_grid_and_string_labels():
    X, y = iris()
    clf = InterpretableClassifier(depth=3, lr=0.01, epochs=20).fit(X, y)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    pred = clf.predict(X)
    assert pred.dtype == y.dtype and set(pred) <= set(y)
    assert clf.score(X, y) > 0.8
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], pred)
    assert clf.decision_function(X).shape == (150, 3)
    assert clf.layer_accuracy(X, y).shape == (3,)
    assert clf.n_features_in_ == 4 and clf.input_shape_ == (4,)
    assert 1 <= len(clf.history_) <= 20 and "layer_val_acc" in clf.history_[-1]
    if clf.stopping_ is not None:  # early stopping (the default) kept its best epoch
        kept = clf.stopping_["kept_epoch"]
        best = max(r["layer_val_acc"][-1] for r in clf.history_)
        assert clf.history_[kept - 1]["layer_val_acc"][-1] == best
    scores = cross_val_score(InterpretableClassifier(depth=3, lr=0.01, epochs=20), X, y, cv=5)
    assert scores.shape == (5,) and scores.mean() > 0.7
    grid = GridSearchCV(InterpretableClassifier(depth=3, epochs=20), {"lr": [0.003, 0.01]},
                        cv=3).fit(X, y)
    assert grid.best_params_["lr"] in (0.003, 0.01)
    pipe = make_pipeline(StandardScaler(), InterpretableClassifier(depth=3, lr=0.01, epochs=20))
    assert pipe.fit(X, y).score(X, y) > 0.8


def test_labels_of_any_type_round_trip():
    X, target = load_iris(return_X_y=True)
    for labels in (np.array([3, 7, 42])[target], np.array([-1.0, 0.0, 2.0])[target],
                   np.array(["b", "a", "c"], dtype=object)[target], target == 1):
        clf = InterpretableClassifier(**SMALL, val_size=0.0).fit(X, labels)
        np.testing.assert_array_equal(clf.classes_, np.unique(labels))
        assert set(clf.predict(X)) <= set(labels)
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        InterpretableClassifier(**SMALL).fit(X, X[:, 0])  # scikit-learn's rule
    binary = np.where(target == 0, "yes", "no")
    clf = InterpretableClassifier(**SMALL).fit(X, binary)
    scores = clf.decision_function(X)
    assert scores.shape == (150,)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[(scores > 0).astype(int)])


@pytest.mark.parametrize("shape", [(64,), (8, 8), (1, 8, 8), (2, 32)])
def test_inputs_of_any_shape_numpy_or_torch(shape):
    digits = load_digits()
    X = digits.data.reshape(-1, *shape)
    clf = InterpretableClassifier(**SMALL).fit(torch.as_tensor(X), torch.as_tensor(digits.target))
    assert clf.input_shape_ == shape and clf.n_features_in_ == 64
    np.testing.assert_array_equal(clf.predict(X[:20]), clf.predict(X[:20].reshape(20, 64)))
    maps = clf.explain(X[:5], target=digits.target[:5])
    assert maps.shape == (5, *shape)
    # the maps are those of ClassEvidence on the standardized inputs
    z = torch.as_tensor(clf.scaler_.transform(X[:5].reshape(5, 64)), dtype=torch.float32)
    ref = ClassEvidence(clf.model_).attribute(z, target=torch.as_tensor(digits.target[:5]))
    np.testing.assert_array_equal(maps, ref.numpy().reshape(5, *shape))
    assert clf.readout(X[:5]).logits.shape == (5, 2, 10)


def test_dataframe_feature_names():
    data = load_iris(as_frame=True)
    clf = InterpretableClassifier(**SMALL).fit(data.data, data.target)
    assert list(clf.feature_names_in_) == list(data.data.columns)
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(data.data.to_numpy())
    assert clf.predict(pd.DataFrame(data.data)).shape == (150,)


@pytest.mark.parametrize("arch", ["cnn", "residual"])
def test_other_architectures(arch):
    digits = load_digits()
    clf = InterpretableClassifier(arch, depth=2, epochs=1).fit(digits.images, digits.target)
    assert clf.model_.arch == arch
    assert clf.predict_proba(digits.images[:4]).shape == (4, 10)
    assert clf.explain(digits.images[:4]).shape == (4, 8, 8)


def test_save_load_and_idmlp_interpret(tmp_path, capsys):
    X, y = iris()
    clf = InterpretableClassifier(**SMALL).fit(X, y)
    clf.save(tmp_path / "bare")
    back = InterpretableClassifier.load(tmp_path / "bare")
    assert back.get_params() == clf.get_params()
    np.testing.assert_array_equal(back.classes_, clf.classes_)
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert back.history_ == json.loads(json.dumps(clf.history_))
    # without data, idmlp interpret says what to do, in one line
    assert main(["interpret", str(tmp_path / "bare")]) == 2
    assert "InterpretableClassifier.save(path, X, y)" in capsys.readouterr().err
    # with data (a held-out split), the folder is a run that idmlp interpret reads
    clf.save(tmp_path / "run", X[::3], y[::3])
    run = load_run(tmp_path / "run")
    assert run.dataset.class_names == ("setosa", "versicolor", "virginica")
    np.testing.assert_array_equal(run.model(run.tensors("test")[0]).argmax(1).numpy(),
                                  np.searchsorted(clf.classes_, clf.predict(X[::3])))
    assert main(["interpret", str(tmp_path / "run"), "--quiet"]) == 0
    assert (tmp_path / "run" / "interpret" / "report.html").is_file()
    with pytest.raises(ValueError, match="exists"):
        clf.save(tmp_path / "run")


def test_load_a_run_of_idmlp_train(tmp_path):
    cfg = RunConfig(DataConfig("digits"), ModelConfig(depth=2), OptimConfig(epochs=1))
    run = fit(cfg, tmp_path / "run", progress=False)
    clf = InterpretableClassifier.load(tmp_path / "run")
    assert clf.get_params()["depth"] == 2 and clf.input_shape_ == (8, 8)
    X, y = run.dataset.X_test, run.dataset.y_test
    acc = clf.layer_accuracy(X, clf.classes_[y])
    np.testing.assert_allclose(acc, run.metrics[-1]["layer_test_acc"])


@pytest.mark.numerics
def test_equals_idmlp_train_on_the_same_training_split(tmp_path):
    """The estimator's validation split is idmlp train's (the module docstring): the same
    weights, the same per-layer validation and test accuracies."""
    settings = {"dataset": "digits", "depth": 3, "epochs": 2}
    run = fit(RunConfig.from_changes(settings), tmp_path / "run", progress=False)
    from idmlp.data import load_dataset

    ds = load_dataset("digits")
    clf = InterpretableClassifier(depth=3, epochs=2).fit(ds.X_train.reshape(-1, 8, 8),
                                                        ds.y_train)
    eps = torch.finfo(torch.float32).eps
    for key, value in run.model.state_dict().items():
        torch.testing.assert_close(clf.model_.state_dict()[key], value, rtol=16 * eps, atol=0)
    assert clf.history_[-1]["layer_val_acc"] == run.metrics[-1]["layer_val_acc"]
    acc = clf.layer_accuracy(ds.X_test.reshape(-1, 8, 8), ds.y_test)
    np.testing.assert_allclose(acc, run.metrics[-1]["layer_test_acc"])
    assert clf.score(ds.X_test, ds.y_test) == pytest.approx(run.metrics[-1]["test_acc"])
