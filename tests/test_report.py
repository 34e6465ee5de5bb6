"""The self-contained HTML report (idmlp.report): sections, numbers, data, builder, page.

The page's behaviour in a real browser is tested in tests/test_report_browser.py.
"""

from __future__ import annotations

import base64
import json
import math
import re
import zlib
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from idmlp.analysis.interpret import interpret
from idmlp.analysis.probes import ProbeComparison, ProbeResult
from idmlp.nets.mlp import InterpretableMLP
from idmlp.plots import figure_png
from idmlp.report import (
    DEFAULT_MAPS,
    LayerCurve,
    MapSet,
    MapSpec,
    ModelInfo,
    Num,
    ReportData,
    Section,
    TrainingCurves,
    baseline_section,
    build_report_data,
    choose_examples,
    config_section,
    describe_figure,
    encode_array,
    format_percent_interval,
    interpretation_sections,
    percent_decimals,
    probe_section,
    render_interactive,
    render_report,
    training_section,
    used_settings,
    write_interactive_report,
    write_report,
)
from idmlp.report.data import MAP_LEVELS
from idmlp.train.evaluate import wilson_interval


def small_figure() -> Figure:
    fig = Figure(figsize=(2, 1.5))
    ax = fig.subplots()
    ax.plot([0, 1], [1, 0], label="falling")
    ax.set(title="a line", xlabel="x", ylabel="y")
    return fig


class _Collector(HTMLParser):
    """Tags, URLs, image alts and captions, to check what the page references."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.alts: list[str] = []
        self.ids: list[str] = []
        self.tables = self.captions = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]
        if tag == "img":
            self.alts.append(a.get("alt") or "")
        if "id" in a:
            self.ids.append(a["id"])
        self.tables += tag == "table"
        self.captions += tag == "caption"


def parse(html: str) -> _Collector:
    c = _Collector()
    c.feed(html)
    return c


def decode_blob(blob: dict) -> np.ndarray:
    """The page's decoding (report.js ``decode``), in numpy: the values, not the codes."""
    raw = zlib.decompress(base64.b64decode(blob["b64"]))
    q = np.frombuffer(raw, dtype="<" + blob["dtype"]).reshape(blob["shape"])
    if blob["delta"] is not None:
        q = np.cumsum(q.astype(np.int64), axis=blob["delta"]) % 256
    return blob["offset"] + blob["scale"] * q.astype(np.float64)


def payload_of(html: str) -> dict:
    text = re.search(r'<script type="application/json" id="idmlp-data">(.*?)</script>', html,
                     re.S).group(1)
    return json.loads(text)


# -- sections ---------------------------------------------------------------------------


def test_static_report_is_one_self_contained_file(tmp_path):
    png = figure_png(small_figure())
    (tmp_path / "f.png").write_bytes(png)
    sec = (Section("Figures").text("first paragraph\n\nsecond")
           .figure(small_figure(), caption="from a Figure")
           .figure(png, caption="from bytes", alt="a falling line")
           .figure(tmp_path / "f.png", alt="the same falling line"))
    path = write_report(tmp_path / "report.html", title="My report", subtitle="sub",
                        sections=[sec, Section("Empty")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "report.html"]
    html = path.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 3
    assert "http" not in html and "<link" in html  # only the empty data: favicon
    doc = parse(html)
    assert all(u.startswith(("data:image/png;base64,", "#", "data:,")) for u in doc.urls)
    assert doc.tags.count("p") >= 3 and "nav" in doc.tags and "style" in doc.tags
    assert "script" in doc.tags  # the lightbox; no data, no request
    assert '<a href="#figures">' in html and 'id="figures"' in html
    embedded = re.findall(r"base64,([A-Za-z0-9+/=]+)", html)
    assert base64.b64decode(embedded[1]) == png
    assert doc.alts[0].startswith('Line chart "a line": x axis x') and "falling" in doc.alts[0]


def test_text_is_escaped():
    evil = "<script>alert('x')</script> & co"
    sec = Section(evil).text(evil).table([[evil, 1]], header=[evil, "n"], caption=evil)
    sec.mapping({evil: evil}, caption=evil)
    html = render_report(title=evil, sections=[sec])
    assert "<script>alert" not in html and "&lt;script&gt;" in html and "&amp; co" in html
    assert not hasattr(Section, "html")  # no raw markup: every block is data


def test_table_cells_captions_and_scroll_box():
    sec = Section("t").table(
        [[1, 0.123456, None, True, [1, 2], float("nan"), np.float32(2.5), 1e-5, Num("9.5%")]],
        header=["i", "f", "none", "flag", "list", "nan", "np", "small", "pre"], caption="c")
    html = sec.render()
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html)
    assert cells == ["1", "0.123", "&ndash;", "yes", "1, 2", "nan", "2.500", "1e-05", "9.5%"]
    assert html.count('class="num"') == 6
    assert '<div class="table-scroll" role="region"' in html and "<caption>c</caption>" in html
    assert "0.123456" in Section("t").table([[0.123456]], digits=None, caption="c").render()
    with pytest.raises(ValueError, match="caption"):
        Section("t").table([[1]], caption="  ")


def test_figure_alt_must_describe_not_repeat():
    png = figure_png(small_figure())
    with pytest.raises(ValueError, match="alt is required"):
        Section("x").figure(png, caption="c")
    with pytest.raises(ValueError, match="not repeat the caption"):
        Section("x").figure(png, caption="same words", alt="same words")
    html = Section("x").figure(small_figure(), caption="c").render()
    assert 'class="zoom"' in html and 'alt="Line chart' in html


def test_describe_figure_names_panels_axes_and_lines():
    fig = Figure()
    a, b = fig.subplots(1, 2)
    a.plot([1, 2], [3, 4], label="train")
    a.plot([1, 2], [4, 5], label="test")
    a.set(title="loss", xlabel="epoch", ylabel="$q_0$")
    b.imshow(np.zeros((3, 3)))
    fig.suptitle("two panels")
    text = describe_figure(fig)
    assert text.startswith('Figure "two panels" with 2 panels.')
    assert 'Line chart "loss": x axis epoch from' in text and "y axis q0" in text
    assert "lines: train, test" in text and "Heat map" in text
    assert describe_figure(Figure()) == "An empty figure."


def test_config_section_is_collapsed_with_command_and_versions():
    html = config_section({"train": {"lr": 3e-4, "depth": 20}, "dataset": "mnist5k",
                           "empty": {}}, command="idmlp reproduce --depth 20",
                          versions={"Python": "3.11.2", "torch": "2.13.0"}).render()
    assert "<details><summary>" in html and "idmlp reproduce --depth 20" in html
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html)
    assert cells[:4] == ["Python", "3.11.2", "torch", "2.13.0"]
    assert cells[4:10] == ["train.lr", "0.0003", "train.depth", "20", "dataset", "mnist5k"]


def test_used_settings_drops_what_the_run_does_not_use():
    cfg = {"optimizer": "adam", "momentum": 0.9, "schedule": "cosine", "step_epochs": 10,
           "gamma": 0.1, "lr": 3e-4, "data_dir": None, "download": False}
    assert used_settings(cfg) == {"optimizer": "adam", "schedule": "cosine", "lr": 3e-4}
    sgd = {**cfg, "optimizer": "sgd", "schedule": "step"}
    assert {"momentum", "step_epochs", "gamma"} <= set(used_settings(sgd))


def test_unique_anchors_and_bad_input(tmp_path):
    a, b = Section("Same"), Section("Same")
    html = render_report(title="t", sections=[a, b])
    assert 'id="same"' in html and 'id="same-2"' in html
    with pytest.raises(ValueError, match="must end in .html"):
        write_report(tmp_path / "r.txt", title="t", sections=[a])
    with pytest.raises(ValueError, match="list of idmlp.report.Section"):
        render_report(title="t", sections=["nope"])
    with pytest.raises(ValueError, match="not a PNG"):
        Section("x").figure(b"GIF89a...", alt="a gif")
    with pytest.raises(ValueError, match="does not exist"):
        Section("x").figure(tmp_path / "missing.png", alt="nothing")
    with pytest.raises(ValueError, match="matplotlib Figure"):
        Section("x").figure(42, alt="a number")
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_baseline_section_columns_and_intervals():
    sec = baseline_section({"LogisticRegression": 0.91,
                            "MLPClassifier": {"test accuracy": 0.95, "fit (s)": 4.2}},
                           note="sklearn defaults", n_test=1000)
    html = sec.render()
    assert re.findall(r"<th(?: [^>]*)?>(.*?)</th>", html) == [
        "model", "test accuracy (95% interval)", "fit (s)"]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html)
    lo, hi = wilson_interval(0.91, 1000)
    assert cells[:3] == ["LogisticRegression", format_percent_interval(0.91, lo, hi), "&ndash;"]
    assert cells[3:] == ["MLPClassifier", "95.0% (93.5–96.2)", "4.2"]
    assert "sklearn defaults" in html and "<caption>" in html


def test_training_section_one_clock():
    html = training_section([{"epoch": 1, "train_loss": 0.5, "train_acc": 0.8,
                              "test_loss": 0.4, "test_acc": 0.85, "lr": 1e-3,
                              "elapsed": 2.25}]).render()
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html)
    assert cells == ["1", "0.500", "80.0%", "0.400", "85.0%", "0.001", "2.2"]
    assert "No completed epoch" in training_section([]).render()


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
    assert html.count(base64.b64encode(png).decode()) == 5  # none redrawn
    assert html.count("<tr>") == 1 + it.depth  # header + one row per layer
    doc = parse(html)
    assert doc.tables == doc.captions and len(set(doc.alts)) == 5

    res = ProbeResult(
        layers=np.array([1, 2, 3]), train_accuracy=np.ones(3), test_accuracy=np.full(3, 0.9),
        fit_seconds=np.full(3, 0.2), n_iter=np.array([10, 12, 9]), converged=np.ones(3, bool),
        total_seconds=0.6, feature_seconds=0.01, n_train=20, n_test=10, n_features=19, C=1.0,
        max_iter=100, probes=())
    cmp = ProbeComparison(it.accuracy, 0.002, res, None, 0.88, 3)
    html = probe_section(cmp).render()
    assert html.count("data:image/png;base64,") == 1 and html.count("<table>") == 2
    assert "probes, standard MLP" in html and "built-in readout" in html and "90.0%" in html
    out = write_report(tmp_path / "report.html", title="t", sections=sections)
    assert out.stat().st_size > 1000


# -- numbers ----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 5000), frac=st.floats(0, 1))
def test_wilson_interval_matches_its_formula(n, frac):
    k = round(frac * n)
    lo, hi = wilson_interval(k / n, n)
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert lo == pytest.approx(centre - half, abs=1e-9) and hi == pytest.approx(centre + half,
                                                                                  abs=1e-9)
    assert 0.0 <= lo <= p <= hi <= 1.0


def test_intervals_and_digits():
    lo, hi = wilson_interval(np.array([[0.0, 0.5], [1.0, 1.0]]), 10)
    assert lo.shape == (2, 2) and lo[0, 0] == 0.0 and hi[1, 1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="proportions"):
        wilson_interval([1.1], 10)
    with pytest.raises(ValueError, match="n must"):
        wilson_interval([0.5], 0)
    # 1,000 examples: half-width about 1.5 points -> one decimal, never four
    assert format_percent_interval(0.939, *wilson_interval(0.939, 1000)) == "93.9% (92.2–95.2)"
    assert percent_decimals(0.15) == 0 and percent_decimals(0.0015) == 2


# -- the data and its encoding ----------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 255), min_size=1, max_size=60), st.integers(1, 4))
def test_encode_array_round_trips_with_delta(values, rows):
    q = np.resize(np.array(values, dtype=np.uint8), (rows, len(values)))
    for axis in (None, 0, 1):
        blob = encode_array(q, delta_axis=axis)
        np.testing.assert_array_equal(decode_blob(blob), q)
    big = np.array([0, 70000])
    blob = encode_array(big, scale=2.0, offset=1.0)
    assert blob["dtype"] == "u4" and decode_blob(blob).tolist() == [1.0, 140001.0]
    with pytest.raises(ValueError, match="delta_axis needs uint8"):
        encode_array(big, delta_axis=0)


def fake_data(m=12, L=3, C=3, shape=(2, 2), **changes) -> ReportData:
    rng = np.random.default_rng(0)
    labels = np.arange(m) % C
    preds = np.repeat(labels[:, None], L, axis=1)
    preds[0, -1] = (labels[0] + 1) % C
    probs = rng.dirichlet(np.ones(C), size=(m, L))
    confusion = np.zeros((C, C), dtype=int)
    np.add.at(confusion, (labels, preds[:, -1]), 1)
    acc = (preds == labels[:, None]).mean(0)
    kw = dict(title="t", model=ModelInfo(int(np.prod(shape)), C, L, shape),
              class_names=[f"c{i}" for i in range(C)], split="test", n=m, accuracy=acc,
              accuracy_ci=np.stack(wilson_interval(acc, m), -1), true_class_prob=acc,
              confusion=confusion, example_ids=np.arange(m), inputs=rng.random((m, *shape)),
              labels=labels, probs=probs, preds=preds,
              maps={"a": MapSet("map a", "what a shows", rng.normal(size=(4, L, *shape)),
                                np.array([0, 3, 5, 7]),
                                class_means=rng.normal(size=(C, L, *shape))),
                    "b": MapSet("map b", "what b shows", rng.normal(size=(2, 1, *shape)),
                                np.array([1, 2]), kind="sequential")})
    kw.update(changes)
    return ReportData(**kw)


def test_report_data_validates_shapes_once():
    d = fake_data()
    assert d.default_map == "a" and d.errors.tolist() == [0]
    bad = {
        "accuracy": (np.zeros(2), "accuracy must have shape"),
        "confusion": (np.eye(3, dtype=int), "confusion must sum to n"),
        "example_ids": (np.zeros(12, dtype=int), "distinct positions"),
        "preds": (np.full((12, 3), 5), "preds must hold classes"),
        "default_map": ("c", "default_map must be one of a, b"),
        "class_names": (["x"], "class_names must have 3"),
        "timings": ({"x": -1.0}, "timings"),
        "maps": ({"a": MapSet("t", "d", np.zeros((2, 2, 2, 2)), np.array([0, 0]))},
                 "indices must be distinct"),
        "curves": ([np.ones(3)], "LayerCurve"),
    }
    for field, (value, match) in bad.items():
        with pytest.raises(ValueError, match=match):
            fake_data(**{field: value})
    with pytest.raises(ValueError, match="kind must be one of diverging, sequential"):
        fake_data(maps={"a": MapSet("t", "d", np.zeros((1, 3, 2, 2)), np.array([0]),
                                    kind="log")})
    with pytest.raises(ValueError, match="must multiply to"):
        ModelInfo(5, 2, 1, (2, 2))
    with pytest.raises(ValueError, match="give both lower and upper"):
        fake_data(curves=[LayerCurve("v", np.ones(3), np.ones(3))])


def test_payload_quantization_is_within_one_step():
    d = fake_data()
    p = payload_of(render_interactive(d))
    probs = decode_blob(p["examples"]["probs"])
    np.testing.assert_allclose(probs, d.probs, atol=0.5 / 255 + 1e-12)
    for key, entry in zip(d.maps, p["maps"], strict=True):
        ms = d.maps[key]
        a = np.asarray(ms.maps, dtype=np.float64).reshape(len(ms.indices), -1, 4)
        vmax = entry["vmax"]
        got = decode_blob(entry["maps"])
        if ms.kind == "sequential":  # from zero up: negative values are drawn as zero
            assert entry["kind"] == "sequential" and got.min() >= 0
            a, steps = np.clip(a, 0, None), 2 * MAP_LEVELS + 1
            assert vmax == pytest.approx(np.quantile(a[a >= 0], ms.quantile))
        else:
            steps = MAP_LEVELS
        inside = np.abs(a) <= vmax
        np.testing.assert_allclose(got[inside], a[inside], atol=vmax / (2 * steps) + 1e-12)
        assert np.all(np.abs(got[~inside]) == pytest.approx(vmax))  # clipped to the range
    assert decode_blob(p["examples"]["labels"]).tolist() == d.labels.tolist()
    assert decode_blob(p["examples"]["preds"]).tolist() == d.preds.tolist()


def test_interactive_page_is_self_contained(tmp_path):
    d = fake_data(sections=[Section("Extra").text("more").figure(small_figure(), caption="c")],
                  curves=[LayerCurve("validation", np.full(3, 0.5), np.full(3, 0.4),
                                     np.full(3, 0.6))],
                  timings={"a": 1.0, "b": 2.5}, command="idmlp reproduce",
                  versions={"Python": "3.11", "torch": "2.13.0", "idmlp": "0.1.0"})
    path = write_interactive_report(tmp_path / "r.html", d)
    html = path.read_text(encoding="utf-8")
    doc = parse(html)
    assert "http" not in html and "@import" not in html and "url(" not in html.replace(
        "url(#dg-arrow)", "")
    assert all(u.startswith(("data:image/png;base64,", "#", "data:,")) for u in doc.urls)
    assert doc.tables == doc.captions and doc.tables >= 5  # layers, confusion, times, config
    assert len(doc.ids) == len(set(doc.ids))  # every id once
    for needed in ("layer", "layer-value", "acc-chart", "sb-filter", "sb-thumbs", "sb-detail",
                   "class-maps-grid", "how-to-read", "idmlp-data", "map-select"):
        assert needed in doc.ids
    assert "<details><summary>Command line, versions and settings" in html
    assert "total" in html and "3.5" in html  # the timings table and its sum
    assert html.count('class="cm"') == np.count_nonzero(d.confusion)
    assert "validation" in html and "50.0% (40.0–60.0)" in html  # extra curve in the table
    p = payload_of(html)
    assert p["model"]["L"] == 3 and p["defaultMap"] == "a" and len(p["maps"]) == 2
    assert p["curves"][0]["lower"] == [0.4] * 3


# -- the builder ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy():
    torch.manual_seed(0)
    net = InterpretableMLP(16, 3, depth=4, image_shape=(4, 4), dtype=torch.float64)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.add_(0.3 * torch.randn_like(layer.weight))
    X = torch.randn(40, 16, dtype=torch.float64)
    y = torch.arange(40) % 3
    return net, X, y


def test_builder_takes_every_view_from_one_readout(toy):
    net, X, y = toy
    images = np.arange(40 * 16, dtype=np.float64).reshape(40, 4, 4)
    metrics = [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "test_loss": 1.1,
                "test_acc": 0.4, "elapsed": 3.0}]
    d = build_report_data(net, X, y, max_map_examples=10, metrics=metrics, images=images,
                          timings={"interpret": 0.5}, config={"train": {"optimizer": "adam",
                                                                        "momentum": 0.9}})
    r = net.readout(X)
    f32 = float(np.finfo(np.float32).eps)  # probabilities and maps travel as float32
    np.testing.assert_allclose(d.probs, r.probs.detach().numpy(), atol=4 * f32)
    np.testing.assert_array_equal(d.preds, r.preds.numpy())
    np.testing.assert_array_equal(d.inputs, images)
    assert d.input_title == "input (raw)"
    it = interpret(net, X, y)
    np.testing.assert_array_equal(d.confusion, it.confusion)
    np.testing.assert_allclose(d.accuracy, (d.preds == y.numpy()[:, None]).mean(0))
    assert np.all((d.accuracy_ci[:, 0] <= d.accuracy) & (d.accuracy <= d.accuracy_ci[:, 1]))
    ms = d.maps["change"]
    errors = np.flatnonzero(d.preds[:, -1] != y.numpy())
    assert len(ms.indices) == 10 and set(errors[:5]) <= set(ms.indices.tolist())
    contrib = r.contribution_images().detach().numpy()
    np.testing.assert_allclose(ms.maps, contrib[ms.indices], rtol=4 * f32, atol=4 * f32)
    for c in range(3):  # class means over all examples, not only the embedded maps
        np.testing.assert_allclose(ms.class_means[c], contrib[y.numpy() == c].mean(0),
                                   rtol=4 * f32, atol=4 * f32)
    assert d.training.seconds.tolist() == [3.0]
    assert list(d.timings) == ["training epochs (from the per-epoch records)", "interpret"]
    assert d.config == {"train": {"optimizer": "adam"}}
    assert {"Python", "torch", "idmlp"} <= set(d.versions)


def test_builder_subsets_large_splits_and_takes_new_maps(toy):
    net, X, y = toy
    spec = MapSpec("signed evidence", "for minus against", "evidence_signed",
                   signs=("against", "for"))
    d = build_report_data(net, X, y, max_examples=12, max_map_examples=4,
                          maps={**DEFAULT_MAPS, "signed": spec}, default_map="signed")
    assert len(d.example_ids) == 12 and d.n == 40 and d.confusion.sum() == 40
    assert np.all(np.diff(d.example_ids) > 0)
    assert d.default_map == "signed" and d.maps["signed"].maps.shape == (4, net.depth, 4, 4)
    assert d.maps["signed"].signs == ("against", "for")
    r = net.readout(X[d.example_ids])
    f32 = float(np.finfo(np.float32).eps)
    np.testing.assert_allclose(d.probs, r.probs.detach().numpy(), atol=4 * f32)
    with pytest.raises(ValueError, match="holds no 'evidence' maps"):
        build_report_data(net, X, y, interpretation=interpret(net, X, y, maps=["change"]))
    with pytest.raises(ValueError, match="MapSpec"):
        build_report_data(net, X, y, maps={"x": "not a spec"})
    with pytest.raises(ValueError, match="images must have shape"):
        build_report_data(net, X, y, images=np.zeros((3, 16)))
    with pytest.raises(ValueError, match="interpret the same data"):
        build_report_data(net, X, y, interpretation=interpret(net, X[:10], y[:10]))
    with pytest.raises(ValueError, match="InterpretableMLP"):
        build_report_data(torch.nn.Linear(2, 2), X, y)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=40),
       st.integers(0, 50))
def test_choose_examples_errors_first_then_classes(pairs, k):
    labels, preds = (np.array(v) for v in zip(*pairs, strict=True))
    out = choose_examples(preds, labels, k, 4)
    assert len(out) == min(k, len(labels)) and np.all(np.diff(out) > 0)
    errors = np.flatnonzero(preds != labels)
    if k < len(labels):
        assert set(errors[: k // 2]) <= set(out.tolist())


def test_training_curves_from_metrics():
    t = TrainingCurves.from_metrics([{"epoch": 1, "train_loss": 1.0, "elapsed": 1.5},
                                     {"epoch": 2, "train_loss": 0.5, "elapsed": 3.0}])
    assert t.epoch.tolist() == [1, 2] and np.isnan(t.test_acc).all()
    assert t.payload()["test_acc"] == [None, None] and TrainingCurves.from_metrics([]) is None


def test_builder_passes_the_new_numbers_through(toy):
    net, X, y = toy
    ci = np.tile([0.1, 0.9], (4, 1))
    val = LayerCurve("validation accuracy", np.linspace(0.3, 0.6, 4))
    d = build_report_data(net, X, y, max_map_examples=2, curves=[val], accuracy_ci=ci,
                          layer_columns={"clipping share": np.full(4, 0.25)},
                          glossary=[("class evidence", "one sentence")])
    np.testing.assert_array_equal(d.accuracy_ci, ci)
    assert d.curves == (val,) and "clipping share" in d.layer_columns
    html = render_interactive(d)
    assert "validation accuracy" in html and "clipping share" in html
    assert "<dt>class evidence</dt><dd>one sentence</dd>" in html


# -- hostile text: nothing a user writes ends or comments out a script block ------------

#: Class names that would break a page that writes them raw: the end of a script element,
#: the comment opening that makes the parser swallow the next "</script>", CDATA's end,
#: quotes, an ampersand entity, and JavaScript's old line ends.
HOSTILE = ("</script>", "<!--<script>", "]]>", "\"'`", "&amp;<b>", "a\u2028b\u2029c",
           "</SCRIPT ", "<!-- -->")


def _scripts(html: str) -> list[tuple[dict, str]]:
    """Every ``<script>`` element as an HTML5 parser reads it: (attributes, text)."""
    html5lib = pytest.importorskip("html5lib", reason="html5lib is missing: pip install "
                                                      "html5lib")
    doc = html5lib.parse(html, namespaceHTMLElements=False)
    return [(dict(el.attrib), el.text or "") for el in doc.iter("script")]


def test_script_json_escapes_every_character_that_can_end_a_script():
    from idmlp.report._html import script_json

    for s in HOSTILE:
        text = str(script_json({"name": s}))
        assert not set(text) & set("<>&\u2028\u2029"), text
        assert json.loads(text) == {"name": s}
    with pytest.raises(ValueError):
        script_json(float("nan"))  # strict JSON, as JSON.parse reads it


def test_hostile_class_names_leave_the_script_blocks_whole():
    names = list(HOSTILE[:3])
    d = fake_data(class_names=names, title="</script><script>", subtitle="<!--",
                  command="idmlp train --out '</script>'", summary="]]> & <!--",
                  sections=[Section("<!--<script>").text("</script>").table(
                      [["<!--", "</script>"]], ["<!--<script>", "x"], caption="</script>")])
    html = render_interactive(d)
    scripts = _scripts(html)
    assert [a.get("id") for a, _ in scripts] == ["idmlp-data", None]  # the data, the page's
    payload = json.loads(scripts[0][1])
    assert payload["classNames"] == names  # decodes back to the same strings
    from idmlp.report._html import asset

    assert scripts[1][1] == str(asset("report.js"))  # the page's own script, whole
    before = html.split('<script type="application/json"')[0]
    for s in ("</script>", "<!--<script>", "<!--", "]]>"):
        assert s not in before  # escaped everywhere outside the scripts
    # and in a static page: only the page's script
    static = render_report(title="</script>", sections=[Section("<!--<script>").text("]]>")])
    assert [t for _, t in _scripts(static)] == [str(asset("report.js"))]


def test_every_hostile_string_round_trips_through_the_page():
    d = fake_data(class_names=list(HOSTILE[3:6]), C=3)
    payload = json.loads(_scripts(render_interactive(d))[0][1])
    assert payload["classNames"] == list(HOSTILE[3:6])
