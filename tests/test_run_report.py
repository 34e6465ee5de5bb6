"""The run's report (idmlp.report.run_report): sections computed by one command on a run
appear in the report of another, whatever the order of the commands (issue 20, item 4)."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from _helpers import assert_one_line
from idmlp.cli import main
from idmlp.report import Section, load_run_sections, save_run_section


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny trained run: 4x4 images of 3 classes (class means + noise), depth 3."""
    from idmlp.train.runs import RunConfig, fit

    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    X = rng.normal(size=(3, 4, 4))[y] + 0.3 * rng.normal(size=(90, 4, 4))
    np.savez(root / "toy.npz", X=X, y=y, class_names=np.array(["<!--<script>", "b", "c"]))
    config = RunConfig().replace(dataset=f"npz:{root / 'toy.npz'}", depth=3, epochs=2,
                                 lr=1e-2, batch_size=16)
    fit(config, root / "run", progress=False)
    return root / "run"


def titles(html: str) -> list[str]:
    return re.findall(r'<section id="[^"]*"><h2>(.*?)</h2>', html)


FAITH = ["faithfulness", "--methods", "none", "--samples", "12", "--bootstrap", "50",
         "--schedule", "4", "--quiet"]


def test_faithfulness_then_interpret_and_interpret_then_faithfulness_agree(
        trained, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(trained, a)
    shutil.copytree(trained, b)
    # a: faithfulness first; it says how to get the report
    assert main([*FAITH, str(a)]) == 0
    out = capsys.readouterr().out
    assert f"run 'idmlp interpret {a}'" in out
    assert main(["interpret", str(a), "--quiet"]) == 0
    # b: interpret first; faithfulness rebuilds its report
    assert main(["interpret", str(b), "--quiet"]) == 0
    before = (b / "interpret" / "report.html").read_text()
    assert "Faithfulness of the maps" not in titles(before)
    assert main([*FAITH, str(b)]) == 0
    assert f"updated {b / 'interpret' / 'report.html'}" in capsys.readouterr().out
    pages = [(r / "interpret" / "report.html").read_text() for r in (a, b)]
    assert titles(pages[0]) == titles(pages[1])
    assert "Faithfulness of the maps" in titles(pages[0])
    assert "&lt;!--&lt;script&gt;" in pages[0]  # the class name, escaped
    meta = json.loads((b / "interpret" / "report.json").read_text())
    assert meta["split"] == "test" and meta["epochs"] == 2
    for r in (a, b):  # nothing half-written, no temporary file left
        assert [p.name for p in (r / "report_sections").iterdir()
                if not p.name.startswith(".")] == ["faithfulness.json"]
        assert not [p for p in r.rglob("*.tmp")]


def test_interpret_probes_saves_the_probe_section(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    assert main(["interpret", str(run), "--probes", "--quiet"]) == 0
    html = (run / "interpret" / "report.html").read_text()
    assert "Linear probes" in titles(html)
    assert (run / "report_sections" / "probes.json").is_file()
    # a later report of the run (here in another folder) shows it without --probes
    assert main(["interpret", str(run), "--quiet", "--out", str(tmp_path / "again")]) == 0
    assert "Linear probes" in titles((tmp_path / "again" / "report.html").read_text())


def test_a_damaged_saved_section_is_refused_in_one_line(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "report_sections").mkdir()
    (run / "report_sections" / "faithfulness.json").write_text('{"format": "x"}')
    assert main(["interpret", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert_one_line(err)
    assert "faithfulness.json is not a saved report section" in err
    assert not (run / "interpret").exists()


def test_sections_round_trip_and_damage_is_named(tmp_path):
    sec = (Section("</script>").text("a\u2028b").table([[1, None, "x"]], ["n", "-", "s"],
                                                        caption="<c>")
           .details("more", Section("i").code("idmlp x", label="Command line:")))
    save_run_section(tmp_path, "notes", sec)
    save_run_section(tmp_path, "probes", Section("Linear probes"))
    loaded = load_run_sections(tmp_path)
    assert [s.title for s in loaded] == ["Linear probes", "</script>"]  # known keys first
    assert loaded[1].render() == sec.render()
    bad = [({"format": "idmlp-section-v1", "title": "t", "anchor": "t",
             "blocks": [{"kind": "script", "text": "x"}]}, "unknown kind 'script'"),
           ({"format": "idmlp-section-v1", "title": "t", "anchor": "t",
             "blocks": [{"kind": "figure", "png": "aGVsbG8=", "alt": "a"}]}, "not a PNG"),
           ({"format": "idmlp-section-v1", "title": 3, "anchor": "t", "blocks": []},
            "title and an anchor")]
    for data, match in bad:
        with pytest.raises(ValueError, match=match):
            Section.from_dict(data)
    with pytest.raises(ValueError, match="section key"):
        save_run_section(tmp_path, "../x", sec)
    with pytest.raises(ValueError, match="template block"):
        Section("v").template("browser").to_dict()
