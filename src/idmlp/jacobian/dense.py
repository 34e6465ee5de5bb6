r"""Input-output Jacobians of real networks, their singular values, and the theory check.

For an MLP, :math:`J = D^L W^L \cdots D^1 W^1` with :math:`D^\ell = \operatorname{diag}
(\phi'(h^\ell))`. :func:`singular_values` has three exact paths:

- ``"diagonal"``: an :class:`~idmlp.nets.mlp.MLP` whose weights are all diagonal (identity
  initialization): :math:`J` is diagonal, so its diagonal is :math:`J^T \mathbf 1`, one
  backward pass per batch; the singular values are :math:`|J_{ii}|` sorted.
- ``"mlp"``: any :class:`~idmlp.nets.mlp.MLP`: the product above, one GEMM of shape
  ``N x N`` by ``N x (B N)`` per layer for the whole batch.
- ``"autograd"``: any differentiable ``model``: ``torch.func.vmap(torch.func.jacrev)``.

The two structured paths differentiate the layer stack :math:`x^0 \mapsto x^L`; for an
:class:`~idmlp.nets.mlp.InterpretableMLP` (whose own forward embeds the input and reads the
logits) ask for them explicitly, with ``x`` the states :math:`x^0` (``model.embed(z)``).
:func:`stacked_eigenvalues` does the same for ``K`` stacked networks at once (the sweep
engine), and :func:`empirical_spectrum` measures a freshly initialized network at Gaussian
inputs, the check of :mod:`idmlp.theory`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor, nn
from torch.func import functional_call, jacrev, vmap

from .._validation import check_choice, check_int, check_positive
from ..activations import get_activation, value_and_derivative
from ..init import is_diagonal
from ..nets.base import DenseStack
from ..nets.mlp import MLP
from ..runtime import check_memory
from ..theory import SpectralLaw

__all__ = [
    "METHODS",
    "SpectrumComparison",
    "compare",
    "eigenvalue_summary",
    "empirical_spectrum",
    "jacobian",
    "singular_values",
    "spectrum_memory",
    "stacked_eigenvalues",
    "stacked_mlp_jacobian",
]

#: Eigenvalues at most this fraction of a network's largest one count as zero.
ZERO_RTOL = 1e-9
# Elements per chunk of the stacked Jacobian (keeps memory bounded).
_JACOBIAN_ELEMENTS = 2**22

METHODS: tuple[str, ...] = ("auto", "diagonal", "mlp", "autograd")


def _check_input(model: nn.Module, x: Tensor) -> None:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, Tensor) or x.ndim != 2:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a 2-D tensor (batch, features), got {shape}")


def _resolve(model: nn.Module, method: str) -> str:
    check_choice("method", method, METHODS)
    if method == "auto":
        # The structured paths differentiate the layer stack; a subclass with its own
        # forward (InterpretableMLP embeds and reads logits) gets autograd.
        is_mlp = isinstance(model, DenseStack) and model.forward_is_stack
        if is_mlp and all(is_diagonal(layer.weight) for layer in model.layers):
            return "diagonal"
        return "mlp" if is_mlp else "autograd"
    if method in ("diagonal", "mlp") and not isinstance(model, DenseStack):
        raise ValueError(f"method={method!r} needs an idmlp MLP (a DenseStack); use "
                         "method='autograd'")
    if method == "diagonal" and not all(is_diagonal(layer.weight) for layer in model.layers):
        raise ValueError("method='diagonal' needs diagonal weights (identity initialization)")
    return method


def stacked_mlp_jacobian(
    weights: Tensor, x: Tensor, fn: Callable[[Tensor], Tensor], biases: Tensor | None = None
) -> Tensor:
    r"""Dense :math:`J = D^L W^L \cdots D^1 W^1` for ``K`` stacked MLPs at ``M`` inputs each.

    ``J`` is kept in the layout ``(K, N_out, M, N_in)``, so each layer is one batched GEMM
    ``W @ J.view(K, N, M N)`` into a reused buffer (2 L N^3 flops per input).

    Args:
        weights: ``(K, L, N, N)`` in the ``nn.Linear`` layout.
        x: inputs, ``(K, M, N)``.
        fn: the elementwise activation.
        biases: optional ``(K, L, N)``.

    Returns:
        ``(K, M, N, N)``.
    """
    k, m, n = x.shape
    jac = torch.empty(k, n, m, n, dtype=x.dtype, device=x.device)
    spare = torch.empty_like(jac)
    h = x
    for layer, w in enumerate(weights.unbind(1)):
        pre = torch.bmm(h, w.mT)
        if biases is not None:
            pre = pre + biases[:, layer, None, :]
        h, d = value_and_derivative(fn, pre)
        d = d.transpose(1, 2)[..., None]  # (K, N_out, M, 1)
        if layer == 0:
            torch.mul(w[:, :, None, :], d, out=jac)
        else:
            torch.bmm(w, jac.view(k, n, m * n), out=spare.view(k, n, m * n))
            jac, spare = spare.mul_(d), jac
    return jac.permute(0, 2, 1, 3)


@torch.no_grad()
def stacked_eigenvalues(weights: Tensor, x: Tensor, activation: str,
                        biases: Tensor | None = None) -> Tensor:
    r"""Eigenvalues of :math:`J J^T` for ``K`` stacked square MLPs at ``M`` inputs each.

    :func:`stacked_mlp_jacobian` in chunks of bounded memory, then the squared singular
    values. Networks whose ``J`` is not finite get NaN.

    Args:
        weights: ``(K, L, W, W)`` in the ``nn.Linear`` layout.
        x: the states :math:`x^0`, ``(K, M, W)``.
        activation: the activation name.
        biases: optional ``(K, L, W)``.

    Returns:
        ``(K, M, W)``, descending along the last dimension.

    Examples:
        >>> w = torch.eye(3, dtype=torch.float64).expand(2, 4, 3, 3)
        >>> stacked_eigenvalues(w, torch.full((2, 1, 3), 0.5, dtype=torch.float64), "tanh").shape
        torch.Size([2, 1, 3])
    """
    fn = get_activation(activation)
    out = []
    chunk = max(1, _JACOBIAN_ELEMENTS // (x.shape[1] * x.shape[2] ** 2))
    parts = biases.split(chunk) if biases is not None else [None] * math.ceil(len(x) / chunk)
    for w_c, x_c, b_c in zip(weights.split(chunk), x.split(chunk), parts, strict=True):
        jac = stacked_mlp_jacobian(w_c, x_c, fn, b_c)
        finite = jac.isfinite().flatten(1).all(1)
        if not finite.all():
            jac = torch.where(finite[:, None, None, None], jac, 0.0)
        lam = torch.linalg.svdvals(jac) ** 2
        out.append(torch.where(finite[:, None, None], lam, torch.nan))
    return torch.cat(out)


def eigenvalue_summary(lam: Tensor) -> tuple[Tensor, Tensor]:
    """Per network (first dimension): the fraction of eigenvalues above
    :data:`ZERO_RTOL` times its largest one, and their mean.

    Examples:
        >>> eigenvalue_summary(torch.tensor([[[4.0, 0.0, 1e-12, 2.0]]]))
        (tensor([0.5000], dtype=torch.float64), tensor([1.5000]))
    """
    lam = lam.flatten(1)
    top = lam.amax(dim=1, keepdim=True)
    return (lam > ZERO_RTOL * top).double().mean(dim=1), lam.mean(dim=1)


def _spectrum_chunk(width: int) -> int:
    """Inputs per chunk of :func:`empirical_spectrum` (bounded Jacobian memory)."""
    return max(1, 2**16 // width)


def spectrum_memory(width: int, depth: int, samples: int) -> int:
    r"""Bytes that :func:`empirical_spectrum` may need at most, from its sizes alone:
    float64 dense weights (:math:`L N^2`), and per chunk of :math:`m` inputs the
    Jacobian, its GEMM buffer and the SVD's copy (:math:`3 m N^2`), plus
    :math:`2 N^2` for an orthogonal initialization's QR, and the inputs and eigenvalues.

    Examples:
        >>> spectrum_memory(100_000, 10, 32) / 1e9 > 40  # 40 GB and more: refused
        True
    """
    width, depth = check_int("width", width), check_int("depth", depth)
    samples = check_int("samples", samples)
    chunk = min(samples, _spectrum_chunk(width))
    return 8 * ((depth + 3 * chunk + 2) * width**2 + 2 * samples * width)


def empirical_spectrum(
    width: int, depth: int, sigma: float, q0: float, *, activation: str = "hardtanh",
    init: str = "identity", samples: int = 16, seed: int = 0, progress: bool = False,
) -> np.ndarray:
    r"""Eigenvalues of :math:`J J^T` of a freshly initialized :class:`~idmlp.nets.mlp.MLP` at
    Gaussian inputs :math:`u \sim N(0, q_0 I)`, in float64: what :func:`idmlp.theory.spectrum`
    predicts (for ``init="identity"``).

    The inputs and a random initialization are drawn from one generator seeded with
    ``seed``; inputs are processed in chunks of bounded memory.

    Returns:
        ``(samples, width)``: each input's eigenvalues, descending.

    Raises:
        EnvironmentFailure: (an ``OSError``) before anything is allocated, when
            :func:`spectrum_memory` exceeds what this machine can give
            (:func:`idmlp.runtime.check_memory`).

    Examples:
        >>> lam = empirical_spectrum(50, 10, 1.0, 0.5, samples=4)
        >>> lam.shape, bool(((lam == 0) | (lam == 1)).all())
        ((4, 50), True)
    """
    from ..runtime import progress_bar

    width, samples = check_int("width", width), check_int("samples", samples)
    check_memory(spectrum_memory(width, depth, samples),
                 f"the Jacobians of a width-{width}, depth-{depth} network at {samples} inputs",
                 "use a smaller width or depth")
    gen = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    u = torch.randn(samples, width, generator=gen, dtype=torch.float64)
    u *= math.sqrt(check_positive("q0", q0))
    net = MLP(width, depth, sigma, activation, init=init, generator=gen, dtype=torch.float64)
    chunks = torch.split(u, _spectrum_chunk(width))
    out = [singular_values(net, c) ** 2 for c in progress_bar(
        chunks, enabled=progress, desc="jacobians", leave=False)]
    return torch.cat(out).numpy()


def _mlp_jacobian(model: DenseStack, x: Tensor, dtype: torch.dtype) -> Tensor:
    """Dense :math:`J` of one idmlp MLP for a batch: :func:`stacked_mlp_jacobian`, K = 1."""
    weights = model.weight_stack().to(dtype)[None]
    biases = None
    if model.has_bias:
        biases = torch.stack([layer.bias.detach() for layer in model.layers]).to(dtype)[None]
    return stacked_mlp_jacobian(weights, x.detach().to(dtype)[None], model.act.fn, biases)[0]


def _diagonal_jacobian(model: DenseStack, x: Tensor, dtype: torch.dtype) -> Tensor:
    """Diagonal of :math:`J` of the layer stack for each input, ``(B, N)``:
    :math:`J^T \\mathbf 1`."""
    params = {k: v.detach().to(dtype) for k, v in model.named_parameters()}
    xx = x.detach().to(dtype)
    with torch.enable_grad():
        xx.requires_grad_(True)
        out = _stack_forward(model, params, xx)
        (diag,) = torch.autograd.grad(out.sum(), xx)
    return diag


def _stack_forward(model: DenseStack, params: dict[str, Tensor], x: Tensor) -> Tensor:
    """The layer stack :math:`x^0 \\mapsto x^L` of any idmlp MLP with ``params``."""
    for i in range(model.depth):
        b = params.get(f"layers.{i}.bias")
        x = model.act.fn(torch.nn.functional.linear(x, params[f"layers.{i}.weight"], b))
    return x


def _autograd_jacobian(model: nn.Module, x: Tensor, dtype: torch.dtype) -> Tensor:
    params = {k: v.detach().to(dtype) for k, v in model.named_parameters()}
    buffers = {k: v.to(dtype) if v.is_floating_point() else v for k, v in model.named_buffers()}

    def single(xi: Tensor) -> Tensor:
        return functional_call(model, (params, buffers), (xi[None],))[0]

    return vmap(jacrev(single))(x.detach().to(dtype))


def jacobian(
    model: nn.Module, x: Tensor, *, dtype: torch.dtype | None = None, method: str = "auto"
) -> Tensor:
    r"""The input-output Jacobian :math:`\partial f(x_b) / \partial x_b` for each input.

    Args:
        model: any differentiable module mapping ``(B, N_in)`` to ``(B, N_out)``.
        x: inputs, ``(B, N_in)``.
        dtype: compute in this dtype (e.g. ``torch.float64``); default: ``x``'s dtype.
        method: ``auto``, ``diagonal``, ``mlp`` or ``autograd`` (see the module docstring).

    Returns:
        ``(B, N_out, N_in)``.

    Examples:
        >>> from idmlp.nets.mlp import IdentityMLP
        >>> net = IdentityMLP(4, 10)
        >>> jacobian(net, torch.randn(2, 4) * 0.3).shape
        torch.Size([2, 4, 4])
    """
    _check_input(model, x)
    dtype = dtype or x.dtype
    method = _resolve(model, method)
    if method == "diagonal":
        return torch.diag_embed(_diagonal_jacobian(model, x, dtype))
    if method == "mlp":
        return _mlp_jacobian(model, x, dtype)
    return _autograd_jacobian(model, x, dtype)


def singular_values(
    model: nn.Module, x: Tensor, *, dtype: torch.dtype | None = None, method: str = "auto"
) -> Tensor:
    r"""Singular values of the input-output Jacobian for each input, in descending order.

    The eigenvalues of :math:`J J^T` are their squares. At identity initialization
    (``method="diagonal"``, chosen automatically) this costs one forward and one backward
    pass, with no :math:`N \times N` matrix formed.

    Args:
        model: any differentiable module; idmlp :class:`~idmlp.nets.mlp.MLP` models get the
            fast exact paths.
        x: inputs, ``(B, N_in)``.
        dtype: compute in this dtype (``torch.float64`` for the theory checks).
        method: ``auto``, ``diagonal``, ``mlp`` or ``autograd``.

    Returns:
        ``(B, min(N_in, N_out))``.

    Examples:
        >>> from idmlp.nets.mlp import IdentityMLP
        >>> net = IdentityMLP(500, 20, sigma=1.0)
        >>> s = singular_values(net, 0.3 * torch.randn(8, 500), dtype=torch.float64)
        >>> s.shape, bool(((s == 0) | (s == 1)).all())
        (torch.Size([8, 500]), True)
    """
    _check_input(model, x)
    dtype = dtype or x.dtype
    method = _resolve(model, method)
    if method == "diagonal":
        return _diagonal_jacobian(model, x, dtype).abs().sort(dim=-1, descending=True).values
    return torch.linalg.svdvals(jacobian(model, x, dtype=dtype, method=method))


@dataclass(frozen=True)
class SpectrumComparison:
    r"""Empirical eigenvalues of :math:`J J^T` against a :class:`~idmlp.theory.SpectralLaw`.

    ``nonzero_*`` count eigenvalues above ``threshold`` (numerically nonzero); the law's
    value is :math:`P(\lambda > \text{threshold})`. ``stderr`` is the binomial standard
    error :math:`\sqrt{p(1-p)/n}` and ``z`` the difference in standard errors. ``ks`` is
    the Kolmogorov-Smirnov distance :math:`\sup_t |F_n(t) - F(t)|`; ``ks_bound`` is the
    Dvoretzky-Kiefer-Wolfowitz radius :math:`\sqrt{\ln(2/\delta)/(2n)}` at
    :math:`\delta = 0.01`, which i.i.d. samples of the law exceed with probability at most
    1 %, for any law (atoms included).
    """

    n: int
    threshold: float
    nonzero_empirical: float
    nonzero_theory: float
    stderr: float
    z: float
    ks: float
    ks_bound: float
    mean_empirical: float
    mean_theory: float


def compare(
    eigenvalues: Tensor | ArrayLike, law: SpectralLaw, *, rtol: float = 1e-9,
    atom_rtol: float = 1e-5,
) -> SpectrumComparison:
    r"""Compare empirical eigenvalues of :math:`J J^T` (any shape) with ``law``.

    Args:
        eigenvalues: samples of :math:`\lambda` (squared singular values), any shape.
        law: the theoretical law, from :func:`idmlp.theory.spectrum`.
        rtol: eigenvalues at most ``rtol * max(λ)`` count as zero.
        atom_rtol: samples within this relative distance of one of the law's atoms count as
            that atom (a float product rarely hits :math:`\sigma^{2L}` to the last bit).

    Examples:
        >>> from idmlp.nets.mlp import IdentityMLP
        >>> from idmlp.theory import spectrum
        >>> net, u = IdentityMLP(400, 10), 0.5**0.5 * torch.randn(16, 400)
        >>> c = compare(singular_values(net, u, dtype=torch.float64) ** 2, spectrum(1.0, 0.5, 10))
        >>> abs(c.z) < 4, c.ks < c.ks_bound
        (True, True)
    """
    lam = eigenvalues.detach().cpu().double().numpy() if isinstance(eigenvalues, Tensor) \
        else np.asarray(eigenvalues, dtype=np.float64)
    lam = lam.ravel()
    if lam.size == 0 or not np.all(np.isfinite(lam)):
        raise ValueError("eigenvalues must be a non-empty array of finite numbers")
    check_positive("rtol", rtol)
    check_positive("atom_rtol", atom_rtol)
    lam = np.sort(lam)
    for loc, _ in law.atoms:
        lam[np.abs(lam - loc) <= atom_rtol * abs(loc)] = loc
    n = lam.size
    threshold = rtol * max(float(lam[-1]), float(law.values[-1]))
    p_emp = float(np.mean(lam > threshold))
    p_th = float(law.sf(threshold))
    stderr = math.sqrt(max(p_th * (1 - p_th), 1e-300) / n)
    # KS: compare F_n and F just at and just before every sample point.
    f_hi = np.asarray(law.cdf(lam))
    f_lo = np.asarray(law.cdf(np.nextafter(lam, -np.inf)))
    emp_hi = np.searchsorted(lam, lam, side="right") / n
    emp_lo = np.searchsorted(lam, lam, side="left") / n
    ks = float(max(np.abs(emp_hi - f_hi).max(), np.abs(emp_lo - f_lo).max()))
    return SpectrumComparison(
        n=n, threshold=threshold, nonzero_empirical=p_emp, nonzero_theory=p_th,
        stderr=stderr, z=(p_emp - p_th) / stderr, ks=ks,
        ks_bound=math.sqrt(math.log(2 / 0.01) / (2 * n)),
        mean_empirical=float(lam.mean()), mean_theory=law.mean(),
    )
