"""Issue 21: the identity family wired into train, sweep and theory; its theory columns; the
residual arm stacked; the weight distance; the study's table and figure; ZerO's Theorem 1."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers import assert_one_line
from conftest import assert_rows_close
from idmlp.analysis.degeneracy import bottleneck_mlp, numerical_rank, rank_trajectory
from idmlp.cli import main
from idmlp.config import INIT_SCHEMES, ModelConfig
from idmlp.data import load_dataset
from idmlp.nets.base import build_model
from idmlp.nets.stacked import StackedMLP, run_seeds
from idmlp.plots.degeneracy import degeneracy_figure
from idmlp.plots.inits import inits_figure
from idmlp.sweep import RunSpec, SweepConfig, TrainData, TrainSettings, run, train_batch, train_one
from idmlp.sweep.engine import _weight_distance, theory_spectrum
from idmlp.sweep.study import init_table, scheme_cells
from idmlp.theory.compare import init_law
from idmlp.theory.family import looks_linear_spectrum
from idmlp.theory.free import free_spectrum

FAST = TrainSettings.make(steps=12, batch_size=16, eval_every=4, target_acc=0.3,
                          eval_size=256, jacobian_samples=4)
FAST64 = FAST.replace(dtype="float64")
FAMILY = ("zero", "idinit", "looks_linear", "delta_orthogonal")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits() -> TrainData:
    return TrainData.from_dataset(load_dataset("digits"))


def _odd_csv(tmp_path: Path) -> str:
    """A csv data set of 4 features and 3 classes: width N + C = 7, odd."""
    rng = np.random.default_rng(0)
    lines = ["a,b,c,d,target"] + [",".join(f"{v:.4f}" for v in rng.normal(size=4))
                                  + f",{i % 3}" for i in range(90)]
    path = tmp_path / "odd.csv"
    path.write_text("\n".join(lines) + "\n")
    return f"csv:{path}"


# -- wiring ---------------------------------------------------------------------------------


def test_every_scheme_is_offered_by_train_sweep_and_theory() -> None:
    from idmlp.theory._inits import ALL_INITS

    assert set(FAMILY) <= set(INIT_SCHEMES) and set(INIT_SCHEMES) <= set(ALL_INITS)
    for init in INIT_SCHEMES:
        assert ModelConfig(init=init).init == init
    assert SweepConfig(init=",".join(INIT_SCHEMES)).init == INIT_SCHEMES


def test_theory_knows_xavier_and_he_by_their_train_names() -> None:
    xavier = init_law("xavier", 1.1, 0.0, 0.5, 6, "tanh")
    gauss = init_law("gaussian", 1.1, 0.0, 0.5, 6, "tanh")
    assert xavier.mean() == gauss.mean()
    he = init_law("he", 1.0, 0.0, 0.5, 6, "relu")
    assert he.mean() == free_spectrum(math.sqrt(2.0), 0.0, 0.5, 6, "relu", "gaussian").mean()


def test_zero_and_idinit_start_square_networks_exactly_at_the_identity() -> None:
    """ZerO and IDInit on the square layers of the MLP, the residual MLP (class-row filters
    included) and the CNN (extra-channel filters included, ZerO = Dirac) give the very
    weights of identity init."""
    for arch, shape in (("mlp", None), ("residual", None), ("cnn", (8, 8))):
        base = ModelConfig(arch=arch, depth=3).for_data(64, 10, shape or (8, 8))
        ref = build_model(base, generator=torch.Generator().manual_seed(1))
        inits = ("zero", "idinit") if arch != "cnn" else ("zero",)
        for init in inits:
            net = build_model(base.replace(init=init), generator=torch.Generator().manual_seed(1))
            for a, b in zip(net.layers, ref.layers, strict=True):
                assert torch.equal(a.weight, b.weight), (arch, init)


def test_cnn_takes_the_family() -> None:
    base = ModelConfig(arch="cnn", depth=2).for_data(64, 10, (8, 8))
    gen = torch.Generator().manual_seed(0)
    net = build_model(base.replace(init="delta_orthogonal"), generator=gen)
    w = net.layers[0].weight.detach().double()
    q = w[:, :, 1, 1]
    torch.testing.assert_close(q.T @ q, torch.eye(27, dtype=torch.float64), atol=1e-5,
                               rtol=0)
    net = build_model(base.replace(init="idinit"), generator=gen)  # patch-maintain
    assert not torch.equal(net.layers[0].weight, net.dirac())
    even = base.replace(init="looks_linear", extra_channels=17)
    w = build_model(even, generator=gen).layers[0].weight.detach()
    assert torch.equal(w[:14, 14:], -w[:14, :14])


def test_refusals_name_the_layers_and_the_fix(tmp_path: Path, capsys) -> None:
    rc = main(["train", "--dataset", _odd_csv(tmp_path), "--init", "looks_linear", "--depth",
               "2", "--epochs", "1", "--extra-features", "0", "--out", str(tmp_path / "run"),
               "--quiet"])
    assert rc == 2 and not (tmp_path / "run").exists()
    assert_one_line(capsys.readouterr().err, "even widths", "(7, 7)", "N + C = 4 + 3",
                    "--extra-features to 1", "choose another --init")
    rc = main(["train", "--dataset", _odd_csv(tmp_path), "--init", "looks_linear", "--depth",
               "2", "--epochs", "1", "--extra-features", "2", "--out", str(tmp_path / "run"),
               "--quiet"])
    assert rc == 2 and not (tmp_path / "run").exists()
    assert_one_line(capsys.readouterr().err, "(9, 9)", "N + H + C = 4 + 2 + 3",
                    "--extra-features to 3")
    rc = main(["train", "--dataset", "digits", "--arch", "cnn", "--init", "looks_linear",
               "--depth", "2", "--epochs", "1", "--out", str(tmp_path / "cnn"), "--quiet"])
    assert rc == 2 and not (tmp_path / "cnn").exists()
    assert_one_line(capsys.readouterr().err, "27-channel", "--extra-channels to 17 or 15")


def test_sweep_refuses_an_init_that_does_not_fit_before_writing(tmp_path: Path,
                                                                  capsys) -> None:
    out = tmp_path / "sweep"
    with pytest.raises(ValueError, match=r"N \+ C = 4 \+ 3.*even widths"):
        run(dataset=_odd_csv(tmp_path), init="identity,looks_linear", depth=[2], train=FAST,
            out=out, progress=False)
    assert not out.exists()
    rc = main(["sweep", "--dataset", _odd_csv(tmp_path), "--init", "looks_linear", "--sigma",
               "1", "--q0", "1", "--steps", "4", "--batch-size", "8", "--out", str(out),
               "--quiet"])
    assert rc == 2 and not out.exists()
    assert_one_line(capsys.readouterr().err, "looks_linear", "even widths")


# -- the sweep: batched == one by one, theory columns, weight distance ------------------------


@pytest.mark.numerics
@pytest.mark.parametrize("activation", ["hardtanh", "relu"])
def test_family_batched_equals_one_by_one(digits: TrainData, activation: str) -> None:
    specs = [RunSpec(3, activation, init, s, 0.3, seed)
             for init in (*FAMILY, "identity") for s, seed in ((0.5, 0), (1.0, 2))]
    batched = train_batch(specs, digits, FAST64)
    for spec, got in zip(specs, batched, strict=True):
        assert_rows_close(got, train_one(spec, digits, FAST64))
        # with ReLU, sigma I starts the class block at relu(0) with relu'(0) = 0: no
        # gradient reaches any weight, the start is stationary
        stuck = activation == "relu" and spec.init in ("identity", "zero", "idinit")
        assert (got["weight_distance"] == 0.0) if stuck else 0 < got["weight_distance"] < 1
        assert got["theory_mean_eig"] is not None and got["data_mean_eig"] is not None
    by = {(s.init, s.sigma): r for s, r in zip(specs, batched, strict=True)}
    for sigma in (0.5, 1.0):  # sigma I on square layers: the identity's own run
        for init in ("zero", "idinit"):
            assert_rows_close(by[(init, sigma)], by[("identity", sigma)], rtol=1e-12)


@pytest.mark.numerics
def test_looks_linear_relu_theory_is_exact_at_the_sweeps_inputs(digits: TrainData) -> None:
    spec = RunSpec(5, "relu", "looks_linear", 1.0, 0.5, 0)
    row = train_batch([spec], digits, FAST64)[0]
    assert row["init_nonzero_frac"] == 0.5 and row["init_mean_eig"] == pytest.approx(1.0,
                                                                                     rel=1e-9)
    for col in ("theory", "data"):
        assert (row[f"{col}_nonzero_frac"], row[f"{col}_mean_eig"]) == (0.5, 1.0)


@pytest.mark.parametrize("activation", ["tanh", "hardtanh"])
def test_looks_linear_odd_theory_is_the_family_law(activation: str) -> None:
    nonzero, mean = theory_spectrum(0.5, 0.4, 8, activation, "looks_linear")
    law = looks_linear_spectrum(0.5, 0.4, 8, activation)
    assert mean == pytest.approx(law.mean(), rel=1e-3)
    assert nonzero == pytest.approx(1 - law.mass_at_zero, abs=1e-6)
    assert theory_spectrum(0.9, 0.4, 8, "tanh", "delta_orthogonal") == theory_spectrum(
        0.9, 0.4, 8, "tanh", "orthogonal")
    assert theory_spectrum(1.0, 0.4, 8, "gelu", "looks_linear") == (None, None)


def test_weight_distance_is_relative_frobenius() -> None:
    w0 = [torch.ones(2, 3, 3), torch.full((2, 3, 3), 2.0)]
    w = [w0[0] + torch.tensor([0.0, 1.0])[:, None, None], w0[1].clone()]
    torch.testing.assert_close(_weight_distance(w, w0),
                               torch.tensor([0.0, math.sqrt(9 / 45)], dtype=torch.float64))


@pytest.mark.numerics
@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_residual_arm_trains_stacked_as_one_by_one(digits: TrainData, alpha: float) -> None:
    settings = FAST64.replace(arch="residual", alpha_init=alpha)
    specs = [RunSpec(3, "hardtanh", init, 1.0, 0.3, 0) for init in ("identity", "orthogonal")]
    batched = train_batch(specs, digits, settings)
    for spec, got in zip(specs, batched, strict=True):
        assert_rows_close(got, train_one(spec, digits, settings))
        if alpha == 0:  # the identity map at init: every eigenvalue exactly 1
            assert got["init_mean_eig"] == pytest.approx(1.0, rel=1e-12)
            assert got["theory_mean_eig"] == got["theory_nonzero_frac"] == 1.0
        else:
            assert got["theory_mean_eig"] is None


@pytest.mark.numerics
def test_stacked_residual_is_the_residual_mlp() -> None:
    config = ModelConfig(arch="residual", depth=3, logit_scale=4.0).replace(
        alpha_init=0.2).for_data(6, 3)
    stack = StackedMLP.from_config(config, seed=5).double()
    net = build_model(config, generator=torch.Generator().manual_seed(run_seeds(5)[0]))
    net = net.double()
    for layer, w in zip(net.layers, stack.weights_t, strict=True):
        torch.testing.assert_close(layer.weight, w[0, :9, :9].T, rtol=0, atol=0)
    with torch.no_grad():
        for a, b in zip(stack.alphas, net.alpha, strict=True):
            a.fill_(float(torch.randn(1)))
            b.copy_(a[0, 0, 0])
    z = torch.randn(5, 6, dtype=torch.float64)
    r1, r2 = stack.readout(z), net.readout(z)
    torch.testing.assert_close(r1.logits[0], r2.logits)
    t = torch.tensor([0, 1, 2, 0, 1])
    for a, b in zip(stack.evidence_terms(r1.states, t), net.evidence_terms(r2.states, t),
                    strict=True):
        torch.testing.assert_close(a[0], b)


# -- the study: table, figure, plot-sweep with --also -----------------------------------------


def _row(init: str, depth: int, sigma: float, acc: float, steps: int | None,
         **extra) -> dict:
    return {"arch": "mlp", "init": init, "depth": depth, "sigma": sigma, "q0": 0.1,
            "status": "ok", "test_acc": acc, "train_acc": acc, "steps_to_target": steps,
            "weight_distance": 0.1, "diverged": False, "theory_mean_eig": 1.0,
            "theory_nonzero_frac": 1.0, "init_mean_eig": 1.0, "init_nonzero_frac": 1.0,
            "target_acc": 0.9, "num_classes": 10, **extra}


def test_table_picks_the_best_scale_per_depth_and_says_never() -> None:
    rows = [_row("identity", 10, 1.0, 0.95, 50), _row("identity", 10, 0.5, 0.3, None),
            _row("identity", 200, 1.0, 0.9, 150), _row("identity", 200, 0.5, 0.1, None),
            _row("looks_linear", 200, 0.5, 0.2, None, theory_mean_eig=math.nan),
            _row("identity", 200, 1.0, 0.9, None, arch="residual", alpha_init=0.0),
            {**_row("he", 200, 1.0, 0.0, None), "status": "failed"}]
    cells = scheme_cells(rows)
    assert list(cells) == ["identity", "looks_linear", "residual α0=0 · identity"]
    lines = init_table(rows).splitlines()
    assert lines[0].startswith("| scheme | test acc L=10 | test acc L=200 | best σ at L=200")
    assert lines[2] == "| identity | 0.950 | 0.900 | σ=1 | 0.900 | 150 | 0.100 | 1 / 1 |"
    assert lines[3].endswith("| never | 0.100 | – |")  # no theory
    assert lines[4].startswith("| residual α0=0 · identity | – |")
    fig = inits_figure(rows)
    assert len(fig.axes) == 3 * 3


@pytest.mark.slow
def test_plot_sweep_draws_the_study_next_to_the_residual_arm(tmp_path: Path) -> None:
    fast = ["--steps", "6", "--batch-size", "16", "--jacobian-samples", "2", "--eval-size",
            "128", "--quiet", "--q0", "0.1", "--depth", "2,3"]
    mlp, res = tmp_path / "mlp", tmp_path / "res"
    assert main(["sweep", "--init", "identity,looks_linear", "--sigma", "0.5,1", "--out",
                 str(mlp), *fast]) == 0
    assert main(["sweep", "--arch", "residual", "--alpha-init", "0", "--init", "identity",
                 "--sigma", "1", "--out", str(res), *fast]) == 0
    assert main(["plot-sweep", str(mlp), "--also", str(res), "--spectra-samples", "2"]) == 0
    names = {p.name for p in (mlp / "figures").iterdir()}
    assert {"inits_vs_depth.png", "inits_vs_depth.pdf", "inits_table.md"} <= names
    table = (mlp / "figures" / "inits_table.md").read_text()
    assert "| looks_linear |" in table and "| residual α0=0 · identity |" in table
    assert main(["plot-sweep", str(mlp), "--also", str(tmp_path / "nope"), "--overwrite"]) == 2


# -- ZerO's Theorem 1 -------------------------------------------------------------------------


@given(m=st.integers(1, 12), n=st.integers(1, 12), k=st.integers(0, 12),
       seed=st.integers(0, 2**16))
@settings(max_examples=40, deadline=None, derandomize=True)
def test_numerical_rank_of_a_known_rank(m: int, n: int, k: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(m, k, generator=g, dtype=torch.float64)
    b = torch.randn(k, n, generator=g, dtype=torch.float64)
    assert int(numerical_rank(a @ b)) == min(m, n, k)  # generic: full rank min(m, n, k)


def test_numerical_rank_tolerance_and_batches() -> None:
    d = torch.diag(torch.tensor([1.0, 1e-3, 1e-6, 0.0], dtype=torch.float64))
    assert int(numerical_rank(d, rtol=1e-4)) == 2 and int(numerical_rank(d, rtol=1e-9)) == 3
    assert numerical_rank(torch.stack([d, torch.zeros(4, 4, dtype=torch.float64)])).tolist() \
        == [2, 0]
    with pytest.raises(ValueError, match="matrix"):
        numerical_rank(torch.ones(3))


def test_bottleneck_inits_are_the_papers() -> None:
    net = bottleneck_mlp((8, 4, 8), "identity")
    assert torch.equal(net[2].weight, torch.eye(8, 4))  # the zero-padded partial identity
    widen = bottleneck_mlp((8, 4, 8), "zero", dtype=torch.float64)[2].weight
    torch.testing.assert_close(widen.T @ widen, torch.eye(4, dtype=torch.float64))  # m = p
    with pytest.raises(ValueError, match="init"):
        bottleneck_mlp((8, 4, 8), "orthogonal")


def test_theorem_1_partial_identity_stays_below_the_bound_zero_does_not() -> None:
    data = load_dataset("digits")
    scaler = data.fit_scaler("feature", 0.0)
    x = torch.as_tensor(scaler.transform(data.X_train[:400]), dtype=torch.float32)
    y = torch.as_tensor(data.y_train[:400])
    widths = (64, 8, 32, 32, 10)  # a bottleneck of 8, widened to 32
    runs = {init: rank_trajectory(x, y, widths, init, steps=150, lr=0.05, record_every=50)
            for init in ("identity", "zero", "idinit")}
    assert runs["identity"].bound() == [None, None, 8, 8]
    assert runs["identity"].ranks[:, 2].max() <= 8  # at every recorded step
    assert runs["zero"].ranks[-1, 2] > 8 and runs["idinit"].ranks[-1, 2] > 8
    assert runs["identity"].steps.tolist() == [0, 50, 100, 150]
    assert len(degeneracy_figure(list(runs.values())).axes) == 5


@pytest.mark.slow
def test_bench_sweep_study_grid_runs_at_toy_size() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_sweep.py"),
                           "--grid", "study", "--depths", "2", "--steps", "2", "--threads",
                           "1"], cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "speed-up:" in proc.stdout and "load average" in proc.stdout


def test_flush_subnormals_is_reentrant_and_restores() -> None:
    from idmlp.sweep.engine import flush_subnormals

    def tiny() -> float:
        return float(torch.tensor([1e-30]) * torch.tensor([1e-10]))

    assert tiny() > 0  # a subnormal float32
    with flush_subnormals():
        with flush_subnormals():
            assert tiny() == 0.0
        assert tiny() == 0.0
    assert tiny() > 0
