"""Work the trainer and the evaluator skip: the same numbers, fewer passes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from idmlp.nets.cnn import InterpretableCNN
from idmlp.nets.mlp import InterpretableMLP
from idmlp.train.evaluate import evaluate
from idmlp.train.loop import fit_model


def _data(n=48, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    return X, (X[:, 0] > 0).long() + (X[:, 1] > 0).long()


@pytest.mark.parametrize("net", [InterpretableMLP(16, 3, depth=4),
                                 InterpretableCNN((1, 4, 4), 3, depth=3)])
def test_evaluate_reads_the_same_logits_with_or_without_a_hook(net):
    """Without hooks only ``layer_logits`` runs; a hook gets the whole readout (float64:
    the two paths compare exactly on any CPU's kernels)."""
    net = net.double()
    X, y = _data()
    X = X.double()
    seen = []
    fast = evaluate(net, X, y, batch_size=20)
    full = evaluate(net, X, y, batch_size=20, on_batch=[lambda b: seen.append(b.readout)])
    assert len(seen) == 3 and seen[0].states is not None
    for f in ("accuracy", "loss", "true_class_prob", "confusion"):
        assert torch.equal(getattr(fast, f), getattr(full, f)), f


def test_score_test_false_trains_the_same_weights_and_skips_the_test_pass():
    X, y = _data()
    Xv, yv = _data(24, seed=1)
    runs = {}
    for score in (True, False):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(16, 3))
        hist = fit_model(net, X, y, X[:8], y[:8], validation=(Xv, yv), epochs=3,
                         progress=False, score_test=score)
        runs[score] = (torch.cat([p.detach().flatten() for p in net.parameters()]), hist)
    assert torch.equal(runs[True][0], runs[False][0])
    assert "test_acc" in runs[True][1][-1] and "test_acc" not in runs[False][1][-1]
    assert runs[True][1][-1]["val_loss"] == runs[False][1][-1]["val_loss"]


def test_score_test_false_needs_a_validation_split():
    X, y = _data()
    with pytest.raises(ValueError, match="score_test=False needs a validation split"):
        fit_model(nn.Linear(16, 3), X, y, X, y, epochs=1, progress=False, score_test=False)


@pytest.mark.parametrize(("methods", "says"), [
    (("input_x_gradient",), "InputXGradient gives all-zero maps"),
    (("saliency", "input_x_gradient"), "Saliency and InputXGradient give all-zero maps"),
    (("integrated_gradients",), None),
])
def test_the_faithfulness_section_names_the_gradient_methods_it_measured(methods, says):
    pytest.importorskip("captum")
    from idmlp.faithfulness import evaluate_faithfulness
    from idmlp.report.faithfulness import faithfulness_section

    net = InterpretableMLP(16, 3, depth=3).double()
    X, _ = _data(10)
    X = X.double()
    res = evaluate_faithfulness(net.layer_logits, X, net(X).argmax(1), {}, methods=methods,
                                steps=4, schedule=4, n_resamples=50, metrics=("road",))
    html = str(faithfulness_section(res).render())
    if says is None:
        assert "all-zero maps" not in html
    else:
        assert says in html


def test_the_faithfulness_section_compares_the_default_map_with_its_reference():
    pytest.importorskip("captum")
    from idmlp.faithfulness import evaluate_faithfulness
    from idmlp.faithfulness.methods import DEFAULT_ATTRIBUTION, DEFAULT_REFERENCE, METHODS
    from idmlp.report.faithfulness import faithfulness_section

    net = InterpretableMLP(16, 3, depth=3).double()
    X, _ = _data(10)
    X = X.double()
    y = net(X).argmax(1)
    split = METHODS["logit split"].map_fn(model=net)
    res = evaluate_faithfulness(net.layer_logits, X, y, {"logit split": split(X, y)},
                                methods=("integrated_gradients",), variants=("positive",),
                                steps=4, schedule=4, n_resamples=50)
    # the default is a positive part, and it is what the positive variants produce
    assert {DEFAULT_ATTRIBUTION, DEFAULT_REFERENCE} <= set(res.methods)
    html = str(faithfulness_section(res).render())
    assert f"{DEFAULT_ATTRIBUTION} / {DEFAULT_REFERENCE}" in html
    signed = evaluate_faithfulness(net.layer_logits, X, y, {"logit split": split(X, y)},
                                   methods=("integrated_gradients",), steps=4, schedule=4,
                                   n_resamples=50)
    assert DEFAULT_ATTRIBUTION not in signed.methods
    assert f"{DEFAULT_ATTRIBUTION} / {DEFAULT_REFERENCE}" not in str(
        faithfulness_section(signed).render())
