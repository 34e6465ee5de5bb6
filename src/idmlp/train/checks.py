r"""Is the trained network fitting its data at all? The check behind ``idmlp train``'s warning.

A network whose accuracy on its own training split stays close to chance, or far below a
linear model's on the same split, underfits: its test accuracy says little about
what the architecture can do, and the likely fix is known (a longer budget, a larger
learning rate, more width). :func:`fit_check` measures the last layer's training accuracy
of the kept weights, the majority-class rate (chance) and the training accuracy of a
multinomial logistic regression (scikit-learn, L-BFGS, :math:`C = 1`) on the same
standardized features, and names the fix in one line:

* **close to chance**: :math:`a < p_0 + 0.2\,(1 - p_0)`, with :math:`p_0` the majority rate;
* **far below a linear model**: :math:`a < a_{lin} - 0.05`: a deep network that fits the
  data it was trained on worse than a linear model does.

The fix: where the budget ran out while the validation loss was still falling, a longer
budget (``--epochs`` or ``--steps``); else a larger learning rate, and for the MLP without
extra coordinates, extra features.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .evaluate import evaluate

__all__ = ["CHANCE_MARGIN", "LINEAR_MARGIN", "fit_check", "linear_train_accuracy"]

#: "Close to chance": within this fraction of the way from the majority rate to 1.
CHANCE_MARGIN = 0.2
#: "Far below a linear model": less than its training accuracy minus this margin.
LINEAR_MARGIN = 0.05


def linear_train_accuracy(X: np.ndarray, y: np.ndarray, *, max_iter: int = 100) -> float:
    """Training accuracy of a multinomial logistic regression (L-BFGS, ``C = 1``) fitted
    on ``(X, y)``: what a linear model reaches on the split. One BLAS thread (many
    threads made the fit 15x slower on a shared 2-core machine)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(C=1.0, max_iter=max_iter).fit(X, y)
        return float(model.score(X, y))


def fit_check(model: nn.Module, X_train: Tensor, y_train: Tensor, *,
              stopped: Mapping[str, Any] | None, lr: float, extra_features: int | None,
              batch_size: int = 1024) -> dict[str, Any]:
    """Training accuracy of ``model`` (last layer) against chance and a linear model on
    the same split, and a one-line warning naming the likely fix when it underfits.

    Args:
        model: the trained network (the kept weights).
        X_train, y_train: the training split, as the model takes it.
        stopped: :attr:`idmlp.train.loop.Trainer.stopped` (why training ended).
        lr: the learning rate used (named in the fix).
        extra_features: the MLP's ``H`` (``None`` for other architectures).

    Returns:
        ``{"train_accuracy", "chance", "linear_train_accuracy", "warning"}`` (``warning``
        ``None`` when the network fits).
    """
    with torch.no_grad():
        acc = float(evaluate(model, X_train, y_train, batch_size=batch_size,
                             confusion=False).accuracy[-1])
    y = y_train.cpu().numpy()
    chance = float(np.bincount(y).max() / len(y))
    linear = linear_train_accuracy(X_train.cpu().numpy(), y)
    if acc < chance + CHANCE_MARGIN * (1 - chance):
        what = f"close to chance ({chance:.3f})"
    elif acc < linear - LINEAR_MARGIN:
        what = f"far below a linear model's ({linear:.3f}) on the same split"
    else:
        what = None
    warning = None
    if what is not None:
        ran_out = stopped is not None and (
            stopped.get("reason") == "budget"
            and stopped.get("kept_epoch") == stopped.get("epoch"))
        if ran_out:
            fix = ("train longer: the budget ran out while the validation loss was still "
                   "falling (raise --epochs or --steps)")
        else:
            fix = f"raise the learning rate (--lr {3 * lr:.2g}, now {lr:g})"
            if extra_features == 0:
                fix += " or give the MLP extra features (--extra-features 256)"
        warning = f"training accuracy {acc:.3f} is {what}: the network underfits; {fix}"
    return {"train_accuracy": acc, "chance": chance, "linear_train_accuracy": linear,
            "warning": warning}
