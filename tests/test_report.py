"""The self-contained HTML report (idmlp.report)."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from idmlp.interpret import interpret
from idmlp.models import InterpretableMLP
from idmlp.plots import figure_png
from idmlp.probes import ProbeComparison, ProbeResult
from idmlp.report import (
    Section,
    baseline_section,
    config_section,
    interpretation_sections,
    probe_section,
    render_report,
    write_report,
)


def small_figure() -> Figure:
    fig = Figure(figsize=(2, 1.5))
    fig.subplots().plot([0, 1], [1, 0])
    return fig


class _Collector(HTMLParser):
    """Every tag and attribute, to check that nothing external is referenced."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]


def parse(html: str) -> _Collector:
    c = _Collector()
    c.feed(html)
    return c


def test_report_is_one_self_contained_file(tmp_path):
    png = figure_png(small_figure())
    (tmp_path / "f.png").write_bytes(png)
    sec = (Section("Figures").text("first paragraph\n\nsecond")
           .figure(small_figure(), caption="from a Figure")
           .figure(png, caption="from bytes").figure(tmp_path / "f.png"))
    path = write_report(tmp_path / "report.html", title="My report", subtitle="sub",
                        sections=[sec, Section("Empty")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "report.html"]
    html = path.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 3
    assert "http" not in html and "<link" not in html and "<script" not in html
    doc = parse(html)
    assert all(u.startswith(("data:image/png;base64,", "#")) for u in doc.urls)
    assert doc.tags.count("p") >= 3 and "nav" in doc.tags and "style" in doc.tags
    assert '<a href="#figures">' in html and 'id="figures"' in html
    # the embedded image decodes back to the PNG given
    embedded = re.findall(r"base64,([A-Za-z0-9+/=]+)", html)
    assert base64.b64decode(embedded[1]) == png


def test_text_is_escaped(tmp_path):
    evil = "<script>alert('x')</script> & co"
    sec = Section(evil).text(evil).table([[evil, 1]], header=[evil, "n"], caption=evil)
    sec.mapping({evil: evil})
    html = render_report(title=evil, sections=[sec])
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp; co" in html
    assert Section("a").html("<b>raw</b>").render().count("<b>raw</b>") == 1


def test_table_cells():
    sec = Section("t").table(
        [[1, 0.123456, None, True, [1, 2], float("nan"), np.float32(2.5), 1e-5]],
        header=["i", "f", "none", "flag", "list", "nan", "np", "small"])
    html = sec.render()
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html)
    assert cells == ["1", "0.1235", "&ndash;", "yes", "1, 2", "nan", "2.5000", "1e-05"]
    assert html.count('class="num"') == 5
    assert "0.123456" in Section("t").table([[0.123456]], digits=None).render()


def test_config_section_flattens_nested_keys():
    html = config_section({"train": {"lr": 3e-4, "depth": 20}, "dataset": "mnist5k",
                           "empty": {}}).render()
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html)
    assert cells[:6] == ["train.lr", "0.0003", "train.depth", "20", "dataset", "mnist5k"]


def test_unique_anchors_and_bad_input(tmp_path):
    a, b = Section("Same"), Section("Same")
    html = render_report(title="t", sections=[a, b])
    assert 'id="same"' in html and 'id="same-2"' in html
    with pytest.raises(ValueError, match="must end in .html"):
        write_report(tmp_path / "r.txt", title="t", sections=[a])
    with pytest.raises(ValueError, match="list of idmlp.report.Section"):
        render_report(title="t", sections=["nope"])
    with pytest.raises(ValueError, match="not a PNG"):
        Section("x").figure(b"GIF89a...")
    with pytest.raises(ValueError, match="does not exist"):
        Section("x").figure(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="matplotlib Figure"):
        Section("x").figure(42)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_baseline_section_columns():
    sec = baseline_section({"LogisticRegression": 0.91,
                            "MLPClassifier": {"test accuracy": 0.95, "fit (s)": 4.2}},
                           note="sklearn defaults")
    html = sec.render()
    assert re.findall(r"<th>(.*?)</th>", html) == ["model", "test accuracy", "fit (s)"]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html)
    assert cells == ["LogisticRegression", "0.9100", "&ndash;", "MLPClassifier", "0.9500",
                     "4.2000"]
    assert "sklearn defaults" in html


def test_interpretation_and_probe_sections(tmp_path):
    torch.manual_seed(0)
    net = InterpretableMLP(16, 3, 3, image_shape=(4, 4))
    X, y = 0.3 * torch.randn(30, 16), torch.arange(30) % 3
    it = interpret(net, X, y, sample_indices=[0, 1])
    png = figure_png(small_figure())
    given = {name: png for name in ("layer_accuracy", "contribution_maps",
                                    "class_contributions", "identity_distance",
                                    "confusion_matrix")}
    sections = interpretation_sections(it, figures=given)
    assert [s.title for s in sections] == ["Per-layer accuracy", "Contribution maps",
                                           "Distance from the identity", "Last layer"]
    html = render_report(title="t", sections=sections)
    # every figure was taken from `figures`, none redrawn
    assert html.count(base64.b64encode(png).decode()) == 5
    assert html.count("<tr>") == 1 + it.depth  # header + one row per layer

    res = ProbeResult(
        layers=np.array([1, 2, 3]), train_accuracy=np.ones(3), test_accuracy=np.full(3, 0.9),
        fit_seconds=np.full(3, 0.2), n_iter=np.array([10, 12, 9]), converged=np.ones(3, bool),
        total_seconds=0.6, feature_seconds=0.01, n_train=20, n_test=10, n_features=19, C=1.0,
        max_iter=100, probes=())
    cmp = ProbeComparison(it.accuracy, 0.002, res, None, 0.88, 3)
    sec = probe_section(cmp)
    html = sec.render()
    assert html.count("data:image/png;base64,") == 1 and html.count("<table>") == 2
    assert "probes, standard MLP" in html and "built-in readout" in html
    out = write_report(tmp_path / "report.html", title="t", sections=[*sections, sec])
    assert out.stat().st_size > 1000
