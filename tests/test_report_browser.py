"""The interactive report in a real browser: Debian's Chromium driven by Playwright.

Playwright's own browser download does not work offline, so the tests launch the system
Chromium (``/usr/bin/chromium``, or ``$IDMLP_CHROMIUM``); ``.ci/run`` installs it with
apt-get. Without Chromium or the ``playwright`` package the tests are skipped, saying
which is missing. Screenshots at 1280 and 390 px are saved under pytest's temporary
folder and their paths printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from idmlp.analysis.interpret import interpret_run
from idmlp.report import Section, run_report_data, write_interactive_report
from idmlp.train.runs import RunConfig, fit

CHROMIUM = Path(os.environ.get("IDMLP_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium tries to reach its services, and the
# closed network refuses the connections.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is missing: pip install playwright")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"no Chromium at {CHROMIUM}: apt-get install chromium "
                              "(or set IDMLP_CHROMIUM)"),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    """A small run (digits, depth 4, 2 epochs, about 2 s) and its interactive report, with
    maps for only some examples, a second kind of map and a static figure."""
    root = tmp_path_factory.mktemp("browser")
    run = fit(RunConfig().replace(dataset="digits", depth=4, epochs=2, lr=1e-3), root / "run",
              progress=False)
    fig = Figure(figsize=(3, 2))
    ax = fig.subplots()
    ax.plot([1, 2, 3], [0.2, 0.5, 0.9], label="rising")
    ax.set(title="a static figure", xlabel="step", ylabel="value")
    extra = Section("A static section").text("A figure that opens full size.").figure(
        fig, caption="A rising line.")
    data = run_report_data(run, interpret_run(run), command="idmlp reproduce --dataset digits",
                           timings={"interpret": 0.1}, sections=[extra], max_map_examples=40)
    path = write_interactive_report(root / "report.html", data)
    return path, data


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


class Page:
    """A page on the report, recording requests, console messages and page errors."""

    def __init__(self, browser, path: Path, width: int = 1280, height: int = 900) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.requests: list[str] = []
        self.console: list[tuple[str, str]] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.console.append(("pageerror", str(e))))
        self.url = path.resolve().as_uri()
        self.page.goto(self.url)
        self.page.wait_for_selector("html[data-ready]", timeout=30_000)
        assert self.page.evaluate("document.documentElement.dataset.ready") == "1", self.console

    def __getattr__(self, name):
        return getattr(self.page, name)

    def errors(self) -> list[tuple[str, str]]:
        return [(t, m) for t, m in self.console if t in ("error", "pageerror")]

    def shown_ids(self) -> list[int]:
        """Example ids of the filtered list, every page of it."""
        more = self.page.locator("#sb-more")
        while more.is_visible():
            more.click()
        return [int(v) for v in self.page.eval_on_selector_all(
            "#sb-thumbs .thumb", "els => els.map(e => e.dataset.id)")]

    def count(self) -> int:
        return int(self.page.get_attribute("#sb-count", "data-count"))


def test_offline_no_console_error_and_screenshots(browser, report, tmp_path_factory):
    path, data = report
    shots = tmp_path_factory.mktemp("screenshots")
    for width, height in ((1280, 900), (390, 844)):
        page = Page(browser, path, width, height)
        assert page.requests == [page.url]  # the page itself and nothing else
        assert page.errors() == []
        out = shots / f"report_{width}px.png"
        page.screenshot(path=str(out), full_page=True)
        print(f"screenshot at {width} px: {out}")
        page.close()


def test_slider_moves_every_view(browser, report):
    path, data = report
    page = Page(browser, path)
    L = data.depth
    page.select_option("#sb-filter", "has-map")  # an example whose map is embedded
    page.locator("#sb-thumbs .thumb").first.click()
    canvas = "#sb-map-canvas"
    before = {
        "value": page.inner_text("#layer-value"),
        "map": page.eval_on_selector(canvas, "c => c.toDataURL()"),
        "mapLayer": page.get_attribute(canvas, "data-layer"),
        "hl": page.get_attribute("#acc-hl", "x1"),
        "heat": page.get_attribute("#heat-hl", "y"),
        "class": page.eval_on_selector("#class-maps-grid canvas", "c => c.toDataURL()"),
        "readout": page.inner_text("#layer-readout"),
    }
    assert before["value"] == str(L) and before["mapLayer"] == str(L)
    page.focus("#layer")
    page.keyboard.press("Home")  # the slider's first value, layer 1
    after = {
        "value": page.inner_text("#layer-value"),
        "map": page.eval_on_selector(canvas, "c => c.toDataURL()"),
        "mapLayer": page.get_attribute(canvas, "data-layer"),
        "hl": page.get_attribute("#acc-hl", "x1"),
        "heat": page.get_attribute("#heat-hl", "y"),
        "class": page.eval_on_selector("#class-maps-grid canvas", "c => c.toDataURL()"),
        "readout": page.inner_text("#layer-readout"),
    }
    assert after["value"] == "1" and after["mapLayer"] == "1"
    assert page.get_attribute("#acc-hl", "data-layer") == "1"
    assert after["readout"].startswith("Layer 1: accuracy")
    changed = {k for k in before if before[k] != after[k]}
    assert changed == set(before), f"did not move: {set(before) - changed}"
    assert "layer 1" in page.inner_text("#sb-map-cap")
    page.keyboard.press("ArrowRight")
    assert page.inner_text("#layer-value") == "2"
    # clicking the plot picks a layer too
    chart = page.locator("#acc-chart svg")
    box = chart.bounding_box()
    chart.click(position={"x": box["width"] - 14, "y": box["height"] / 2})
    assert page.inner_text("#layer-value") == str(L)
    # another kind of map: the detail view follows
    assert page.inner_text("#sb-cbar").startswith("0")  # class evidence: from zero up
    page.select_option("#map-select", "change")
    assert "change from input" in page.inner_text("#sb-map-cap")
    assert page.errors() == []
    page.close()


def test_confusion_cell_lists_exactly_its_examples(browser, report):
    path, data = report
    page = Page(browser, path)
    last = data.preds[:, -1]
    off = data.confusion - np.diag(np.diag(data.confusion))
    i, j = np.unravel_index(int(np.argmax(off)), off.shape)
    assert off[i, j] > 0, "the fixture's run should make at least one error"
    for t, p in ((i, j), (i, i)):  # an off-diagonal cell, then a diagonal one
        page.click(f'button.cm[data-true="{t}"][data-pred="{p}"]')
        expected = data.example_ids[(data.labels == t) & (last == p)]
        assert page.count() == data.confusion[t, p] == len(expected)
        assert sorted(page.shown_ids()) == sorted(expected.tolist())
        assert page.get_attribute(f'button.cm[data-true="{t}"][data-pred="{p}"]',
                                  "aria-pressed") == "true"
        assert page.input_value("#sb-filter") == "cell"
    page.close()


def test_errors_filter_shows_exactly_the_misclassified(browser, report):
    path, data = report
    page = Page(browser, path)
    page.select_option("#sb-filter", "err-last")
    expected = data.example_ids[data.errors]
    assert page.count() == len(expected) > 0
    assert sorted(page.shown_ids()) == sorted(expected.tolist())
    marks = page.eval_on_selector_all("#sb-thumbs .thumb .mark", "els => els.map(e => "
                                      "e.textContent)")
    assert set(marks) == {"✗"}  # the layer shown is the last: every mark says wrong
    page.select_option("#sb-filter", "class:0")
    assert sorted(page.shown_ids()) == sorted(data.example_ids[data.labels == 0].tolist())
    page.select_option("#sb-filter", "all")
    assert page.count() == len(data.example_ids)
    page.close()


def test_example_without_a_map_says_so(browser, report):
    path, data = report
    page = Page(browser, path)
    with_map = set(data.maps["change"].indices.tolist())
    pos = next(k for k in range(len(data.example_ids)) if k not in with_map)
    page.select_option("#sb-filter", f"class:{int(data.labels[pos])}")
    thumb = page.locator(f'#sb-thumbs .thumb[data-pos="{pos}"]')
    while not thumb.count():
        page.click("#sb-more")
    thumb.click()
    text = page.inner_text("#sb-map")
    assert "No class evidence" in text and "embedded for 40 of the" in text
    page.close()


def test_phone_width_has_no_horizontal_scroll(browser, report):
    path, data = report
    page = Page(browser, path, 390, 844)
    for summary in page.locator("summary").all():  # open every table too
        summary.click()
    page.select_option("#sb-filter", "all")
    widths = page.evaluate("[document.scrollingElement.scrollWidth, "
                           "document.scrollingElement.clientWidth]")
    assert widths[0] <= widths[1], widths
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
                && !e.closest('.table-scroll') && !e.closest('.fig-scroll'))
        .map(e => e.tagName + '#' + e.id + '.' + e.className)""")
    assert wide == []
    # the confusion matrix (ten classes) is whole, not cut off by its scroll box
    table, box = page.evaluate("""() => { const t = document.querySelector('table.confusion');
        return [t.getBoundingClientRect().width, t.closest('.table-scroll').clientWidth]; }""")
    assert table <= box, (table, box)
    # a static figure keeps its printed size (96 px per inch, its text readable) and
    # scrolls sideways in its own box
    shown, printed = page.eval_on_selector("figure.static img", "i => [i.getBoundingClientRect()"
                                           ".width, +i.getAttribute('width')]")
    assert shown == pytest.approx(printed, abs=1)
    assert page.eval_on_selector("figure.static .fig-scroll",
                                 "b => getComputedStyle(b).overflowX") == "auto"
    assert page.errors() == []
    page.close()


def test_images_describe_themselves_and_tables_have_captions(browser, report):
    path, data = report
    page = Page(browser, path)
    imgs = page.eval_on_selector_all("img", """els => els.map(e => {
        const fig = e.closest('figure'), cap = fig && fig.querySelector('figcaption');
        return [e.alt, cap ? cap.textContent : null]; })""")
    assert imgs, "the fixture has a static figure"
    for alt, caption in imgs:
        assert alt.strip() and alt.strip() != (caption or "").strip()
    labels = page.eval_on_selector_all("[role=img]", "els => els.map(e => "
                                       "e.getAttribute('aria-label') || "
                                       "e.getAttribute('aria-labelledby'))")
    assert labels and all(v and v.strip() for v in labels)
    assert page.evaluate("[...document.querySelectorAll('table')].every(t => t.caption && "
                         "t.caption.textContent.trim())")
    # right and wrong carry a symbol, not only a colour
    page.select_option("#sb-filter", "err-last")
    assert page.locator("#sb-thumbs .mark.bad").first.inner_text() == "✗"
    # a static figure opens full size and closes again
    page.click("button.zoom")
    assert page.locator("dialog#lightbox img").get_attribute("alt") == imgs[0][0]
    assert page.evaluate("document.getElementById('lightbox').open")
    page.keyboard.press("Escape")
    assert not page.evaluate("document.getElementById('lightbox').open")
    assert page.errors() == []
    page.close()


def test_hostile_class_names_keep_the_page_working(browser, tmp_path):
    """Class names that end or comment out a script block written raw (issue 22): the
    page's own script still runs, shows the names as text, and the slider works."""
    import torch

    from idmlp.nets.mlp import InterpretableMLP
    from idmlp.report import build_report_data

    names = ["</script>", "<!--<script>", "]]>\"'\u2028&amp;"]
    torch.manual_seed(0)
    net = InterpretableMLP(16, 3, depth=3, image_shape=(4, 4))
    X, y = 0.5 * torch.randn(30, 16), torch.arange(30) % 3
    data = build_report_data(net, X, y, class_names=names, title="<!--<script>",
                             max_map_examples=6)
    path = write_interactive_report(tmp_path / "hostile.html", data)
    page = Page(browser, path)  # asserts data-ready == "1": the page's script ran to the end
    options = page.eval_on_selector_all("#sb-filter option", "els => els.map(e => e.text)")
    for name in names:
        assert f"true class {name}" in options
    headers = page.eval_on_selector_all("table.confusion tbody th",
                                        "els => els.map(e => e.textContent)")
    assert headers == names
    page.focus("#layer")
    page.keyboard.press("Home")
    assert page.inner_text("#layer-value") == "1"
    assert page.get_attribute("#acc-hl", "data-layer") == "1"
    assert page.evaluate("document.title") == "<!--<script>"
    assert page.errors() == []
    page.close()
