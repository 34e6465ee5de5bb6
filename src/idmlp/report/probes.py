"""Sections comparing the built-in readout with linear probes: per layer, with costs
(:class:`~idmlp.analysis.probes.ProbeComparison`), and over seeds
(:class:`~idmlp.reproduce.SeedStudy`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .section import Num, Section, describe_figure
from .stats import format_percent

if TYPE_CHECKING:
    from ..analysis.probes import ProbeComparison

__all__ = ["probe_section", "seeds_section"]


def probe_section(comparison: ProbeComparison, *, title: str = "Linear probes",
                  note: str | None = None) -> Section:
    """Built-in readout vs linear probes: accuracy per layer, costs and the figure.

    ``note``: a paragraph on how the probed networks were trained, shown last.
    """
    from ..plots.interpret import plot_probe_comparison

    sec = Section(title).text(
        "Linear probes (Alain and Bengio, 2016): one logistic regression per hidden layer, "
        "trained on the training split's standardized features and scored on the test split. "
        "The interpretable MLP reads every layer's class from its own class block instead, "
        "with one forward pass and nothing trained.")
    fig = plot_probe_comparison(comparison)
    sec.figure(fig, caption="Test accuracy per layer: built-in readout and linear probes.",
               alt=describe_figure(fig))
    header, rows = comparison.cost_table()
    sec.table(rows, header, caption="Cost", digits=3)
    header, rows = comparison.table()
    rows = [[r[0], *(None if v is None else Num(format_percent(v)) for v in r[1:])]
            for r in rows]
    sec.table(rows, header, caption="Test accuracy per layer")
    return sec.text(note) if note else sec


def seeds_section(study: Any) -> Section:
    """The built-in readout and probe (b) over seeds (a :class:`~idmlp.reproduce.SeedStudy`:
    ``seeds``, ``readout`` and ``probe`` arrays of shape ``(S, L)``, ``goals()``): mean ±
    standard deviation per layer, and whether the goals are met."""
    r, p = study.readout, study.probe
    rows = [[layer + 1, Num(f"{r[:, layer].mean():.3f} ± {r[:, layer].std(ddof=1):.3f}"),
             Num(f"{p[:, layer].mean():.3f} ± {p[:, layer].std(ddof=1):.3f}")]
            for layer in range(r.shape[1])]
    goals = "; ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in study.goals().items())
    return Section("Over seeds").text(
        f"The built-in readout and probe (b) (a linear probe on each layer of a standard MLP "
        f"trained alike), test accuracy, mean ± standard deviation over seeds "
        f"{', '.join(map(str, study.seeds))}. Goals on the means: {goals}."
    ).table(rows, ["layer", "built-in readout", "probe (b)"],
            caption=f"Test accuracy per layer over {len(study.seeds)} seeds")
