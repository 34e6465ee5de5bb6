"""Choosing a default on validation splits: candidate settings x dev datasets x seeds.

Every (dataset, setting, seed) trains the network of ``idmlp train``'s defaults plus the
setting for the whole budget with early stopping off, then replays the early-stopping rule
(:class:`idmlp.train.loop.StopRule`, patience ``--patience``) on the recorded validation
curve. The weights early stopping would keep are on the same trajectory (stopping changes
where training ends, not the updates before), so one curve answers the rule and every
patience at once. Reported per run: the validation accuracy of the epoch the rule keeps,
the epoch, the best validation accuracy anywhere on the curve and the mean over the last
10 epochs (how much late training overfits). Per dataset and setting: the mean over
seeds and the paired difference from the first setting (same seeds), with the binomial
standard error of one validation accuracy for scale. Only validation numbers are printed:
the test split is never read for a choice.

Settings are ``name=value`` pairs joined by ``+`` (one candidate), candidates separated
by commas, e.g. ``layer_loss=all,layer_loss=ramp,label_smoothing=0.2``; ``default`` is
the defaults unchanged.

Run: ``PYTHONPATH=src python benchmarks/bench_defaults.py --datasets mnist1d,digits
--settings default,layer_loss=ramp --seeds 0,1,2 [--jsonl out.jsonl]`` (one torch thread;
MNIST-1D: about 6 minutes per run on an idle core).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import numpy as np
import torch

from idmlp.config import RunConfig
from idmlp.train.loop import StopRule
from idmlp.train.runs import fit_in_memory


def parse_setting(text: str) -> dict[str, Any]:
    """``"layer_loss=ramp+label_smoothing=0.2"`` -> ``{"layer_loss": "ramp", ...}``
    (values parsed as JSON where they are JSON, else kept as strings)."""
    if text == "default":
        return {}
    out: dict[str, Any] = {}
    for item in text.split("+"):
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"a setting is name=value, got {item!r}")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out


def replay(history: list[dict[str, Any]], patience: int) -> tuple[int, float]:
    """The epoch the early-stopping rule keeps on this curve, and its validation
    accuracy."""
    rule = StopRule(patience)
    for r in history:
        _, stop = rule.update(r["val_loss"], r["val_acc"], r["train_acc"])
        if stop:
            break
    return rule.kept_epoch, rule.best_acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="mnist1d,digits",
                    help="comma list of dataset names (npz:PATH accepted)")
    ap.add_argument("--settings", default="default,layer_loss=ramp",
                    help="comma list of candidates; the first is the reference")
    ap.add_argument("--seeds", default="0", help="comma list of seeds")
    ap.add_argument("--patience", type=int, default=None,
                    help="patience of the replayed rule (default: the default's)")
    ap.add_argument("--steps", type=int, default=None, help="budget in steps (default: the "
                    "default budget)")
    ap.add_argument("--depth", type=int, default=None, help="depth (default: the default)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--jsonl", default=None, help="also append one JSON line per run here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    datasets = args.datasets.split(",")
    settings = args.settings.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    extra = {k: v for k, v in (("steps", args.steps), ("depth", args.depth)) if v is not None}

    kept: dict[tuple[str, str], list[float]] = {}
    for dataset in datasets:
        for setting in settings:
            for seed in seeds:
                changes = {"dataset": dataset, "seed": seed, **extra, **parse_setting(setting),
                           "early_stopping": False}
                cfg = RunConfig.from_changes(changes)
                patience = args.patience or cfg.optim.patience
                t0 = time.perf_counter()
                run = fit_in_memory(cfg)
                seconds = time.perf_counter() - t0
                h = run.metrics
                epoch, acc = replay(h, patience)
                va = np.array([r["val_acc"] for r in h])
                kept.setdefault((dataset, setting), []).append(acc)
                print(f"{dataset:<12} {setting:<28} seed {seed}: kept epoch {epoch:>3} "
                      f"val {acc:.4f} | best {va.max():.4f} at {int(va.argmax()) + 1} | "
                      f"last 10 {va[-10:].mean():.4f} | {len(h)} epochs {seconds:.0f} s",
                      flush=True)
                if args.jsonl:
                    with open(args.jsonl, "a") as f:
                        f.write(json.dumps({"dataset": dataset, "setting": setting,
                                            "seed": seed, "kept_epoch": epoch, "val": acc,
                                            "val_acc": va.tolist(), "seconds": seconds})
                                + "\n")
    print("summary (validation accuracy of the kept epoch; diff: paired, against "
          f"{settings[0]!r})")
    for dataset in datasets:
        ref = np.array(kept[(dataset, settings[0])])
        for setting in settings:
            a = np.array(kept[(dataset, setting)])
            se = math.sqrt(max(a.mean() * (1 - a.mean()), 1e-12) / max(1, run_n_val(dataset)))
            diff = float(np.mean(a - ref))
            print(f"{dataset:<12} {setting:<28} mean {a.mean():.4f} over {len(a)} seeds, "
                  f"diff {diff:+.4f}; within 3 SE of one validation accuracy "
                  f"({3 * se:.4f}): {'yes' if abs(diff) <= 3 * se else 'no'}")


_N_VAL: dict[str, int] = {}


def run_n_val(dataset: str) -> int:
    """Size of the validation split of ``dataset`` (cached)."""
    if dataset not in _N_VAL:
        ds = RunConfig.from_changes({"dataset": dataset}).data.load()
        _N_VAL[dataset] = len(ds.y_val)
    return _N_VAL[dataset]


if __name__ == "__main__":
    main()
