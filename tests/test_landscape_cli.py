"""``backpropviz landscape`` and ``backpropviz basins`` as a user meets them."""

from __future__ import annotations

import numpy as np
import pytest

from backpropviz.analysis.landscape import Landscape
from backpropviz.history import History

from clihelpers import one_line_error


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    from backpropviz.config import RunConfig
    from backpropviz.train import train

    path = tmp_path_factory.mktemp("run") / "h.npz"
    train(RunConfig(epochs=300)).save(path)
    return path


def test_landscape_of_a_saved_run_writes_the_file_and_every_view(cli, tmp_path, saved_run):
    out = tmp_path / "land"
    r = cli("landscape", saved_run, "--method", "pca", "--resolution", "21", "--out", out, "--lang", "en",
            "--line", "0,-1")
    assert r.code == 0, r
    land = Landscape.load(out / "landscape.npz")
    h = History.load(saved_run)
    assert land.method == "pca" and land.loss.shape == (21, 21) and land.path.shape == (301, 2)
    with np.load(out / "landscape.npz", allow_pickle=False) as z:  # the DESIGN.md contract
        assert {"alpha", "beta", "loss", "origin", "directions", "path", "method", "config"} <= set(z.files)
    np.testing.assert_allclose(land.origin, h.params[-1])
    for view in ("contour", "filled", "heatmap", "3d"):
        assert (out / f"landscape_{view}.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "line.png").is_file() and (out / "curvature.png").is_file()
    assert "explained variance of the path: PC1" in r.out
    assert "lambda_max" in r.out and "lr used 0.5" in r.out


def test_landscape_trains_from_run_options(cli, tmp_path):
    r = cli("landscape", "--data", "or", "--epochs", "50", "--method", "params", "--range", "-5,5,-5,5",
            "--resolution", "11", "--views", "filled", "--out", tmp_path, "--follow-path", "--no-curvature")
    assert r.code == 0, r
    land = Landscape.load(tmp_path / "landscape.npz")
    np.testing.assert_allclose(land.alpha[[0, -1]], [-5, 5])
    assert land.config["follow_path"] and land.config["run"]["data"] == "or"
    assert "by construction" in r.out  # a path-following surface matches on the path only by construction
    assert not (tmp_path / "landscape_contour.png").exists()


def test_custom_directions_from_a_file(cli, tmp_path, saved_run):
    d = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    np.save(tmp_path / "d.npy", d)
    r = cli("landscape", saved_run, "--method", "custom", "--directions", tmp_path / "d.npy", "-r", "8",
            "--views", "contour", "--out", tmp_path / "o", "--no-curvature")
    assert r.code == 0, r
    np.testing.assert_array_equal(Landscape.load(tmp_path / "o" / "landscape.npz").directions, d)


def test_basins_writes_the_convergence_map(cli, tmp_path):
    r = cli("basins", "--resolution", "6", "--epochs", "100", "--range", "3", "--threshold", "0.3",
            "--out", tmp_path)
    assert r.code == 0, r
    with np.load(tmp_path / "basins.npz", allow_pickle=False) as z:
        assert z["final_loss"].shape == (6, 6) and z["steps_to_threshold"].shape == (6, 6)
    assert (tmp_path / "basins.png").is_file()
    assert "solved" in r.out


@pytest.mark.parametrize("args, fragments", [
    (["landscape", "--method", "spiral"], ["unknown landscape method 'spiral'", "pca"]),
    (["landscape", "--method", "pca", "--x-param", "w1"], ["--x-param", "--method params"]),
    (["landscape", "--method", "custom"], ["--method custom needs two directions"]),
    (["landscape", "--resolution", "1"], ["--resolution", "got 1"]),
    (["landscape", "--resolution", "20000"], ["largest resolution that fits is", "20000 x 20000"]),
    (["landscape", "--resolution", "500", "--memory-budget", "1MiB"], ["largest resolution that fits is"]),
    (["landscape", "--memory-budget", "lots"], ["--memory-budget", "'lots'"]),
    (["landscape", "--range", "3,1,0,1"], ["--range needs XMIN<XMAX"]),
    (["landscape", "--views", "photo"], ["--views", "'photo'"]),
    (["landscape", "--center-step", "5000", "--epochs", "3"], ["--center-step", "5000"]),
    (["landscape", "missing.npz"], ["does not exist"]),
    (["landscape", "h.npz", "--data", "or"], ["run options apply only when no HISTORY.npz", "--data or"]),
    (["landscape", "--x-param", "w9", "--epochs", "3"], ["no parameter 'w9'"]),
    (["basins", "--resolution", "5000"], ["--resolution", "5000"]),
    (["basins", "--method", "spiral", "-r", "2", "--epochs", "2"], ["unknown basin method", "random"]),
    (["basins", "--threshold", "-1", "--epochs", "2", "-r", "2"], ["--threshold", "-1"]),
])
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path, args, fragments):
    one_line_error(cli(*args, "--out", tmp_path), *fragments)


def test_line_between_two_saved_runs_in_float64(cli, tmp_path, saved_run):
    from backpropviz.config import RunConfig
    from backpropviz.train import train

    other = tmp_path / "other.npz"
    train(RunConfig(epochs=100, init=(2.0, -1.0, 0.5))).save(other)
    r = cli("landscape", saved_run, "--line-to", other, "--dtype", "float64", "-r", "6", "--views", "filled",
            "--out", tmp_path / "o", "--no-curvature")
    assert r.code == 0, r
    with np.load(tmp_path / "o" / "line_runs.npz", allow_pickle=False) as z:
        np.testing.assert_allclose(z["start"], History.load(saved_run).params[-1])
        np.testing.assert_allclose(z["end"], History.load(other).params[-1])
    assert Landscape.load(tmp_path / "o" / "landscape.npz").loss.dtype == np.float64


def test_landscape_and_basins_of_a_multiclass_mlp(cli, tmp_path):
    r = cli("landscape", "--data", "iris", "--model", "mlp:4", "--loss", "ce", "--epochs", "40", "--lr", "0.1",
            "--method", "random", "-r", "9", "--views", "heatmap", "--out", tmp_path / "l")
    assert r.code == 0, r
    land = Landscape.load(tmp_path / "l" / "landscape.npz")
    assert land.directions.shape == (2, land.origin.size) and land.origin.size > 3
    assert np.all(np.isfinite(land.loss))
    assert "curvature at step 40 (exact)" in r.out
    r = cli("basins", "--data", "iris", "--model", "mlp:4", "--loss", "ce", "--epochs", "20", "--lr", "0.1",
            "--x-param", "0.weight[0,0]", "--y-param", "2.bias[1]", "-r", "4", "--solved-accuracy", "0.9",
            "--out", tmp_path / "b")
    assert r.code == 0, r
    with np.load(tmp_path / "b" / "basins.npz", allow_pickle=False) as z:
        assert [str(s) for s in z["axis_names"]] == ["0.weight[0,0]", "2.bias[1]"]


def test_basins_along_random_directions(cli, tmp_path):
    r = cli("basins", "--method", "random", "--data", "xor", "--model", "mlp:2", "--epochs", "20", "-r", "3",
            "--range", "0.5", "--direction-seed", "3", "--out", tmp_path)
    assert r.code == 0, r
    with np.load(tmp_path / "basins.npz", allow_pickle=False) as z:
        np.testing.assert_allclose(z["alpha"], [-0.5, 0, 0.5])
