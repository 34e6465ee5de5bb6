r"""Input standardization fitted on the training split (:class:`InputScaler`).

The theory of identity-initialized deep MLPs (Kubota et al., ICASSP 2021) assumes that
every input feature is distributed as :math:`u_i \sim \mathcal{N}(0, q_0)`: the inputs are
standardized here (fitted on the training split) and the network multiplies them by
:math:`\sqrt{q_0}`. Hand-written rather than scikit-learn's ``StandardScaler``: it works on
torch tensors on any device as well as numpy arrays, has the ``global`` mode that keeps an
image's structure, and the floor on per-feature deviations.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np
import torch

from .._validation import check_choice, check_real
from .registry import SCALINGS

__all__ = ["InputScaler"]

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

# A feature counts as constant when its std is below this fraction of |mean|: far above
# float64 round-off of the statistics, far below any real spread (and std == 0 always is).
_CONSTANT_RTOL = 1e-12


class InputScaler:
    r"""Standardization fitted on the training split only (the network then scales by
    :math:`\sqrt{q_0}`, :class:`~idmlp.nets.rules.ClassCoordinates`).

    .. math::

        z_i = \frac{x_i - \mu_i}{s_i}

    * ``scaling="feature"``: :math:`\mu_i` and :math:`s_i = \max(\sigma_i, f\,\bar\sigma)`
      per feature, where :math:`\sigma_i` is the feature's (population) standard deviation,
      :math:`\bar\sigma = (\frac1N \sum_i \sigma_i^2)^{1/2}` and :math:`f` is
      ``std_floor``. Constant features (:math:`\sigma_i \le 10^{-12} |\mu_i|`) carry no
      information and map to 0. Without a floor, near-constant pixels get huge gains (on
      MNIST, border pixels reach gains in the thousands).
    * ``scaling="global"``: one :math:`\mu` and one :math:`s` over all features and
      samples, which keeps an image's structure (the default for image data).

    On the training data each ``z`` has mean 0 and variance 1 (per feature, or over all
    entries for ``global``), the input assumption :math:`u = \sqrt{q_0} z \sim N(0, q_0)` of
    the signal-propagation theory.

    Works on numpy arrays and torch tensors of shape ``(n_samples, n_features)`` and
    returns the same type (floating dtype and device are preserved; integer inputs become
    float64 for numpy and the default float dtype for torch).

    Args:
        scaling: ``"feature"`` or ``"global"``.
        std_floor: :math:`f \in [0, 1]`, the floor on per-feature deviations relative to
            :math:`\bar\sigma` (``feature`` only).

    Attributes:
        mean_, std_: float64 arrays of shape ``(n_features,)`` (the same value everywhere
            for ``global``), set by :meth:`fit`; ``std_`` already includes the floor.

    Examples:
        >>> X = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]])
        >>> InputScaler("feature").fit_transform(X)[:, 0]
        array([-1.22474487,  0.        ,  1.22474487])
    """

    def __init__(self, scaling: str = "feature", std_floor: float = 0.0) -> None:
        self.scaling = check_choice("scaling", scaling, SCALINGS)
        self.std_floor = check_real("std_floor", std_floor)
        if not 0.0 <= self.std_floor <= 1.0:
            raise ValueError(f"std_floor must lie in [0, 1], got {std_floor!r}")
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None

    # -- fitting ---------------------------------------------------------------------

    def fit(self, X: np.ndarray | torch.Tensor) -> InputScaler:
        """Learn mean and standard deviation (ddof=0) from training data ``X``."""
        x = _to_numpy_2d(X, "X")
        if x.shape[0] == 0:
            raise ValueError("X must contain at least one sample to fit InputScaler")
        if not np.isfinite(x).all():
            raise ValueError("X contains NaN or inf; clean the data before fitting InputScaler")
        x = x.astype(np.float64, copy=False)
        n = x.shape[1]
        if self.scaling == "global":
            self.mean_, self.std_ = np.full(n, x.mean()), np.full(n, x.std())
            return self
        mean, std = x.mean(axis=0), x.std(axis=0)
        if self.std_floor > 0:
            floor = self.std_floor * math.sqrt(float(np.mean(std**2)))
            constant = std <= _CONSTANT_RTOL * np.abs(mean)
            std = np.where(constant, std, np.maximum(std, floor))
        self.mean_, self.std_ = mean, std
        return self

    def fit_transform(self, X: ArrayT) -> ArrayT:
        """Equivalent to ``fit(X).transform(X)``."""
        return self.fit(X).transform(X)

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`from_state_dict` with statistics) has been called."""
        return self.mean_ is not None

    @property
    def n_features_in_(self) -> int:
        """Number of features the scaler was fitted on."""
        return len(self._stats()[0])

    @property
    def constant_mask_(self) -> np.ndarray:
        """Boolean mask of the features treated as constant (they map to 0)."""
        mean, std = self._stats()
        return std <= _CONSTANT_RTOL * np.abs(mean)

    @property
    def gain_(self) -> np.ndarray:
        """The multiplier :math:`1 / s_i` of each feature (0 for constant features)."""
        _, std = self._stats()
        constant = self.constant_mask_
        return np.where(constant, 0.0, 1.0 / np.where(constant, 1.0, std))

    # -- transforms ------------------------------------------------------------------

    def transform(self, X: ArrayT) -> ArrayT:
        r"""Return :math:`(X - \mu) / s` (constant features -> 0)."""
        mean, gain = self._affine(X)
        if isinstance(X, torch.Tensor):
            x = _float_tensor(X)
            return (x - _like(mean, x)) * _like(gain, x)
        x = _float_array(X)
        return ((x - mean) * gain).astype(x.dtype, copy=False)

    def inverse_transform(self, Z: ArrayT) -> ArrayT:
        r"""Return :math:`Z s + \mu` (constant features -> their mean)."""
        mean, _ = self._affine(Z)
        _, std = self._stats()
        inv_gain = np.where(self.constant_mask_, 0.0, std)
        if isinstance(Z, torch.Tensor):
            z = _float_tensor(Z)
            return z * _like(inv_gain, z) + _like(mean, z)
        z = _float_array(Z)
        return (z * inv_gain + mean).astype(z.dtype, copy=False)

    def __call__(self, X: ArrayT) -> ArrayT:
        return self.transform(X)

    # -- (de)serialization -----------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Plain-Python state (floats and lists), suitable for JSON or ``torch.save``."""
        return {
            "scaling": self.scaling,
            "std_floor": self.std_floor,
            "mean": None if self.mean_ is None else self.mean_.tolist(),
            "std": None if self.std_ is None else self.std_.tolist(),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> InputScaler:
        """Rebuild a scaler from :meth:`state_dict` output (exact round trip).

        A state written by idmlp 0.1 (keys ``q0``, ``mean``, ``std``: per-feature scaling
        with the gain :math:`\\sqrt{q_0}` folded in) gives its standardization only; the
        caller moves ``q0`` to the model.
        """
        if not isinstance(state, dict) or not {"mean", "std"} <= state.keys():
            raise ValueError("state must be a dict with keys 'scaling', 'mean', 'std' "
                             "(see state_dict)")
        scaler = cls(state.get("scaling", "feature"), state.get("std_floor", 0.0))
        mean, std = state["mean"], state["std"]
        if mean is None and std is None:
            return scaler
        if mean is None or std is None:
            raise ValueError("state['mean'] and state['std'] must both be lists or both None")
        m = np.asarray(mean, dtype=np.float64)
        s = np.asarray(std, dtype=np.float64)
        if m.ndim != 1 or m.shape != s.shape or m.size == 0:
            raise ValueError(
                "state['mean'] and state['std'] must be non-empty lists of equal length"
            )
        if not (np.isfinite(m).all() and np.isfinite(s).all() and (s >= 0).all()):
            raise ValueError("state['mean'] must be finite and state['std'] finite and >= 0")
        scaler.mean_, scaler.std_ = m, s
        return scaler

    def __repr__(self) -> str:
        fitted = f", n_features={self.n_features_in_}" if self.is_fitted else ", unfitted"
        return f"InputScaler({self.scaling!r}{fitted})"

    # -- internals -------------------------------------------------------------------

    def _stats(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mean_ is None or self.std_ is None:
            raise ValueError("InputScaler is not fitted; call fit(X_train) first")
        return self.mean_, self.std_

    def _affine(self, X: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        mean, _ = self._stats()
        if not isinstance(X, (np.ndarray, torch.Tensor)):
            raise ValueError(f"X must be a numpy array or torch tensor, got {type(X).__name__}")
        if X.ndim != 2 or X.shape[1] != len(mean):
            raise ValueError(
                f"X must have shape (n_samples, {len(mean)}) like the data InputScaler was "
                f"fitted on, got {tuple(X.shape)}"
            )
        return mean, self.gain_


def _to_numpy_2d(X: object, name: str) -> np.ndarray:
    if isinstance(X, torch.Tensor):
        x = X.detach().cpu().to(torch.float64).numpy()
    elif isinstance(X, np.ndarray):
        x = X
    else:
        raise ValueError(f"{name} must be a numpy array or torch tensor, got {type(X).__name__}")
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got shape {x.shape}; flatten images first"
        )
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{name} must have a real numeric dtype, got {x.dtype}")
    return x


def _float_array(x: np.ndarray) -> np.ndarray:
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def _float_tensor(x: torch.Tensor) -> torch.Tensor:
    return x if x.is_floating_point() else x.to(torch.get_default_dtype())


def _like(values: np.ndarray, x: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(values, dtype=x.dtype, device=x.device)


