"""ZerO's Theorem 1 measured: rank(W - W0) during training in an MLP with a bottleneck.

Trains ``64 -> 64 -> 16 -> 64 -> 64 -> 10`` ReLU MLPs on scikit-learn's digits (standardized)
with plain SGD, started by the plain partial identity, by ZerO (Hadamard at the widening
layer 16 -> 64) and by IDInit (identity repeated), and draws the rank of every layer's change
W - W0 against the step (idmlp.analysis.degeneracy, idmlp.plots.degeneracy).

    python examples/zero_degeneracy.py [--out zero_degeneracy] [--steps 1500]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from idmlp.analysis.degeneracy import DEGENERACY_INITS, rank_trajectory
from idmlp.data import load_dataset
from idmlp.plots.degeneracy import degeneracy_figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="zero_degeneracy", help="output folder")
    parser.add_argument("--widths", default="64,64,16,64,64,10")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    widths = tuple(int(w) for w in args.widths.split(","))
    data = load_dataset("digits")
    scaler = data.fit_scaler("feature", 0.0)
    x = torch.as_tensor(scaler.transform(data.X_train), dtype=torch.float32)
    y = torch.as_tensor(data.y_train)
    runs = [rank_trajectory(x, y, widths, init, steps=args.steps, lr=args.lr,
                            record_every=25, seed=args.seed) for init in DEGENERACY_INITS]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig = degeneracy_figure(runs)
    for fmt in ("png", "pdf"):
        fig.savefig(out / f"zero_degeneracy.{fmt}", dpi=200)
    summary = {t.init: {"final_ranks": t.ranks[-1].tolist(), "bound": t.bound(),
                        "final_train_acc": float(t.accuracy[-1])} for t in runs}
    (out / "zero_degeneracy.json").write_text(json.dumps({"widths": widths, **summary},
                                                         indent=2))
    for init, s in summary.items():
        print(f"{init:9s} final rank(W - W0) per layer {s['final_ranks']} "
              f"(bound {s['bound']}), train acc {s['final_train_acc']:.3f}")


if __name__ == "__main__":
    main()
