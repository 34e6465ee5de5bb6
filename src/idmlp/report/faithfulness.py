"""The faithfulness section: how well the maps rank the pixels the decision rests on
(:class:`~idmlp.faithfulness.FaithfulnessResult`), for ``idmlp reproduce`` and ``idmlp
faithfulness``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .section import Section

if TYPE_CHECKING:
    from ..faithfulness import FaithfulnessResult

__all__ = ["faithfulness_section"]


def faithfulness_section(faith: FaithfulnessResult) -> Section:
    """The deletion/insertion table, the field's measures, the methods with their papers
    and how the default map compares with IntegratedGradients."""
    from ..faithfulness.measures import FIELD_MEASURES, MEASURES
    from ..faithfulness.methods import (
        DEFAULT_ATTRIBUTION,
        DEFAULT_METHODS,
        DEFAULT_REFERENCE,
        METHODS,
    )

    split = faith.meta.get("split", "test")
    sec = Section("Faithfulness of the maps").text(
        f"Deletion and insertion (pixel flipping) on {faith.n_images} {split} images at the "
        "last layer, explaining the true class: pixels are removed from (or put back into) "
        "the image in the order of a map, and the probability of the class is followed. "
        "Deletion AUC: lower is better; insertion AUC and the mean drop at k = "
        f"{', '.join(map(str, faith.drop_at))} pixels: higher is better; 95% bootstrap "
        "intervals over images. The sanity check correlates each map with the same map of "
        "the network whose learned change W - sigma I is shuffled within each layer; a "
        "high correlation means the map shows the architecture, not what was learned.")
    if not any(m.kind == "captum" for m in faith.methods.values()):
        why = ("Captum is not installed" if faith.meta.get("captum") is False
               else "no attribution method of Captum was asked for")
        captum = [m for m in DEFAULT_METHODS if METHODS[m].needs_captum]
        sec.text(f"{why[0].upper()}{why[1:]}, so its methods are left out: pip install "
                 f"'idmlp[xai]' for {', '.join(captum)}.")
    head, rows, note = faith.summary_table()
    sec.text(f"The table: {note}.")
    sec.table(rows, head, caption="Faithfulness at the output", digits=None)
    if faith.field_columns():
        sec.text("The field's measures, explaining the true class at the last layer: "
                 + "; ".join(f"{m.name} ({m.paper}): {m.reports}, {m.better} is better"
                             for m in (MEASURES[k] for k in FIELD_MEASURES))
                 + ".")
        gradients = [label for n, label in (("saliency", "Saliency"),
                                            ("input_x_gradient", "InputXGradient"))
                     if any(m.rstrip("+") == n for m in faith.methods)]
        if gradients:
            many = len(gradients) > 1
            sec.text(f"{' and '.join(gradients)} {'give' if many else 'gives'} all-zero "
                     "maps where every unit on the class path is saturated (hard-tanh), "
                     f"which lowers {'their' if many else 'its'} scores.")
        head, rows, note = faith.summary_table("field")
        sec.table(rows, head, caption=f"The field's measures ({note})", digits=None)
    listed = [m for m in METHODS.values() if m.name in {n.rstrip("+") for n in faith.methods}]
    if listed:
        sec.table([[m.name, m.family, m.paper, m.summary] for m in listed],
                  ["method", "family", "paper", "map"], caption="The methods")
    if {DEFAULT_ATTRIBUTION, DEFAULT_REFERENCE} <= set(faith.methods):
        rows = []
        for metric in ("mean_drop", "insertion_auc"):
            iv = faith.compare(DEFAULT_ATTRIBUTION, DEFAULT_REFERENCE, metric)
            rows.append([metric, iv.mean, iv.low, iv.high])
        sec.table(rows, ["measure", f"{DEFAULT_ATTRIBUTION} / {DEFAULT_REFERENCE}", "95% low",
                         "95% high"], digits=3,
                  caption="The default map against IntegratedGradients, positive parts "
                  "(ratio of means)")
    return sec
