"""Shared fixtures, and the rule every test follows.

THE FLOAT RULE. The suite runs on different x86-64 CPUs (AMD EPYC, Intel Xeon with
AVX-512, ...), where MKL and oneDNN pick other kernels and float32 results move in the
last bits. So:

1. A test that compares two algorithms (batched vs. looped, chunked vs. whole, stacked vs.
   one at a time) runs them in float64, or uses a tolerance derived from the dtype's eps
   and the problem size (``tol(dtype, n)`` below: ``n * eps`` with a safety factor), never
   a bare ``rtol=1e-5`` guess and never exact equality of floats.
2. Discrete outputs (argmax predictions, accuracies, confusion matrices) are compared
   exactly only where the logit margin guarantees it: in float64 with a margin check
   (``assert_same_argmax``), or after dropping the examples whose margin is below the
   tolerance.
3. Exact equality is right for things that do not depend on kernels: the same code path
   run twice (determinism, resume), integer bookkeeping, values copied through a file.

``.ci/run`` repeats the numerically sensitive tests (marked ``numerics``) under other
kernel choices (``MKL_ENABLE_INSTRUCTIONS=SSE4_2``, ``ATEN_CPU_CAPABILITY=default``).
"""

from __future__ import annotations

import math

import pytest
import torch


def tol(dtype: torch.dtype, n: int = 1, factor: float = 16.0) -> float:
    """A relative tolerance for two algorithms summing ``n`` terms in ``dtype``:
    ``factor * n * eps`` (the classic worst-case bound of recursive summation)."""
    return factor * max(n, 1) * torch.finfo(dtype).eps


def assert_same_argmax(a: torch.Tensor, b: torch.Tensor, atol: float) -> None:
    """``argmax(a) == argmax(b)`` along the last dim wherever ``a``'s top-two margin exceeds
    ``2 * atol`` (where it does not, rounding may legitimately flip the winner)."""
    top2 = a.topk(2, dim=-1).values
    safe = (top2[..., 0] - top2[..., 1]) > 2 * atol
    assert safe.float().mean() > 0.5, "too few examples with a safe margin to compare"
    assert torch.equal(a.argmax(-1)[safe], b.argmax(-1)[safe])


def assert_rows_close(a: dict, b: dict, rtol: float = 1e-6) -> None:
    """Two sweep result rows agree: floats to ``rtol`` (NaN equals NaN), the rest exactly."""
    assert a.keys() == b.keys()
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, float) and isinstance(y, float):
            assert (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, rel=rtol,
                                                                            abs=1e-9), k
        else:
            assert x == y, k


def perturb_(net: torch.nn.Module, scale: float, generator: torch.Generator,
             bias_std: float | None = None) -> torch.nn.Module:
    """Move every layer's weight off its start by ``scale`` times a standard normal (and,
    with ``bias_std``, draw the biases), in place, layer by layer from ``generator``: a
    stand-in for training."""
    with torch.no_grad():
        for layer in net.layers:
            w = layer.weight
            w.add_(scale * torch.randn(w.shape, generator=generator, dtype=w.dtype))
            if bias_std is not None and layer.bias is not None:
                layer.bias.normal_(0, bias_std, generator=generator)
    return net


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for the module: tiny matrices on a shared 2-core machine only wait
    for each other with two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
