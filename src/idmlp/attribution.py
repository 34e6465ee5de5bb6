r"""Gradient attributions of the field, through Captum (Kokhlikyan et al., 2020): the public
module.

:func:`captum_attribution` explains one class of a model's logits with a Captum method and
returns a map in input space, ``(B, N)``. The model is any callable
``logits_fn(x: (B, N)) -> (B, C)`` or ``(B, L, C)``; for per-layer logits, ``layer``
(``1..L``, default the last) picks which layer's logits are explained, so the same
wrapper explains the interpretable MLP's readout at any depth.

Methods (``f_c`` the logit of the explained class ``c``, baseline :math:`\bar x = 0`):

* ``saliency`` (Simonyan et al., 2014): :math:`|\partial f_c / \partial x|`.
* ``input_x_gradient`` (Shrikumar et al., 2016): :math:`x \odot \partial f_c/\partial x`.
* ``integrated_gradients`` (Sundararajan et al., ICML 2017):
  :math:`x \odot \int_0^1 \partial f_c(\alpha x)/\partial x \, d\alpha`, ``steps``
  quadrature nodes (Captum's Gauss-Legendre rule).
* ``gradient_shap`` (Lundberg and Lee, NeurIPS 2017): expected gradients,
  :math:`\mathbb{E}_{\alpha \sim U(0,1)}[\partial f_c(\alpha x + \epsilon)/\partial x] \odot x`
  over ``steps`` random draws (seeded), zero baseline unless ``baselines=`` is given.
* ``deeplift`` (Shrikumar et al., ICML 2017), rescale rule, zero baseline. Captum
  applies the rule only to the nonlinearities it knows (ReLU, ELU, LeakyReLU, Sigmoid,
  Tanh, Softplus, Softmax, max-pooling modules); through any other activation (hard-tanh
  as :class:`~idmlp.activations.Activation` included) the gradient passes unchanged, and
  for a zero baseline the result equals ``input_x_gradient``.

The methods, their papers and cost models are the registry's
(:data:`idmlp.faithfulness.methods.METHODS`); the Captum calls live in
:mod:`idmlp.faithfulness.captum`. Captum is an optional dependency
(``pip install 'idmlp[xai]'``); it is imported only when a method runs, and its absence
raises :class:`MissingCaptumError` in one line.

:class:`ClassEvidence` is the interpretable networks' own map, the class evidence, with
Captum's calling convention (``ClassEvidence(model).attribute(inputs, target=...)``, a map
of the inputs' shape from one forward pass; an instance is a Quantus ``explain_func``): it
needs no Captum.
"""

from __future__ import annotations

from .faithfulness.captum import INSTALL_HINT, MissingCaptumError, require_captum
from .faithfulness.methods import CAPTUM_METHODS, captum_attribution, method_passes
from .nets.evidence import ClassEvidence

__all__ = [
    "CAPTUM_METHODS",
    "ClassEvidence",
    "INSTALL_HINT",
    "MissingCaptumError",
    "captum_attribution",
    "method_passes",
    "require_captum",
]
