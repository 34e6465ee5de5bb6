r"""Input-output Jacobians of real networks and their singular values.

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
inputs. This package measures only; the comparison with a law
(:func:`idmlp.theory.compare_spectrum`) belongs to :mod:`idmlp.theory`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, jacrev, vmap

from .._validation import check_choice, check_int, check_positive
from ..activations import get_activation, value_and_derivative
from ..init import is_diagonal
from ..nets.base import DenseStack
from ..nets.mlp import MLP
from ..runtime import check_memory

__all__ = [
    "METHODS",
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
    """Refuse, in one line, a model that is not a module, ``x`` that is not a 2-D batch, or
    inputs the model cannot take (a dry run on the first input, without gradients)."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a 2-D tensor (batch, features) with both >= 1, got {shape}")
    if not (x.is_floating_point() or x.dtype in (torch.int32, torch.int64, torch.bool)):
        raise ValueError(f"x must hold real numbers, got {x.dtype}")
    first = next(iter(model.parameters()), None)
    width = (model.layers[0].in_features if isinstance(model, DenseStack)
             and model.forward_is_stack else None)
    if width is not None and x.shape[1] != width:
        raise ValueError(f"x has {x.shape[1]} features but the model's first layer takes "
                         f"{width}; give inputs of shape (batch, {width})")
    try:
        with torch.no_grad():
            model(x[:1].to(first.dtype if first is not None else torch.float32))
    except (RuntimeError, ValueError, IndexError) as err:
        from ..runtime import one_line

        raise ValueError(f"the model cannot take x of shape {tuple(x.shape)} (give x with "
                         f"the model's input width): {one_line(err, 160)}") from None


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
    weights: Tensor, x: Tensor, fn: Callable[[Tensor], Tensor], biases: Tensor | None = None,
    alphas: Tensor | None = None,
) -> Tensor:
    r"""Dense :math:`J = D^L W^L \cdots D^1 W^1` for ``K`` stacked MLPs at ``M`` inputs each
    (with ``alphas``, residual blocks :math:`x^\ell = x^{\ell-1} + \alpha_\ell
    \phi(W^\ell x^{\ell-1})`: :math:`J = \prod_\ell (I + \alpha_\ell D^\ell W^\ell)`).

    ``J`` is kept in the layout ``(K, N_out, M, N_in)``, so each layer is one batched GEMM
    ``W @ J.view(K, N, M N)`` into a reused buffer (2 L N^3 flops per input).

    Args:
        weights: ``(K, L, N, N)`` in the ``nn.Linear`` layout.
        x: inputs, ``(K, M, N)``.
        fn: the elementwise activation.
        biases: optional ``(K, L, N)``.
        alphas: optional residual scales ``(K, L)``.

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
        out, d = value_and_derivative(fn, pre)
        if alphas is None:
            h = out
        else:
            a = alphas[:, layer, None, None]
            h, d = h + a * out, a * d
        d = d.transpose(1, 2)[..., None]  # (K, N_out, M, 1)
        if layer == 0:
            torch.mul(w[:, :, None, :], d, out=jac)
            if alphas is not None:  # + I for every input
                jac.diagonal(dim1=1, dim2=3).add_(1.0)
        else:
            torch.bmm(w, jac.view(k, n, m * n), out=spare.view(k, n, m * n))
            spare.mul_(d)
            if alphas is not None:
                spare.add_(jac)
            jac, spare = spare, jac
    return jac.permute(0, 2, 1, 3)


@torch.no_grad()
def stacked_eigenvalues(weights: Tensor, x: Tensor, activation: str,
                        biases: Tensor | None = None, alphas: Tensor | None = None) -> Tensor:
    r"""Eigenvalues of :math:`J J^T` for ``K`` stacked square MLPs at ``M`` inputs each.

    :func:`stacked_mlp_jacobian` in chunks of bounded memory, then the squared singular
    values. Networks whose ``J`` is not finite get NaN.

    Args:
        weights: ``(K, L, W, W)`` in the ``nn.Linear`` layout.
        x: the states :math:`x^0`, ``(K, M, W)``.
        activation: the activation name.
        biases: optional ``(K, L, W)``.
        alphas: optional residual scales ``(K, L)`` (:func:`stacked_mlp_jacobian`).

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
    none = [None] * math.ceil(len(x) / chunk)
    parts = biases.split(chunk) if biases is not None else none
    scales = alphas.split(chunk) if alphas is not None else none
    for w_c, x_c, b_c, a_c in zip(weights.split(chunk), x.split(chunk), parts, scales,
                                  strict=True):
        jac = stacked_mlp_jacobian(w_c, x_c, fn, b_c, a_c)
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
