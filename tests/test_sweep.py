"""Sweeps: grid specs, the batched engine against a plain per-run loop, the results file
(atomic rows, resume), failure handling, and the ``idmlp sweep`` command line."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import assert_rows_close
from idmlp.cli import main
from idmlp.config import ModelConfig
from idmlp.data import load_dataset
from idmlp.nets.stacked import StackedMLP
from idmlp.sweep import (
    COLUMNS,
    RunSpec,
    SweepConfig,
    TrainData,
    TrainSettings,
    parse_choices,
    parse_floats,
    parse_ints,
    plan_batches,
    read_results,
    run,
    train_batch,
    train_one,
    write_results,
)

# Small, fast budgets: depth <= 4 on scikit-learn's 8x8 digits. Comparisons of two code
# paths (batched against one by one, different batch compositions) run in float64.
FAST = TrainSettings.make(steps=16, batch_size=16, eval_every=4, target_acc=0.3,
                          eval_size=256, jacobian_samples=4)
FAST64 = FAST.replace(dtype="float64")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits() -> TrainData:
    return TrainData.from_dataset(load_dataset("digits"))


def assert_rows_equal(a: list[dict], b: list[dict]) -> None:
    """Exactly equal, NaN == NaN."""
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for k in x:
            assert x[k] == y[k] or (x[k] != x[k] and y[k] != y[k]), k


# -- grid specs -----------------------------------------------------------------------------


def test_parse_floats_forms() -> None:
    assert parse_floats("0.8:1.2:5") == (0.8, 0.9, 1.0, 1.1, 1.2)
    assert parse_floats("1e-3:10:5:log") == (0.001, 0.01, 0.1, 1.0, 10.0)
    assert parse_floats("0.9, 1,1.1") == (0.9, 1.0, 1.1)
    assert parse_floats("2") == (2.0,)
    assert parse_floats([1, 2.5]) == (1.0, 2.5)
    assert parse_floats("0.8:1.2:17")[1] == 0.825  # rounded, not 0.8250000000000001
    assert parse_ints("10,30", "--depth") == (10, 30)
    assert parse_ints("0:3", "--seeds", minimum=0) == (0, 1, 2)
    assert parse_choices("identity,he", "--init", ("identity", "he")) == ("identity", "he")


@settings(max_examples=60, deadline=None)
@given(st.floats(1e-3, 10), st.floats(1e-3, 10), st.integers(1, 60), st.booleans())
def test_parse_floats_matches_numpy(a: float, b: float, n: int, log: bool) -> None:
    spec = f"{a!r}:{b!r}:{n}" + (":log" if log else "")
    expected = np.geomspace(a, b, n) if log else np.linspace(a, b, n)
    if len(set(np.round(expected, 11))) < n:  # a grid that repeats a value is refused
        with pytest.raises(ValueError, match="repeats"):
            parse_floats(spec, "--sigma")
        return
    got = parse_floats(spec, "--sigma")
    assert len(got) == n
    np.testing.assert_allclose(got, expected, rtol=1e-11)


@pytest.mark.parametrize("spec", ["", "1:2", "a:b:3", "1:2:x", "1:2:0", "1:2:3:lin",
                                  "0:1:3:log", "1,,2", "1,1", "-1,1", "1:2:3:log:5", "nan"])
def test_parse_floats_refuses_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="--sigma") as err:
        parse_floats(spec, "--sigma")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("fn", "spec"), [
    (lambda s: parse_ints(s, "--depth"), "10,x"),
    (lambda s: parse_ints(s, "--depth"), "0"),
    (lambda s: parse_ints(s, "--depth"), ""),
    (lambda s: parse_ints(s, "--depth"), "3:3"),
    (lambda s: parse_choices(s, "--depth", ("identity",)), "identity,id"),
    (lambda s: parse_choices(s, "--depth", ("identity",)), ""),
])
def test_parse_ints_and_choices_refuse(fn, spec: str) -> None:
    with pytest.raises(ValueError, match="--depth"):
        fn(spec)


def test_sweep_config_grid_and_limits() -> None:
    cfg = SweepConfig(sigma="0.9,1.1", q0="1e-2:1:3:log", depth="3,5", init="identity,he",
                      seeds=[0, 1])
    assert cfg.n_runs == 2 * 3 * 2 * 2 * 2 == len(cfg.runs())
    assert cfg.runs()[0] == RunSpec(3, "hardtanh", "identity", 0.9, 0.01, 0)
    assert SweepConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match=r"48 runs .* more than max_configs=10"):
        SweepConfig(sigma="0.9,1.1", q0="1e-2:1:3:log", depth="3,5", init="identity,he",
                    seeds=[0, 1], max_configs=10)
    with pytest.raises(ValueError, match="steps"):
        TrainSettings.make(steps=0)
    with pytest.raises(ValueError, match="unknown sweep training setting 'sigma'"):
        TrainSettings.make(sigma=1.0)  # a grid axis, not a shared setting


def test_huge_axes_are_refused_before_they_are_expanded() -> None:
    with pytest.raises(ValueError, match="1000000000 values, more than the 1000") as err:
        SweepConfig(sigma="0.1:1:1000000000")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="more than the 1000"):
        SweepConfig(seeds="0:100000000000")


def test_plan_batches_groups_by_depth_and_activation() -> None:
    cfg = SweepConfig(sigma="0.9,1,1.1", q0="0.1,1", depth="3,5", activation="hardtanh,tanh")
    batches = plan_batches(cfg.runs(), 4)
    assert sum(len(b) for b in batches) == cfg.n_runs
    for b in batches:
        assert len({(r.depth, r.activation) for r in b}) == 1
        assert len(b) == 3  # 6 runs per group, split evenly into 3 + 3, not 4 + 2


# -- the results file -----------------------------------------------------------------------

cells = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(cells, st.booleans(), st.none() | st.integers(0, 10**6),
                          st.text(max_size=30)), min_size=1, max_size=4))
def test_csv_rows_round_trip(tmp_path_factory, values) -> None:
    path = tmp_path_factory.mktemp("csv") / "results.csv"
    rows = []
    for x, flag, steps, text in values:
        row = dict.fromkeys(COLUMNS)
        row.update(dataset="digits", activation="hardtanh", init="he", status="ok",
                   error=" ".join(text.split()), width=74, depth=3, seed=1, sigma=1.0, q0=0.1,
                   train_acc=x, diverged=flag, steps_to_target=steps)
        rows.append(row)
    write_results(path, rows)
    back = read_results(path)
    assert len(back) == len(rows)
    for r, b in zip(rows, back, strict=True):
        x = r["train_acc"]
        assert (math.isnan(b["train_acc"]) if x is None or math.isnan(x)
                else b["train_acc"] == x)
        assert (b["diverged"], b["steps_to_target"], b["error"]) == (
            r["diverged"], r["steps_to_target"], r["error"])
        assert b["sigma"] == 1.0 and b["lr"] != b["lr"]  # empty float cell -> NaN


# -- the batched engine ---------------------------------------------------------------------


@pytest.mark.numerics
def test_one_adam_over_stacked_tensors_equals_k_adams() -> None:
    gen = torch.Generator().manual_seed(0)
    k, shape = 5, (3, 4)
    stacked = torch.nn.Parameter(torch.randn(k, *shape, generator=gen, dtype=torch.float64))
    singles = [torch.nn.Parameter(stacked.detach()[i].clone()) for i in range(k)]
    opt = torch.optim.Adam([stacked], lr=1e-2)
    opts = [torch.optim.Adam([p], lr=1e-2) for p in singles]
    for _ in range(20):
        grads = torch.randn(k, *shape, generator=gen, dtype=torch.float64) * torch.logspace(
            -6, 2, k, dtype=torch.float64)[:, None, None]
        stacked.grad = grads.clone()
        opt.step()
        for p, o, g in zip(singles, opts, grads, strict=True):
            p.grad = g.clone()
            o.step()
    # elementwise updates: the same operations per entry, up to a few roundings
    eps = torch.finfo(torch.float64).eps
    torch.testing.assert_close(stacked.detach(), torch.stack([p.detach() for p in singles]),
                               rtol=64 * eps, atol=64 * eps)


@pytest.mark.numerics
def test_batched_training_equals_one_by_one(digits: TrainData) -> None:
    specs = [RunSpec(4, "hardtanh", init, s, q, seed)
             for init in ("identity", "orthogonal", "xavier", "he")
             for s, q, seed in ((1.0, 0.1, 0), (1.1, 1.0, 3))]
    batched = train_batch(specs, digits, FAST64)
    for spec, got in zip(specs, batched, strict=True):
        assert_rows_close(got, train_one(spec, digits, FAST64))
        assert got["diverged"] is False and 0 < got["test_acc"] <= 1
        assert 0 < got["theory_nonzero_frac"] <= 1 and 0 < got["data_nonzero_frac"] <= 1


@pytest.mark.numerics
def test_sigmoid_runs_equal_one_by_one(digits: TrainData) -> None:
    # sigmoid(0) != 0: no dead padding coordinates, the plain W-wide layout.
    specs = [RunSpec(3, "sigmoid", init, 1.0, 0.5, 0) for init in ("identity", "he")]
    for spec, got in zip(specs, train_batch(specs, digits, FAST64), strict=True):
        assert_rows_close(got, train_one(spec, digits, FAST64))


def test_padding_coordinates_stay_exactly_zero(digits: TrainData) -> None:
    specs = [RunSpec(3, "tanh", i, 1.0, 0.5, 0) for i in ("identity", "xavier")]
    model = StackedMLP(specs, digits.in_features, digits.num_classes)
    assert (digits.width, model.rule.width) == (74, 80)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    z = torch.as_tensor(digits.X_train[:32])
    y = torch.as_tensor(digits.y_train[:32])
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(model(z[None].expand(2, -1, -1)).flatten(0, 1),
                                                 y.repeat(2))
        opt.zero_grad()
        loss.backward()
        opt.step()
    for w in model.weights_t:
        assert torch.count_nonzero(w[:, 74:]) == 0 and torch.count_nonzero(w[:, :, 74:]) == 0
        assert torch.count_nonzero(w[:, :74, :74]) > 0


@pytest.mark.numerics
@pytest.mark.parametrize("bias", [False, True])
def test_stacked_readout_and_evidence_equal_each_run_alone(bias: bool) -> None:
    """The stack is an InterpretableNet: its readout, maps and evidence split are those of
    each run's own InterpretableMLP (same weights), run by run (float64)."""
    from idmlp.nets.base import InterpretableNet
    from idmlp.nets.mlp import InterpretableMLP

    specs = [RunSpec(3, "hardtanh", "orthogonal", s, q, 0) for s, q in ((0.9, 0.5), (1.1, 0.2))]
    settings = TrainSettings.make(bias=bias, logit_scale=4.0)
    stack = StackedMLP(specs, 6, 3, settings).double()
    assert isinstance(stack, InterpretableNet) and "2 MLPs of depth 3" in stack.describe()
    if bias:
        with torch.no_grad():
            for b in stack.biases:
                b.normal_(0, 0.05)
    z = torch.randn(5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    r = stack.readout(z)
    y = torch.tensor([0, 1, 2, 0, 1])
    feat, cls = r.evidence_terms(y)
    weights, biases = stack.weight_stack(), stack.bias_stack()
    for k, spec in enumerate(specs):
        net = InterpretableMLP(6, 3, 3, spec.sigma, "hardtanh", bias, logit_scale=4.0,
                               q0=spec.q0, init="orthogonal", dtype=torch.float64)
        with torch.no_grad():
            for l, layer in enumerate(net.layers):
                layer.weight.copy_(weights[k, l])
                if bias:
                    layer.bias.copy_(biases[k, l])
        one = net.readout(z)
        torch.testing.assert_close(r.logits[k], one.logits)
        torch.testing.assert_close(r.states[k, ..., :9], one.states)
        torch.testing.assert_close(r.maps("trained")[k], one.maps("trained"))
        f1, c1 = one.evidence_terms(y)
        torch.testing.assert_close(feat[k], f1)
        torch.testing.assert_close(cls[k], c1)
    one_run = StackedMLP.from_config(ModelConfig(depth=2).for_data(6, 3))
    assert one_run.k == 1 and one_run.layer_logits(z.float()).shape == (1, 5, 2, 3)


@pytest.mark.numerics
def test_runs_are_independent_of_their_batch(digits: TrainData) -> None:
    specs = [RunSpec(3, "tanh", "identity", 1.0, 0.1, s) for s in (0, 1, 2)]
    together = train_batch(specs, digits, FAST64)
    alone = train_batch(specs[1:2], digits, FAST64)
    assert_rows_close(together[1], alone[0], rtol=1e-9)
    assert together[0] != together[1]  # a different seed: another minibatch order


def test_identity_init_spectrum_matches_exact_diagonal(digits: TrainData) -> None:
    # At identity init J is diagonal, J_ii = prod_l sigma phi'(h^l_i): exact for hard-tanh.
    spec = RunSpec(5, "hardtanh", "identity", 1.05, 0.5, 0)
    row = train_batch([spec], digits, FAST64)[0]
    u = torch.nn.functional.pad(torch.as_tensor(digits.X_train[:4], dtype=torch.float64)
                                * 0.5**0.5, (0, 10))
    alive = (1.05**5 * u).abs() < 1  # sigma > 1: |h^l| grows, saturates first at layer L
    assert row["init_nonzero_frac"] == pytest.approx(alive.double().mean().item(), abs=1e-12)
    assert row["init_mean_eig"] == pytest.approx(alive.double().mean().item() * 1.05**10)


@pytest.mark.numerics
def test_divergence_is_recorded_and_isolated(digits: TrainData) -> None:
    sgd = FAST64.replace(optimizer="sgd", lr=0.05)
    specs = [RunSpec(4, "linear", "identity", s, 1.0, 0) for s in (1.0, 4.0, 0.9)]
    rows = train_batch(specs, digits, sgd)
    bad = rows[1]
    assert bad["diverged"] is True and bad["diverged_step"] >= 1
    assert 0 <= bad["test_acc"] <= 1 and 0 <= bad["train_acc"] <= 1
    ref = train_one(specs[1], digits, sgd)
    assert ref["diverged"] is True and ref["diverged_step"] == bad["diverged_step"]
    for i in (0, 2):  # the others: as if the diverging run were not there
        assert rows[i]["diverged"] is False
        assert_rows_close(rows[i], train_batch([specs[i]], digits, sgd)[0], rtol=1e-9)
        assert_rows_close(rows[i], train_one(specs[i], digits, sgd))


def test_data_law_is_the_measurement_at_identity_init(digits: TrainData) -> None:
    # The law on the same inputs (scaled, padded) is exact: the measured fraction of
    # eigenvalues above 1e-9 of the largest is the law's, and so is the mean (float64).
    specs = [RunSpec(5, act, "identity", s, q, 0) for act in ("hardtanh", "tanh")
             for s, q in ((0.9, 10.0), (1.05, 0.5), (1.2, 3.0))]
    n = FAST64.jacobian_samples * digits.width
    rows = train_batch(specs[:3], digits, FAST64) + train_batch(specs[3:], digits, FAST64)
    for spec, row in zip(specs, rows, strict=True):
        # hard-tanh: the same float64 recursion decides every saturation; tanh: one
        # eigenvalue may sit on the 1e-9 threshold within rounding
        tol = 1e-12 if spec.activation == "hardtanh" else 1.5 / n
        assert row["data_nonzero_frac"] == pytest.approx(row["init_nonzero_frac"], abs=tol)
        # the sweep initializes weights in float32, then casts: sigma^(2L) moves by 2L eps32
        eps32 = float(torch.finfo(torch.float32).eps)
        assert row["data_mean_eig"] == pytest.approx(row["init_mean_eig"],
                                                     rel=2 * spec.depth * eps32)
    hard = rows[0]  # the Gaussian law misses real data
    assert abs(hard["theory_nonzero_frac"] - hard["init_nonzero_frac"]) > 0.05


@pytest.mark.numerics
@pytest.mark.parametrize("init", ["orthogonal", "he"])
def test_random_init_theory_mean_within_measured_spread(digits: TrainData, init: str) -> None:
    # Width 74 = 64 + 10, depth 6, 8 inputs: over 30 seeds the measured mean of J J^T
    # over the mean-field value on the same inputs was 0.994 +- 0.030 (orthogonal) and
    # 1.044 +- 0.112 (he) per network (hard-tanh, sigma 1, q0 1; tanh alike). The mean of
    # 8 networks must lie within 4 of those standard deviations / sqrt(8).
    settings64 = FAST64.replace(steps=1, jacobian_samples=8)
    specs = [RunSpec(6, "hardtanh", init, 1.0, 1.0, seed) for seed in range(8)]
    rows = train_batch(specs, digits, settings64)
    ratio = np.array([r["init_mean_eig"] / r["data_mean_eig"] for r in rows])
    spread = {"orthogonal": 0.030, "he": 0.112}[init]
    assert abs(ratio.mean() - 1.0) < 4 * spread / math.sqrt(len(rows))
    # the theory knows the weight law's scale: he is 2^L = 64 times xavier's mean in the
    # linear regime, and nothing about the seed
    assert len({r["data_mean_eig"] for r in rows}) == 1
    lin = train_batch([RunSpec(6, "linear", i, 1.0, 1.0, 0) for i in ("xavier", "he")],
                      digits, settings64)
    assert lin[1]["data_mean_eig"] == pytest.approx(64 * lin[0]["data_mean_eig"], rel=1e-12)


def test_results_file_without_the_data_columns_loads_and_resumes(tmp_path: Path) -> None:
    grid = {**GRID, "depth": "2", "init": "identity"}
    rows = run(SweepConfig(**grid), tmp_path / "new", progress=False)
    old = [c for c in COLUMNS if not c.startswith("data_")]
    lines = ["{}".format(",".join(old))]
    for line in (tmp_path / "new" / "results.csv").read_text().splitlines()[1:3]:
        cells = dict(zip(COLUMNS, line.split(","), strict=True))
        lines.append(",".join(cells[c] for c in old))
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "sweep.json").write_text((tmp_path / "new" / "sweep.json").read_text())
    (legacy / "results.csv").write_text("\n".join(lines) + "\n")
    loaded = read_results(legacy)
    assert len(loaded) == 2 and all(math.isnan(r["data_mean_eig"]) for r in loaded)
    assert loaded[0]["init_mean_eig"] == rows[0]["init_mean_eig"]
    counting = Counting()
    resumed = run(SweepConfig(**grid), legacy, resume=True, progress=False, train_fn=counting)
    assert len(counting.runs) == len(rows) - 2
    header = (legacy / "results.csv").read_text().splitlines()[0]
    assert header.split(",") == list(COLUMNS)  # rewritten with every column
    assert len(read_results(legacy)) == len(rows)
    assert all(r["data_mean_eig"] > 0 for r in resumed[2:])
    (legacy / "results.csv").write_text("depth,sigma\n2,1.0\n")
    with pytest.raises(ValueError, match="columns differ"):
        read_results(legacy)


# -- the sweep: files, resume, failures -----------------------------------------------------

GRID = {"sigma": "0.9,1.1", "q0": "0.01,1", "depth": "2,3", "init": "identity,orthogonal",
        "train": FAST64, "batch_configs": 3}


class Counting:
    """A train_fn that counts the runs it trains (and can fail on chosen sigmas)."""

    def __init__(self, fail=lambda spec: False) -> None:
        self.runs: list[RunSpec] = []
        self.fail = fail

    def __call__(self, specs, data, settings, **kw):
        if any(self.fail(s) for s in specs):
            raise RuntimeError("injected failure,\nsecond line")
        self.runs += specs
        return train_batch(specs, data, settings, **kw)


def test_sweep_writes_tidy_csv_and_config(tmp_path: Path) -> None:
    rows = run(SweepConfig(**GRID), tmp_path / "s", progress=False)
    assert len(rows) == 16 and all(r["status"] == "ok" for r in rows)
    assert_rows_equal(read_results(tmp_path / "s"), rows)
    lines = (tmp_path / "s" / "results.csv").read_text().splitlines()
    assert lines[0].split(",") == list(COLUMNS) and len(lines) == 17
    stored = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert SweepConfig.from_dict(stored["config"]) == SweepConfig(**GRID)
    identity = [r for r in rows if r["init"] == "identity"]
    assert all(0 < r["theory_nonzero_frac"] <= 1 for r in identity)
    assert all(r["theory_mean_eig"] > 0 and r["data_mean_eig"] > 0 for r in rows)


def test_resume_drops_partial_line_and_skips_finished_runs(tmp_path: Path) -> None:
    full = run(SweepConfig(**GRID), tmp_path / "a", progress=False)
    # Simulate a crash: 7 finished rows survive, then a partial line.
    lines = (tmp_path / "a" / "results.csv").read_text().splitlines(keepends=True)
    crashed = tmp_path / "b"
    crashed.mkdir()
    (crashed / "sweep.json").write_text((tmp_path / "a" / "sweep.json").read_text())
    (crashed / "results.csv").write_text("".join(lines[:8]) + lines[8][:25])
    with pytest.raises(ValueError, match="--resume"):
        run(SweepConfig(**GRID), crashed, progress=False)
    counting = Counting()
    resumed = run(SweepConfig(**GRID), crashed, resume=True, progress=False,
                  train_fn=counting)
    assert len(counting.runs) == 16 - 7
    assert len(read_results(crashed)) == 16
    for a, b in zip(resumed, full, strict=True):  # other batch compositions: float64
        assert_rows_close(a, b, rtol=1e-9)


def test_resume_refuses_other_settings(tmp_path: Path) -> None:
    run(SweepConfig(**GRID), tmp_path, progress=False)
    other = SweepConfig(**{**GRID, "train": FAST64.replace(steps=8)})
    with pytest.raises(ValueError, match="steps=16 there but 8 now"):
        run(other, tmp_path, resume=True, progress=False)


def test_failed_batch_becomes_failed_rows_and_resume_reruns_it(tmp_path: Path) -> None:
    def fail(spec: RunSpec) -> bool:
        return spec.init == "orthogonal" and spec.sigma == 1.1

    rows = run(SweepConfig(**GRID), tmp_path, progress=False, train_fn=Counting(fail))
    failed = [r for r in rows if r["status"] == "failed"]
    assert {(r["depth"], r["init"], r["sigma"]) for r in failed} == {
        (2, "orthogonal", 1.1), (3, "orthogonal", 1.1)}
    assert all(r["error"] == "RuntimeError: injected failure, second line" for r in failed)
    assert any(r["status"] == "ok" for r in rows)
    counting = Counting()
    again = run(SweepConfig(**GRID), tmp_path, resume=True, progress=False, train_fn=counting)
    assert len(counting.runs) == len(failed)
    assert all(r["status"] == "ok" for r in again) and len(read_results(tmp_path)) == 16


def test_keyword_api_and_in_memory_run() -> None:
    rows = run(sigma=[1.0], q0=[0.1], depth=[2], steps=5, batch_size=8, jacobian_samples=2,
               progress=False)
    assert len(rows) == 1 and rows[0]["steps"] == 5 and rows[0]["status"] == "ok"
    with pytest.raises(ValueError, match="unknown sweep training setting 'sigmas'"):
        run(sigmas=[1.0], progress=False)


@pytest.mark.slow
def test_default_backend_never_imports_ray(tmp_path: Path) -> None:
    # In a fresh interpreter: in this one, another test may have imported Ray already.
    code = textwrap.dedent(f"""
        import sys, torch
        torch.set_num_threads(1)
        import idmlp.sweep, idmlp.cli
        idmlp.sweep.run  # resolves the lazy names
        assert "ray" not in sys.modules, "import idmlp.sweep imported ray"
        idmlp.sweep.run(sigma=[1.0], q0=[0.1], depth=[2], steps=2, batch_size=8,
                        jacobian_samples=2, progress=False, out={str(tmp_path / "s")!r})
        assert "ray" not in sys.modules, "an in-process sweep imported ray"
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr


# -- command line ---------------------------------------------------------------------------

CLI_FAST = ["--steps", "6", "--batch-size", "16", "--jacobian-samples", "2", "--eval-size",
            "128", "--quiet"]


@pytest.mark.slow
def test_cli_sweep_then_plot(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sweep"
    rc = main(["sweep", "--sigma", "0.9:1.1:2", "--q0", "1e-2:1:2:log", "--depth", "2,3",
               "--init", "identity,xavier", "--seeds", "0,1", "--out", str(out), *CLI_FAST])
    assert rc == 0
    rows = read_results(out)
    assert len(rows) == 2 * 2 * 2 * 2 * 2
    assert {r["seed"] for r in rows} == {0, 1} and {r["init"] for r in rows} == {
        "identity", "xavier"}
    assert "32 runs, 32 ok" in capsys.readouterr().out
    rc = main(["sweep", "--sigma", "0.9:1.1:2", "--q0", "1e-2:1:2:log", "--depth", "2,3",
               "--init", "identity,xavier", "--seeds", "0,1", "--out", str(out), *CLI_FAST])
    assert rc == 2 and "--resume" in capsys.readouterr().err
    rc = main(["plot-sweep", str(out), "--spectra-samples", "4"])
    assert rc == 0
    names = {p.name for p in (out / "figures").iterdir()}
    assert {"heatmap_test_acc.png", "test_acc_vs_depth.pdf", "init_spectra.png"} <= names


@pytest.mark.parametrize(("args", "needle"), [
    (["--sigma", "0.8:1.2"], "--sigma"),
    (["--q0", "1e-3:10:0:log"], "--q0"),
    (["--depth", ""], "--depth"),
    (["--init", "identity,gaussian"], "--init"),
    (["--sigma", "0.8:1.2:40", "--q0", "1e-3:10:40:log"], "max-configs"),
    (["--dataset", "nope"], "dataset must be one of"),
    (["--address", "127.0.0.1:1"], "--backend ray"),
    (["--batch-size", "100000"], "batch_size"),
    (["--target-acc", "1.5"], "target_acc"),
])
def test_cli_errors_are_one_line_and_write_nothing(tmp_path: Path, capsys, args, needle) -> None:
    out = tmp_path / "never"
    rc = main(["sweep", "--out", str(out), *CLI_FAST, *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and needle in err
    assert not out.exists()


def test_cli_ray_backend_without_ray(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    out = tmp_path / "never"
    rc = main(["sweep", "--backend", "ray", "--out", str(out), *CLI_FAST])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "pip install 'idmlp[ray]'" in err and not out.exists()


def test_unreachable_ray_address_fails_fast(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ValueError, match=f"--address 127.0.0.1:{port}: no Ray cluster"):
        run(SweepConfig(**GRID), tmp_path / "s", backend="ray",
            address=f"127.0.0.1:{port}", progress=False)
    assert not (tmp_path / "s").exists()


def test_cli_plot_sweep_bad_input(tmp_path: Path, capsys) -> None:
    rc = main(["plot-sweep", str(tmp_path / "missing.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "not found" in err
    (tmp_path / "results.csv").write_text("a,b\n1,2\n")
    rc = main(["plot-sweep", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "not an idmlp sweep results file" in err
    assert not (tmp_path / "figures").exists()
