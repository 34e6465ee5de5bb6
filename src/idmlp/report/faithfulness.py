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
    """The deletion/insertion table and how the default map compares."""
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
        sec.text(f"{why[0].upper()}{why[1:]}, so only the baseline orderings are compared: "
                 "pip install 'idmlp[xai]' for Saliency, InputXGradient and "
                 "IntegratedGradients.")
    head, rows, note = faith.summary_table()
    sec.text(f"The table: {note}.")
    sec.table(rows, head, caption="Faithfulness at the output", digits=None)
    if "integrated_gradients+" in faith.methods:
        rows = []
        for metric in ("mean_drop", "insertion_auc"):
            iv = faith.compare("class evidence+", "integrated_gradients+", metric)
            rows.append([metric, iv.mean, iv.low, iv.high])
        sec.table(rows, ["measure", "class evidence+ / IntegratedGradients+", "95% low",
                         "95% high"], digits=3,
                  caption="The default map against IntegratedGradients (ratio of means)")
    return sec
