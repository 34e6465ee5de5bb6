r"""The law of :math:`J J^T` at initialization for the identity family
(:mod:`idmlp.init.family`): what holds exactly, what holds in the wide limit, and where we
have no closed form.

**ZerO, IDInit and the partial identity where the width changes**
(:func:`widened_spectrum`). An MLP whose first layer maps ``n`` inputs to ``m`` units by
:math:`W^1 = \sigma Z` and whose :math:`L - 1` further layers are :math:`\sigma I`. With
:math:`u = Z x` the network is the identity network applied to :math:`u` coordinate by
coordinate, so :math:`J = \operatorname{diag}(g'(u))\, Z` and the nonzero eigenvalues of
:math:`J J^T` are those of :math:`Z^T \operatorname{diag}(\lambda(u))\, Z`, with
:math:`\lambda(u) = g'(u)^2` the identity network's eigenvalue
(:func:`~idmlp.theory.identity.spectrum`). For inputs :math:`x \sim N(0, q_0 I_n)`:

- partial identity :math:`Z = I_{m \times n}` (zero-padded, :func:`idmlp.init.identity_`;
  ZerO where :math:`m \le n`): :math:`m \le n`: the identity law; :math:`m > n`: the
  identity law on :math:`n` of the :math:`m` coordinates, mass :math:`1 - n/m` at 0.
- IDInit (:math:`Z_{ij} = [i \equiv j \bmod \min(m, n)]`, without its perturbation):
  :math:`m > n`: coordinate :math:`j` is copied :math:`c_j \in \{\lfloor m/n \rfloor,
  \lceil m/n \rceil\}` times, so :math:`Z^T \operatorname{diag}(\lambda) Z =
  \operatorname{diag}(c_j \lambda(x_j))`: the identity law scaled by :math:`c_j`, plus
  :math:`m - n` zeros. :math:`m < n`: :math:`u_i` sums :math:`c_i` inputs,
  :math:`u_i \sim N(0, c_i q_0)` and :math:`Z Z^T = \operatorname{diag}(c_i)`: eigenvalues
  :math:`c_i \lambda(u_i)`.
- ZerO's Hadamard layer (:math:`m > n`, :math:`Z = H_p[{:}m, {:}n] / \sqrt p`), exact when
  :math:`n = 2^b`: row :math:`i` of :math:`H_p` restricted to the first :math:`n` columns is
  row :math:`i \bmod n` of :math:`H_n` (:math:`(H_p)_{ij} = (-1)^{\mathrm{popcount}(i \& j)}`),
  so :math:`u` repeats with period :math:`n`, :math:`u_r = (H_n x)_r / \sqrt p \sim
  N(0, q_0 n / p)` i.i.d. (:math:`H_n / \sqrt n` is orthogonal), and
  :math:`Z^T \operatorname{diag}(\lambda) Z = H_n^T \operatorname{diag}(c_r \lambda(u_r))
  H_n / p`: eigenvalues :math:`(n c_r / p)\, \lambda(u_r)`, :math:`c_r` the copies of row
  :math:`r` among the :math:`m`, plus :math:`m - n` zeros. For :math:`m = p` this is the
  identity law at input variance :math:`q_0 n / m` on :math:`n` of the :math:`m`
  coordinates: the Hadamard spreads the input's energy over all :math:`m` units; the rank
  of :math:`J` is :math:`n` with either layer. For :math:`n` not a power of two, the rows
  of :math:`H_p[{:}m, {:}n]` are not periodic and we have **no closed form**
  (:func:`widened_spectrum` refuses it; measure it with :func:`widened_mlp`).
- With equal widths ZerO and (unperturbed) IDInit are :math:`\sigma I`: the identity law
  itself.

**Looks-linear** (:func:`looks_linear_spectrum`), all :math:`L` layers
:math:`\sigma [[W_0, -W_0], [-W_0, W_0]]` of width :math:`N = 2n`, :math:`W_0` Haar. The
one-layer Jacobian at any input is :math:`D_\ell \sigma W = \sigma P_\ell W_0 R` with
:math:`R = [I, -I]` and, for ReLU, :math:`P_\ell = [\operatorname{diag}(a);
-\operatorname{diag}(1 - a)]`, :math:`a_i = [z_i > 0]`; since :math:`R P_\ell = I`,

.. math::
    J = \sigma^L P_L W_0^L \cdots W_0^1 R, \qquad
    J J^T = 2 \sigma^{2L} P_L P_L^T,

exactly: :math:`n` eigenvalues :math:`2\sigma^{2L}` and :math:`n` zeros, at every depth and
every input (generic: no pre-activation exactly 0). Fed its own kind of input, the
concatenated ReLU :math:`x^0 = [\mathrm{relu}(u), \mathrm{relu}(-u)]` (Shang et al., ICML
2016), the map :math:`u \mapsto x^L` has :math:`J = \sigma^L P_L W_0^L \cdots W_0^1` with
:math:`J^T J = \sigma^{2L} I_n`: an exact isometry at :math:`\sigma = 1`, all singular
values 1 (tested at depth 200 in float64). For an odd :math:`\phi` (tanh, hard-tanh,
linear) the state stays :math:`[\phi(z), -\phi(z)]` with :math:`z^\ell = 2\sigma W_0
\phi(z^{\ell-1})`, and :math:`J = \sigma^L 2^{L-1} [I; -I]\, D_L W_0 \cdots D_1 W_0\, R`:
half the eigenvalues are 0, the other half follow the orthogonal network of width
:math:`n` at :math:`\sigma_w = 2\sigma`, input mean square :math:`q_0 / 2`
(:func:`~idmlp.theory.free.free_spectrum`, wide limit). Other activations: no closed form.

**Delta-orthogonal** (:func:`delta_orthogonal_spectrum`): only the centre tap is nonzero,
so every convolution acts pixel by pixel as :math:`\sigma Q_\ell` whatever the padding, and
a CNN of such layers (with elementwise :math:`\phi` and per-channel biases) is the same
orthogonal MLP of width :math:`C` applied at every pixel: :math:`J` is block diagonal over
the pixels, each block that MLP's Jacobian at that pixel's input (exact, tested), and the
eigenvalues of :math:`J J^T`, pooled over pixels, follow the orthogonal mean-field / free
law (:func:`~idmlp.theory.free.free_spectrum` with ``"orthogonal"``; wide limit in
:math:`C`) when the pixels' inputs are i.i.d. with mean square :math:`q_0`. It does not
hold once training spreads the kernel, nor with strides, pooling or mixing layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from .._io import strict_json
from .._validation import check_choice, check_int, check_positive
from .free import FreeSpectrum, free_spectrum
from .identity import SpectralLaw, spectrum

__all__ = [
    "WIDENING_INITS",
    "MixtureLaw",
    "delta_orthogonal_cnn",
    "delta_orthogonal_spectrum",
    "looks_linear_spectrum",
    "widened_mlp",
    "widened_spectrum",
]

#: First-layer initializations of :func:`widened_spectrum` and :func:`widened_mlp`.
WIDENING_INITS: tuple[str, ...] = ("identity", "zero", "idinit")
_ODD = ("tanh", "hardtanh", "linear")


def _copies(m: int, n: int) -> NDArray[np.int64]:
    """How many of ``range(m)`` are congruent to each of ``range(n)`` modulo ``n``."""
    return np.bincount(np.arange(m) % n, minlength=n)


def _mixture(parts: list[tuple[float, float, SpectralLaw]], zero: float) -> SpectralLaw:
    r"""The law :math:`\text{zero}\,\delta_0 + \sum_k w_k \cdot (\text{law}_k \text{ scaled
    by } s_k)` as one :class:`SpectralLaw`, in log space (exact: the parts are discrete)."""
    logs = [np.log(s) + p.log_values for _, s, p in parts]
    weights = [w * p.weights for w, _, p in parts]
    if zero > 0:
        logs.append(np.array([-np.inf]))
        weights.append(np.array([zero]))
    log_v, inv = np.unique(np.concatenate(logs), return_inverse=True)
    w = np.bincount(inv.ravel(), weights=np.concatenate(weights), minlength=log_v.size)
    atoms: dict[float, float] = {}
    for wk, s, p in parts:
        for loc, mass in p.log_atoms:
            key = loc + math.log(s)
            atoms[key] = atoms.get(key, 0.0) + wk * mass
    if zero > 0:
        atoms[-math.inf] = atoms.get(-math.inf, 0.0) + zero
    first = parts[0][2]
    with np.errstate(divide="ignore"):
        log_w = np.log(w)
    return SpectralLaw(first.activation, first.sigma, first.q0, first.depth, log_v, w, log_w,
                       tuple(sorted(atoms.items())), "gaussian")


def widened_spectrum(init: str, n_in: int, width: int, sigma: float, q0: float, depth: int,
                     activation: str = "hardtanh") -> SpectralLaw:
    r"""Law of the eigenvalues of :math:`J J^T` (``width x width``) of an MLP whose first
    layer maps ``n_in`` inputs :math:`x \sim N(0, q_0 I)` to ``width`` units by
    :math:`\sigma Z` (``init``: ``identity``, the zero-padded partial identity; ``zero``,
    ZerO; ``idinit``, IDInit's tiled identity without its perturbation), followed by
    ``depth - 1`` layers :math:`\sigma I` (see the module docstring for the derivation).

    Raises:
        ValueError: for ZerO widening a layer whose ``n_in`` is not a power of two: no
            closed form (measure it: :func:`widened_mlp`).

    Examples:
        >>> law = widened_spectrum("zero", 4, 8, 1.0, 0.5, 3)  # Hadamard 4 -> 8
        >>> law.mass_at_zero > 0.5, round(law.mean(), 4) == round(
        ...     0.5 * spectrum(1.0, 0.25, 3).mean(), 4)
        (True, True)
    """
    init = check_choice("init", init, WIDENING_INITS)
    n = check_int("n_in", n_in, minimum=1)
    m = check_int("width", width, minimum=1)
    if init == "identity" or (init == "zero" and m <= n):
        if m <= n:
            return spectrum(sigma, q0, depth, activation)
        return _mixture([(n / m, 1.0, spectrum(sigma, q0, depth, activation))], 1 - n / m)
    if init == "idinit":
        if m >= n:
            c = _copies(m, n)
            parts = [(float(np.mean(c == k)) * n / m, float(k),
                      spectrum(sigma, q0, depth, activation)) for k in np.unique(c)]
            return _mixture(parts, 1 - n / m)
        c = _copies(n, m)
        return _mixture([(float(np.mean(c == k)), float(k),
                          spectrum(sigma, q0 * k, depth, activation)) for k in np.unique(c)],
                        0.0)
    if n & (n - 1):
        raise ValueError(f"no closed form for ZerO's Hadamard layer {n} -> {m}: the law is "
                         "exact only for n_in a power of two (rows of H_p[:m, :n] repeat with "
                         "period n); measure it with widened_mlp")
    p = 2 ** math.ceil(math.log2(m))
    c = _copies(m, n)
    law = spectrum(sigma, q0 * n / p, depth, activation)
    return _mixture([(float(np.mean(c == k)) * n / m, n * float(k) / p, law)
                     for k in np.unique(c)], 1 - n / m)


def widened_mlp(init: str, n_in: int, width: int, depth: int, sigma: float = 1.0,
                activation: str = "hardtanh", *, seed: int = 0,
                eps: float = 0.0) -> nn.Sequential:
    r"""The float64 network of :func:`widened_spectrum`: ``Linear(n_in, width)`` by
    :func:`~idmlp.init.init_weight_` (``identity``, ``zero``, ``idinit`` with perturbation
    ``eps``) times ``sigma``, then ``depth - 1`` layers :math:`\sigma I`, the activation
    after each, no bias.

    Examples:
        >>> widened_mlp("zero", 3, 8, 2)[0].weight.shape
        torch.Size([8, 3])
    """
    from ..activations import Activation
    from ..init import identity_, idinit_, init_weight_

    init = check_choice("init", init, WIDENING_INITS)
    depth = check_int("depth", depth, minimum=1)
    gen = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    layers: list[nn.Module] = []
    for k in range(depth):
        lin = nn.Linear(n_in if k == 0 else width, width, bias=False, dtype=torch.float64)
        if k > 0:
            identity_(lin.weight, sigma)
        elif init == "idinit":
            idinit_(lin.weight, sigma, eps=eps, generator=gen)
        else:
            init_weight_(lin.weight, init, sigma, gen)
        layers += [lin, Activation(activation)]
    return nn.Sequential(*layers)


@dataclass(frozen=True, eq=False)
class MixtureLaw:
    r""":math:`\text{zero}\,\delta_0 + (1 - \text{zero})\,\mu`: a law with an extra mass at
    0, for :func:`looks_linear_spectrum` with an odd activation (:math:`\mu` a
    :class:`~idmlp.theory.free.FreeSpectrum`). Has what the comparisons and figures use:
    ``cdf``, ``atoms``, ``mass_at_zero``, ``mean``, ``var``, ``quantile``, ``log_quantile``
    and a strict-JSON ``summary``."""

    zero: float
    law: Any

    @property
    def atoms(self) -> tuple[tuple[float, float], ...]:
        rest = [(loc, (1 - self.zero) * p) for loc, p in self.law.atoms if loc > 0]
        return ((0.0, self.mass_at_zero), *rest)

    @property
    def mass_at_zero(self) -> float:
        return self.zero + (1 - self.zero) * self.law.mass_at_zero

    def cdf(self, t: ArrayLike) -> NDArray[np.float64] | float:
        t = np.asarray(t, dtype=np.float64)
        out = np.where(t >= 0, self.zero, 0.0) + (1 - self.zero) * np.asarray(self.law.cdf(t))
        return out.item() if out.ndim == 0 else out

    def mean(self) -> float:
        return (1 - self.zero) * self.law.mean()

    def var(self) -> float:
        second = (1 - self.zero) * (self.law.var() + self.law.mean() ** 2)
        return second - self.mean() ** 2

    def quantile(self, p: ArrayLike) -> NDArray[np.float64] | float:
        p = np.asarray(p, dtype=np.float64)
        inner = np.clip((p - self.zero) / (1 - self.zero), 0.0, 1.0)
        out = np.where(p <= self.zero, 0.0, np.asarray(self.law.quantile(inner)))
        return out.item() if out.ndim == 0 else out

    def log_quantile(self, p: ArrayLike) -> NDArray[np.float64] | float:
        with np.errstate(divide="ignore"):
            return np.log(self.quantile(p))

    def summary(self) -> dict[str, Any]:
        return strict_json({"mass_at_zero": self.mass_at_zero, "mean": self.mean(),
                            "var": self.var(), "extra_zero": self.zero,
                            "rest": self.law.summary()})


def looks_linear_spectrum(sigma: float, q0: float, depth: int,
                          activation: str = "relu") -> SpectralLaw | MixtureLaw:
    r"""Law of the eigenvalues of :math:`J J^T` of a looks-linear MLP (every layer
    :func:`~idmlp.init.looks_linear_`, width :math:`2n`, no bias) at inputs of mean square
    :math:`q_0`: ReLU: :math:`\tfrac12 \delta_0 + \tfrac12 \delta_{2\sigma^{2L}}`, exact at
    every width, depth and input; odd activations (tanh, hard-tanh, linear): half at 0,
    half the orthogonal law of width :math:`n` at :math:`\sigma_w = 2\sigma`, mean square
    :math:`q_0/2` (wide limit). See the module docstring.

    Raises:
        ValueError: other activations (no closed form).

    Examples:
        >>> law = looks_linear_spectrum(1.0, 1.0, 200)
        >>> law.atoms
        ((0.0, 0.5), (2.0, 0.5))
    """
    sigma = check_positive("sigma", sigma)
    q0 = check_positive("q0", q0)
    depth = check_int("depth", depth, minimum=1)
    if activation == "relu":
        log_v = np.array([-np.inf, math.log(2.0) + 2 * depth * math.log(sigma)])
        w = np.array([0.5, 0.5])
        return SpectralLaw("relu", sigma, q0, depth, log_v, w, np.log(w),
                           tuple(zip(log_v.tolist(), w.tolist(), strict=True)), "gaussian")
    if activation not in _ODD:
        raise ValueError(f"looks_linear_spectrum has a closed form for relu and the odd "
                         f"activations {', '.join(_ODD)}; got {activation!r} (measure it)")
    return MixtureLaw(0.5, free_spectrum(2 * sigma, 0.0, q0 / 2, depth, activation,
                                         "orthogonal"))


def delta_orthogonal_spectrum(sigma: float, sigma_b: float, q0: float, depth: int,
                              activation: str = "tanh") -> FreeSpectrum:
    r"""Law of the eigenvalues of :math:`J J^T` of a delta-orthogonal CNN pooled over
    pixels: the orthogonal MLP's law of width :math:`C`
    (:func:`~idmlp.theory.free.free_spectrum`), since the network acts pixel by pixel as
    that MLP (module docstring).

    Examples:
        >>> round(delta_orthogonal_spectrum(1.0, 0.0, 0.5, 4, "tanh").mean(), 4) <= 1.0
        True
    """
    return free_spectrum(sigma, sigma_b, q0, depth, activation, "orthogonal")


def delta_orthogonal_cnn(channels: int, depth: int, sigma: float = 1.0,
                         activation: str = "tanh", *, image: tuple[int, int] = (4, 4),
                         kernel: int = 3, padding_mode: str = "zeros",
                         seed: int = 0) -> nn.Sequential:
    r"""A float64 CNN of ``depth`` ``Conv2d(channels, channels, kernel)`` layers
    (size-preserving padding, no bias) initialized by
    :func:`~idmlp.init.delta_orthogonal_`, the activation after each, taking and
    returning flat vectors of ``channels * H * W`` (so that
    :func:`idmlp.jacobian.dense.jacobian` applies).

    Examples:
        >>> net = delta_orthogonal_cnn(4, 2, image=(3, 3))
        >>> net(torch.zeros(2, 36, dtype=torch.float64)).shape
        torch.Size([2, 36])
    """
    from ..activations import Activation
    from ..init import delta_orthogonal_

    gen = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    layers: list[nn.Module] = [nn.Unflatten(1, (channels, *image))]
    for _ in range(check_int("depth", depth, minimum=1)):
        conv = nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=False,
                         padding_mode=padding_mode, dtype=torch.float64)
        delta_orthogonal_(conv.weight, sigma, generator=gen)
        layers += [conv, Activation(activation)]
    return nn.Sequential(*layers, nn.Flatten())
