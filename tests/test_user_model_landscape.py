"""Landscapes, Hessian eigenvalues and interpolation of models backpropviz did not build
(``--model package.module:factory``), against loops written here with ``functional_call``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

import usermodels as um
from backpropviz.analysis import curvature as C
from backpropviz.analysis.landscape import Landscape, interpolation, model_plane
from backpropviz.models import get_flat, unflatten

from clihelpers import one_line_error

ROOT = Path(__file__).resolve().parents[1]


def loop_loss(model, X, y, theta, loss_fn=F.cross_entropy) -> float:
    """The loss at one parameter vector: the model in eval mode, float64, all data at once."""
    m = model.double().eval()
    params = unflatten(m, torch.as_tensor(np.asarray(theta, dtype=np.float64)))
    with torch.no_grad():
        return float(loss_fn(functional_call(m, params, (X.double(),)), y))


def loop_grid(model, X, y, land) -> np.ndarray:
    out = np.empty((len(land.beta), len(land.alpha)))
    for j, b in enumerate(land.beta):
        for i, a in enumerate(land.alpha):
            out[j, i] = loop_loss(model, X, y, land.origin + a * land.directions[0] + b * land.directions[1])
    return out


def figure_texts(figures) -> str:
    """Every text on the figures a command drew (titles, labels, legends, notes)."""
    import matplotlib.text

    return " ".join(a.get_text() for fig in figures for a in fig.findobj(matplotlib.text.Text))


def snapshots(model, X, y, steps=(0, 5, 10, 20, 40), lr=0.3):
    """Parameter vectors (and state dicts) of a plain SGD loop at the given steps."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    rows, states = [], []
    for step in range(max(steps) + 1):
        if step in steps:
            rows.append(get_flat(model).double().numpy())
            states.append({k: v.clone() for k, v in model.state_dict().items()})
        opt.zero_grad()
        F.cross_entropy(model(X), y).backward()
        opt.step()
    return np.stack(rows), states


def test_random_plane_of_a_conv_net_with_batchnorm_equals_a_functional_call_loop():
    model = um.conv_net().eval()
    X, y = um.digits_images()
    land = model_plane(model, F.cross_entropy, um.digits_loader(), method="random", resolution=5,
                       dtype=torch.float64, seed=3)
    np.testing.assert_allclose(land.loss, loop_grid(um.conv_net(), X, y, land), rtol=1e-10, atol=1e-12)
    # BatchNorm ran on the checkpoint's running statistics: with the default ones the loss differs
    fresh = um.SmallConv()
    fresh.load_state_dict({k: v for k, v in um.conv_net().state_dict().items() if not k.startswith("bn.running")},
                          strict=False)
    assert abs(loop_loss(fresh, X, y, land.origin) - land.set_loss[0]) > 1e-3
    np.testing.assert_allclose(land.set_loss, [loop_loss(um.conv_net(), X, y, land.origin)], rtol=1e-12)
    # Li et al.'s filter normalisation: each conv filter and each row of fc.weight has the centre's
    # norm in both directions; biases and BatchNorm's scale and shift are left out (held fixed)
    names = [n for n, _ in model.named_parameters()]
    offset = 0
    for name, p in model.named_parameters():
        d = land.directions[:, offset: offset + p.numel()]
        w = p.detach().double().numpy().reshape(p.shape[0], -1)
        if p.ndim >= 2:
            for k in range(2):
                np.testing.assert_allclose(np.linalg.norm(d[k].reshape(p.shape[0], -1), axis=1),
                                           np.linalg.norm(w, axis=1), rtol=1e-6)
        else:
            assert not d.any(), name
        offset += p.numel()
    assert "bn.weight[0]" in land.fixed and "conv.bias[0]" in land.fixed and "conv.weight[0,0,0,0]" not in land.fixed
    assert land.config["buffers"] == ["bn.running_mean", "bn.running_var"] and len(names) == 6


def test_pca_plane_of_an_mlp_from_snapshots_equals_a_functional_call_loop():
    X, y = um.blobs()
    path, _ = snapshots(um.mlp(), X, y)
    land = model_plane(um.mlp(), F.cross_entropy, X, y, method="pca", path=path, resolution=6)  # float32
    ref = loop_grid(um.mlp(), X, y, land)
    np.testing.assert_allclose(land.loss, ref, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(land.set_loss, [loop_loss(um.mlp(), X, y, row) for row in path], rtol=2e-5)
    # the path's projections: the plane's loss at them is the loss at origin + coords @ directions
    on_plane = land.origin + land.path @ land.directions
    np.testing.assert_allclose(land.path_loss, [loop_loss(um.mlp(), X, y, p) for p in on_plane], rtol=2e-5)
    centred = path - path.mean(0)
    top = np.linalg.svd(centred, full_matrices=False)[2][:2]
    np.testing.assert_allclose(np.abs(land.directions @ top.T), np.eye(2), atol=1e-8)  # the top two PCs
    assert land.config["center_step"] == len(path) - 1 and land.fidelity()[0] in ("faithful", "mostly", "misleading")


def reference_hessian(model, X, y) -> np.ndarray:
    m = model.double().eval()

    def f(theta):
        return F.cross_entropy(functional_call(m, unflatten(m, theta), (X.double(),)), y)

    return torch.autograd.functional.hessian(f, get_flat(m).double()).numpy()


def test_hessian_eigenvalues_of_a_tiny_model_match_autograd_hessian(monkeypatch):
    X, y = um.blobs()
    model = um.tiny()
    flat = get_flat(model).double().numpy()
    eig = np.linalg.eigvalsh(reference_hessian(um.tiny(), X, y))
    assert eig[0] < 0 < eig[-1]  # a saddle-ish start: both ends are worth checking
    exact = C.model_curvature(model, F.cross_entropy, um.blobs_loader(), None, flat)  # batch by batch
    np.testing.assert_allclose(exact.eigenvalues, eig, rtol=1e-9, atol=1e-12)
    assert exact.method == "exact" and exact.lambda_max == pytest.approx(eig[-1], rel=1e-10)
    power = C.model_curvature(model, F.cross_entropy, um.blobs_loader(), None, flat, method="power")
    assert power.lambda_max == pytest.approx(eig[-1], rel=1e-6)
    assert power.lambda_min == pytest.approx(eig[0], abs=1e-4 * abs(eig[-1]))
    # the Hessian plane, by Lanczos on Hessian-vector products as for a large model
    monkeypatch.setattr(C, "EXACT_MAX_PARAMS", 0)
    land = model_plane(model, F.cross_entropy, um.blobs_loader(), method="hessian", resolution=4,
                       dtype=torch.float64)
    np.testing.assert_allclose(land.config["hessian_eigenvalues"], eig[::-1][:2], rtol=1e-6)
    H = reference_hessian(um.tiny(), X, y)
    for d, lam in zip(land.directions, land.config["hessian_eigenvalues"]):
        np.testing.assert_allclose(H @ d, lam * d, atol=1e-5 * abs(eig[-1]))
    np.testing.assert_allclose(land.loss, loop_grid(um.tiny(), X, y, land), rtol=1e-10)


@pytest.mark.parametrize("loader", ["in order", "shuffled", "too large to keep"])
def test_hessian_vector_products_over_a_dataloader_equal_autograds_hessian_times_v(monkeypatch, loader):
    from torch.utils.data import DataLoader, TensorDataset

    X, y = um.blobs()
    data = DataLoader(TensorDataset(X, y), batch_size=25, shuffle=loader == "shuffled")
    if loader == "too large to keep":
        monkeypatch.setattr(C, "HVP_KEEP_SAMPLES", 30)  # batches run again for every product
    H = reference_hessian(um.tiny(), X, y)
    hvp = C.hvp_fn(um.tiny(), F.cross_entropy, data, None, get_flat(um.tiny()).double().numpy())
    rng = np.random.default_rng(0)
    for _ in range(3):  # later products reuse (or rebuild) what the first one made
        v = rng.standard_normal(H.shape[0])
        np.testing.assert_allclose(hvp(torch.from_numpy(v)).numpy(), H @ v, rtol=1e-10, atol=1e-12)


def test_interpolation_between_two_checkpoints_equals_a_direct_loop_and_its_barrier():
    X, y = um.blobs()
    start = get_flat(um.mlp()).double().numpy()
    end = snapshots(um.mlp(), X, y, steps=(60,), lr=0.5)[0][0]
    line = interpolation(um.mlp().eval(), F.cross_entropy, um.blobs_loader(), None, start, end,
                         t=np.linspace(-0.5, 1.5, 17), dtype=torch.float64)
    assert 0.0 in line.t and 1.0 in line.t
    ref = np.array([loop_loss(um.mlp(), X, y, (1 - t) * start + t * end) for t in line.t])
    np.testing.assert_allclose(line.loss, ref, rtol=1e-10)
    inside = (line.t >= 0) & (line.t <= 1)
    l0, l1 = ref[line.t == 0][0], ref[line.t == 1][0]
    excess = ref[inside] - ((1 - line.t[inside]) * l0 + line.t[inside] * l1)
    assert line.barrier == pytest.approx(max(0.0, excess.max()), rel=1e-10)
    assert line.barrier_t == line.t[inside][np.argmax(excess)]


def test_interpolation_with_batchnorm_statistics_interpolated_equals_a_direct_loop():
    X, y = um.digits_images()
    a = um.conv_net()
    b = um.train_briefly(um.conv_net(), X, y, 20, lr=0.3)
    sa, sb = a.state_dict(), b.state_dict()
    assert not torch.equal(sa["bn.running_var"], sb["bn.running_var"])
    t = np.array([-0.5, 0.0, 0.3, 1.0, 1.5])
    line = interpolation(a.eval(), F.cross_entropy, um.digits_loader(), None, get_flat(a).double().numpy(),
                         get_flat(b).double().numpy(), t=t, dtype=torch.float64, buffers=(sa, sb))
    m = um.SmallConv().double().eval()
    ref = []
    for tk in line.t:
        s = min(max(tk, 0.0), 1.0)  # buffers past an end are that end's
        state = {k: ((1 - tk) * sa[k].double() + tk * sb[k].double()) if k in dict(m.named_parameters())
                 else ((1 - s) * sa[k].double() + s * sb[k].double()) for k in sa if not k.endswith("tracked")}
        with torch.no_grad():
            ref.append(float(F.cross_entropy(functional_call(m, state, (X.double(),)), y)))
    np.testing.assert_allclose(line.loss, ref, rtol=1e-10)
    assert line.loss[line.t == 1][0] == pytest.approx(loop_loss(b, X, y, get_flat(b)), rel=1e-10)  # b's own loss


def test_a_checkpoint_nested_in_a_training_dict_with_dataparallel_names_loads(tmp_path):
    from backpropviz.usermodel import load_checkpoint

    trained = um.train_briefly(um.mlp(), *um.blobs(), 5)
    torch.save({"epoch": 3, "model_state_dict": {f"module.{k}": v for k, v in trained.state_dict().items()}},
               tmp_path / "ckpt.pt")
    model = load_checkpoint(um.mlp(), tmp_path / "ckpt.pt")
    np.testing.assert_array_equal(get_flat(model).numpy(), get_flat(trained).numpy())


# -- the command line ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def conv_checkpoints(tmp_path_factory):
    """Three checkpoints of the conv net along a plain training loop (BatchNorm statistics move)."""
    folder = tmp_path_factory.mktemp("ckpt")
    X, y = um.digits_images()
    model = um.conv_net()
    paths = []
    for k, steps in enumerate((0, 15, 30)):
        um.train_briefly(model, X, y, steps, lr=0.3)
        paths.append(folder / f"c{k}.pt")
        torch.save(model.state_dict(), paths[-1])
    return paths


def test_landscape_cli_of_a_conv_net_draws_its_checkpoints_and_says_what_is_fixed(cli, tmp_path, conv_checkpoints,
                                                                                drawn):
    out = tmp_path / "land"
    args = ["landscape", "--model", "usermodels:conv_net", "--data", "usermodels:digits_loader"]
    for p in conv_checkpoints:
        args += ["--checkpoint", p]
    r = cli(*args, "--method", "pca", "-r", "5", "--views", "filled", "--out", out, "--lang", "en",
            "--no-curvature", "--dtype", "float64")
    assert r.code == 0, r
    land = Landscape.load(out / "landscape.npz")
    X, y = um.digits_images()
    state = [torch.load(p, weights_only=True) for p in conv_checkpoints]
    centre = um.conv_net()
    centre.load_state_dict(state[-1])
    np.testing.assert_allclose(land.loss, loop_grid(centre, X, y, land), rtol=1e-10)
    own = []
    for s in state:  # each checkpoint's loss with its own BatchNorm statistics
        m = um.conv_net()
        m.load_state_dict(s)
        own.append(loop_loss(m, X, y, get_flat(m)))
    np.testing.assert_allclose(land.set_loss, own, rtol=1e-10)
    assert land.path.shape == (3, 2) and land.config["path_labels"] == ["c0.pt", "c1.pt", "c2.pt"]
    texts = figure_texts(drawn)
    assert "centre: c2.pt" in texts and "BatchNorm statistics (2 buffers) are c2.pt's" in texts
    assert "checkpoint" in texts and "BatchNorm statistics" in r.out


def test_landscape_cli_of_a_recording_takes_its_snapshots_as_the_path(cli, tmp_path):
    import backpropviz

    X, y = um.digits_images()
    model = um.conv_net()
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    states = {}
    with backpropviz.record(model, opt, tmp_path / "rec", steps=12, snapshots=backpropviz.every(4)) as rec:
        for step in range(12):
            if step % 4 == 0:
                states[step] = {k: v.clone() for k, v in model.state_dict().items()}
            opt.zero_grad()
            loss = F.cross_entropy(model(X), y)
            loss.backward()
            opt.step()
            rec.step(loss)
    states[12] = {k: v.clone() for k, v in model.state_dict().items()}
    r = cli("landscape", "--model", "usermodels:conv_net", "--data", "usermodels:digits_images", "--recording",
            tmp_path / "rec", "--method", "pca", "-r", "4", "--views", "filled", "--no-curvature", "--dtype", "float64",
            "--out", tmp_path / "o")
    assert r.code == 0, r
    land = Landscape.load(tmp_path / "o" / "landscape.npz")
    assert land.config["path_labels"] == ["step 0", "step 4", "step 8", "step 12"]
    own = []
    for step in (0, 4, 8, 12):  # each state's loss with its own BatchNorm statistics, read in the loop
        m = um.conv_net()
        m.load_state_dict(states[step])
        own.append(loop_loss(m, X, y, get_flat(m)))
    np.testing.assert_allclose(land.set_loss, own, rtol=1e-6)  # float32 snapshots
    np.testing.assert_allclose(land.origin, get_flat(model).double().numpy(), rtol=0, atol=0)
    r = cli("landscape", "--model", "usermodels:mlp", "--data", "usermodels:blobs", "--recording", tmp_path / "rec",
            "--out", tmp_path / "bad")
    one_line_error(r, "--recording", "was made of a model with 698 parameters; --model 'usermodels:mlp' has 51")
    assert not (tmp_path / "bad").exists()


def test_landscape_cli_of_an_mlp_in_japanese_with_its_hessian_eigenvalues(cli, tmp_path, drawn):
    out = tmp_path / "ja"
    r = cli("landscape", "--model", "usermodels:tiny", "--data", "usermodels:blobs", "--method", "hessian", "-r", "5",
            "--views", "contour", "--out", out, "--lang", "ja")
    assert r.code == 0, r
    X, y = um.blobs()
    eig = np.linalg.eigvalsh(reference_hessian(um.tiny(), X, y))
    land = Landscape.load(out / "landscape.npz")
    assert land.config["curvature"]["lambda_max"] == pytest.approx(eig[-1], rel=1e-9)
    assert land.config["curvature"]["lambda_min"] == pytest.approx(eig[0], rel=1e-9)
    assert f"{eig[-1]:.6g}" in r.out and f"{eig[0]:.6g}" in r.out and "ヘッセ行列" in r.out
    texts = figure_texts(drawn)
    assert "中心: usermodels:tiny" in texts


def test_interpolate_cli_writes_the_line_and_its_barrier(cli, tmp_path):
    X, y = um.blobs()
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    torch.save(um.mlp().state_dict(), a)
    torch.save(um.train_briefly(um.mlp(), X, y, 80, lr=0.5).state_dict(), b)
    r = cli("interpolate", "--model", "usermodels:mlp", "--data", "usermodels:blobs_loader", "--checkpoint", a,
            "--to", b, "--points", "21", "--dtype", "float64", "--out", tmp_path / "o", "--lang", "en")
    assert r.code == 0, r
    with np.load(tmp_path / "o" / "interpolation.npz", allow_pickle=False) as z:
        t, loss, start, end = z["t"], z["loss"], z["start"], z["end"]
    trained = um.train_briefly(um.mlp(), X, y, 80, lr=0.5)
    ends = [get_flat(um.mlp()).double().numpy(), get_flat(trained).double().numpy()]
    np.testing.assert_array_equal(start, ends[0])
    np.testing.assert_array_equal(end, ends[1])
    np.testing.assert_allclose(loss, [loop_loss(um.mlp(), X, y, (1 - s) * ends[0] + s * ends[1]) for s in t],
                               rtol=1e-10)
    assert "barrier height" in r.out and (tmp_path / "o" / "interpolation.png").read_bytes()[:4] == b"\x89PNG"


def _bad_inputs(tmp_path):
    X, y = um.blobs()
    torch.save(um.mlp().state_dict(), tmp_path / "mlp.pt")
    state = um.conv_net().state_dict()
    state["fc.weight"] = torch.zeros(10, 32)
    torch.save(state, tmp_path / "shape.pt")
    torch.save(um.conv_net(), tmp_path / "pickled.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    conv = ["--model", "usermodels:conv_net", "--data", "usermodels:digits_images"]

    def own(model="mlp", data="blobs", *more):
        return ["--model", f"usermodels:{model}", "--data", f"usermodels:{data}", *more]

    return {
        "raises": (own("raises"), ["raised RuntimeError", "failed on purpose"]),
        "not a module": (own("not_a_module"), ["must return an nn.Module", "dict"]),
        "no module": (["--model", "nosuchpackage.models:net", "--data", "usermodels:blobs"],
                      ["cannot import module 'nosuchpackage.models'"]),
        "no attribute": (own("nothing"), ["has no attribute 'nothing'"]),
        "another model's checkpoint": ([*conv, "--checkpoint", tmp_path / "mlp.pt"],
                                       ["does not fit", "missing keys conv.weight", "unexpected keys 0.weight"]),
        "shape mismatch": ([*conv, "--checkpoint", tmp_path / "shape.pt"],
                           ["fc.weight is (10, 32) there but (10, 64) in the model"]),
        "pickled model": ([*conv, "--checkpoint", tmp_path / "pickled.pt"], ["weights_only=True refuses"]),
        "not a checkpoint": ([*conv, "--checkpoint", tmp_path / "junk.pt"], ["is not a torch.save file"]),
        "missing checkpoint": ([*conv, "--checkpoint", tmp_path / "none.pt"], ["does not exist"]),
        "images of the wrong size": (own("conv_net", "wrong_shape_images"),
                                     ["does not fit --model", "(1, 6, 6) per sample"]),
        "targets of other rows": (own("mlp", "mismatched_rows"), ["one target per sample", "(60, 2)", "(10,)"]),
        "data of the wrong type": (own("mlp", "WRONG_TYPE"), ["must return a DataLoader", "int"]),
        "data factory raises": (own("mlp", "raises"), ["--data 'usermodels:raises' raised"]),
        "loss that does not fit": (own("mlp", "blobs", "--loss", "bce"), ["the loss does not fit"]),
        "unknown loss": (own("mlp", "blobs", "--loss", "hinge"), ["unknown --loss 'hinge'", "bce-logits"]),
        "data set name": (["--model", "usermodels:mlp", "--data", "moons"], ["takes package.module:factory", "'moons'"]),
        "pca of one checkpoint": (own("mlp", "blobs", "--method", "pca"), ["at least two --checkpoint"]),
        "params plane": (own("mlp", "blobs", "--method", "params"), ["needs a recorded run"]),
        "run options": (own("mlp", "blobs", "--epochs", "5"), ["not the options of a training run", "--epochs 5"]),
        "centre out of range": (own("mlp", "blobs", "--center-step", "3"), ["--center-step", "1 checkpoint"]),
        "memory budget too small": (own("conv_net", "digits_images", "--memory-budget", "64KiB"),
                                    ["needs about", "--memory-budget is 64.0 KiB"]),
        "checkpoint of a built-in run": (["--data", "and", "--checkpoint", tmp_path / "mlp.pt"],
                                         ["--checkpoint needs --model package.module:factory"]),
    }


def test_every_bad_input_is_one_line_exit_2_and_nothing_written(cli, tmp_path):
    for name, (args, fragments) in _bad_inputs(tmp_path).items():
        out = tmp_path / "out" / name.replace(" ", "_").replace("'", "")
        r = cli("landscape", *args, "-r", "4", "--no-curvature", "--out", out)
        one_line_error(r, *fragments)
        assert not out.exists(), name


def test_interpolate_refuses_a_checkpoint_of_another_model(cli, tmp_path):
    torch.save(um.mlp().state_dict(), tmp_path / "mlp.pt")
    torch.save(um.tiny().state_dict(), tmp_path / "tiny.pt")
    r = cli("interpolate", "--model", "usermodels:mlp", "--data", "usermodels:blobs", "--checkpoint",
            tmp_path / "mlp.pt", "--to", tmp_path / "tiny.pt", "--out", tmp_path / "o")
    one_line_error(r, "'" + str(tmp_path / "tiny.pt") + "' does not fit --model 'usermodels:mlp'", "0.weight is (3, 2)")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, fragment", [
    (["--t-range", "0.2,1.5"], "--t-range must hold [0, 1]"),
    (["--points", "2"], "--points must be an integer between 3 and 100000"),
    (["--buffers", "end"], "--buffers takes interpolate or start"),
    (["--model", "mlp:8"], "--model takes package.module:factory"),
])
def test_interpolate_refuses_bad_options_in_one_line(cli, tmp_path, args, fragment):
    torch.save(um.mlp().state_dict(), tmp_path / "a.pt")
    base = {"--model": "usermodels:mlp", "--data": "usermodels:blobs", "--checkpoint": tmp_path / "a.pt",
            "--to": tmp_path / "a.pt"}
    given = dict(zip(args[::2], args[1::2]))
    flat = [str(x) for pair in {**base, **given}.items() for x in pair]
    r = cli("interpolate", *flat, "--out", tmp_path / "o")
    one_line_error(r, fragment)
    assert not (tmp_path / "o").exists()


def test_the_installed_command_imports_tests_usermodels_from_the_current_folder(tmp_path):
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("backpropviz")
    r = subprocess.run([str(exe), "landscape", "--model", "tests.usermodels:raises", "--data", "tests.usermodels:blobs",
                        "--out", str(tmp_path / "o")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert "--model 'tests.usermodels:raises' raised RuntimeError: the factory failed on purpose" in r.stderr
