"""The names of the initializations that :mod:`idmlp.theory.compare` puts side by side
(torch-free, so that the command line's ``--help`` can list them)."""

from __future__ import annotations

__all__ = ["ALL_INITS", "DETERMINISTIC_INITS", "FAMILY_INITS", "INITS", "NO_BIAS_INITS",
           "TRAIN_INITS"]

#: Initializations compared side by side by default; ``"gaussian"`` is idmlp's ``"xavier"``
#: on a square matrix, :math:`W_{ij} \sim N(0, \sigma^2/N)`.
INITS: tuple[str, ...] = ("identity", "orthogonal", "gaussian")
#: The identity family (:mod:`idmlp.init.family`) on a square MLP of width ``N``: ZerO and
#: IDInit start at :math:`\sigma I` (the identity law),
#: looks-linear has :func:`~idmlp.theory.family.looks_linear_spectrum` (``N`` even; ReLU
#: or an odd activation), delta-orthogonal on a square weight is orthogonal.
FAMILY_INITS: tuple[str, ...] = ("zero", "idinit", "looks_linear", "delta_orthogonal")
#: The random inits of ``idmlp train``/``sweep`` by their own names: ``xavier`` is
#: ``gaussian`` (:math:`\sigma_w = \sigma` on a square weight), ``he`` is Gaussian at
#: :math:`\sigma_w = \sqrt 2\,\sigma`.
TRAIN_INITS: tuple[str, ...] = ("xavier", "he")
#: Every initialization :func:`compare_inits` knows: every ``--init`` of ``idmlp train``
#: and ``idmlp sweep``, and ``gaussian``.
ALL_INITS: tuple[str, ...] = INITS + TRAIN_INITS + FAMILY_INITS
#: Initializations whose law assumes no bias (their networks get ``sigma_b = 0``).
NO_BIAS_INITS: tuple[str, ...] = ("identity", "zero", "idinit", "looks_linear")
#: Initializations without randomness at a square width (measured exactly and cheaply).
DETERMINISTIC_INITS: tuple[str, ...] = ("identity", "zero", "idinit")
