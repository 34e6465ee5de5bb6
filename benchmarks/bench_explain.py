"""Time per explanation: Captum methods against the interpretable MLP's built-in map.

On ``InterpretableMLP(784, 10, depth 20)`` (width 794, weights near the identity, float32)
and a batch of ``B`` images (default 64), every method explains the true class of the
last layer's logits, through the code path ``idmlp.faithfulness`` uses:

* the default map, the logit split of the last layer (the contrastive logit split exactly
  over the input, ``model.logit_split(model.embed(x), y, layers=[L])``: 1 forward + 1 backward,
  the code path of ``idmlp.faithfulness``'s ``logit split``; the default is its positive
  part, one clamp more);
* built-in, one forward pass for every layer at once: class evidence
  (``model.readout(x).maps("evidence", target=y)``), and ``x^l - x^0``
  (``maps("change")``) and ``x^l - x^l_id`` (``maps("trained")``);
* the class evidence propagated through the class path
  (:func:`idmlp.faithfulness.evidence.propagated_evidence`, one forward pass and a
  recursion of ``(B, C)`` vectors) and LRP-epsilon
  (:func:`idmlp.faithfulness.lrp.lrp_epsilon`, 1 forward + 1 backward);
* Captum through :func:`idmlp.attribution.captum_attribution`: Saliency, InputXGradient,
  DeepLift (1 forward + 1 backward), IntegratedGradients and GradientShap (``--steps``
  forward + backward each, default 32).

Methods run interleaved (in alternating order), repeat after repeat, and are compared by
their medians; the ratio to the default map's time is printed (the issue's goal for the
default map: >= 10x less time than IntegratedGradients).

Run: ``python benchmarks/bench_explain.py [--batch 64 --steps 32 --repeats 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from collections.abc import Callable

import torch

from _timing import interleaved
from idmlp.attribution import captum_attribution, method_passes
from idmlp.faithfulness.evidence import propagated_evidence
from idmlp.faithfulness.lrp import lrp_epsilon
from idmlp.nets.mlp import InterpretableMLP

N_IN, N_CLASSES, DEPTH = 784, 10, 20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=32, help="IG steps, GradientShap samples")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", "Setting forward, backward hooks", UserWarning)  # DeepLift
    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    model = InterpretableMLP(N_IN, N_CLASSES, DEPTH, logit_scale=8.0).eval()
    with torch.no_grad():  # a "trained" network: the identity plus a small change
        for layer in model.layers:
            layer.weight.add_(0.01 * torch.randn(layer.weight.shape, generator=g))
    x = torch.randn(args.batch, N_IN, generator=g)
    y = torch.randint(0, N_CLASSES, (args.batch,), generator=g)
    print(f"explanations of InterpretableMLP({N_IN}, {N_CLASSES}, depth {DEPTH}), width "
          f"{N_IN + N_CLASSES}, batch {args.batch}, float32, {torch.get_num_threads()} threads")

    def builtin(name: str) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            with torch.no_grad():
                return model.readout(x).maps(name, target=y)
        return run

    def split() -> torch.Tensor:
        return model.logit_split(model.embed(x), y, layers=[DEPTH])

    base_name = "logit split (default)"
    runs: dict[str, Callable[[], object]] = {
        base_name: split, "class evidence (built-in)": builtin("evidence"),
        "x^l - x^0 (built-in)": builtin("change"),
        "x^l - x^l_id (built-in)": builtin("trained")}
    passes = dict.fromkeys(runs, (1, 0))
    passes[base_name] = (1, 1)
    runs["propagated evidence"] = lambda: propagated_evidence(model, x, y[:, None])
    passes["propagated evidence"] = (1, 0)
    runs["lrp_epsilon"] = lambda: lrp_epsilon(model, x, y)
    passes["lrp_epsilon"] = (1, 1)
    for method in ("saliency", "input_x_gradient", "deeplift", "integrated_gradients",
                   "gradient_shap"):
        runs[method] = (lambda m=method: captum_attribution(m, model, x, y, steps=args.steps))
        passes[method] = method_passes(method, args.steps)

    times = interleaved(runs, args.warmup, args.repeats)
    med = {k: statistics.median(v) / args.batch for k, v in times.items()}
    base = med[base_name]
    print(f"{'method':28s} {'passes':>8s} {'ms/expl':>9s} {'x logit split':>16s}")
    for name, sec in med.items():
        f, b = passes[name]
        print(f"{name:28s} {f'{f}F+{b}B':>8s} {sec * 1e3:9.3f} {sec / base:15.1f}x")
    ig = med["integrated_gradients"]
    ce = med["class evidence (built-in)"]
    print(f"IntegratedGradients ({args.steps} steps) / logit split (the default map): "
          f"{ig / base:.1f}x (goal >= 10x), / class evidence: {ig / ce:.1f}x; medians of "
          f"{args.repeats} repeats")


if __name__ == "__main__":
    main()
