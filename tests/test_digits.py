"""--data digits (scikit-learn's 8x8 images) and the first-layer view: each unit's weights as an image."""

import numpy as np
import pytest
import sklearn.datasets
import torch
from clihelpers import one_line_error

from backpropviz.config import RunConfig
from backpropviz.data import make_dataset
from backpropviz.history import History
from backpropviz.train import model_at, train


@pytest.fixture(scope="module")
def mlp_history():
    return train(RunConfig(data="digits", model="mlp:5", loss="ce", optimizer="adam", lr=0.01, epochs=8, seed=0))


def test_digits_are_sklearns_images_scaled_to_unit_range():
    ds = make_dataset("digits")
    bunch = sklearn.datasets.load_digits()
    assert ds.X.shape == (1797, 64) and ds.n_classes == 10
    assert np.array_equal(ds.X, (bunch.data / 16).astype(np.float32))
    assert np.array_equal(ds.y, bunch.target.astype(np.float32))
    assert ds.feature_names[:2] == ("pixel_0_0", "pixel_0_1") and ds.feature_names[-1] == "pixel_7_7"
    assert ds.X.min() == 0 and ds.X.max() == 1
    assert make_dataset("digits", features=("pca",)).X.shape == (1797, 2)
    assert make_dataset("digits", features=("pixel_3_4", "pixel_4_3")).n_features == 2


def test_first_layer_images_are_the_weight_rows_of_the_model(mlp_history):
    from backpropviz.analysis.views import epoch_row, first_layer_images

    images = first_layer_images(mlp_history, [0, 3, 8])
    assert images.shape == (3, 5, 8, 8)
    for e, epoch in enumerate([0, 3, 8]):
        weight = model_at(mlp_history, epoch_row(mlp_history, epoch))[0].weight.detach()  # (5, 64)
        for unit in range(5):
            # row-major: pixel (r, c) is input 8 r + c, as scikit-learn's images.reshape(-1, 64)
            assert torch.equal(torch.from_numpy(images[e, unit]).float(), weight[unit].reshape(8, 8))
    assert not np.array_equal(images[0], images[2])  # training moved them


def test_image_shape_needs_pixel_names_in_row_major_order():
    from backpropviz.analysis.views import image_shape

    names = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    assert image_shape(names, 64) == (8, 8)
    assert image_shape(names[::-1], 64) is None
    assert image_shape(names[:2], 2) is None
    assert image_shape(["a", "b", "c", "d"], 4) is None


def test_first_layer_display_draws_each_units_weights_on_one_symmetric_scale(mlp_history):
    from backpropviz.render.firstlayer import FirstLayerDisplay

    d = FirstLayerDisplay.from_history(mlp_history, [0, 8], lang="en")
    assert len(d.thumbnails_) == 2 * 5
    weight = model_at(mlp_history, -1)[0].weight.detach().double().numpy()
    np.testing.assert_array_equal(np.asarray(d.thumbnails_[5 + 2].get_array()), weight[2].reshape(8, 8))
    lo, hi = d.thumbnails_[0].get_clim()
    assert lo == -hi and hi == pytest.approx(np.abs(d.images).max())
    assert [ax.get_title() for ax in d.axes_[0]] == [f"unit {k}" for k in range(1, 6)]
    assert d.axes_[1][0].get_ylabel() == "epoch 8"
    assert "8 x 8" in d.suptitle_.get_text()
    ja = FirstLayerDisplay.from_history(mlp_history, [0, 8], lang="ja")
    assert ja.axes_[0][0].get_title() == "ユニット 1" and ja.axes_[1][0].get_ylabel() == "エポック 8"
    assert "重み" in ja.colorbar_.ax.get_ylabel()


def test_perceptron_on_digits_shows_one_template_per_class():
    from backpropviz.render.firstlayer import FirstLayerDisplay

    h = train(RunConfig(data="digits", loss="ce", epochs=3, init=None))
    d = FirstLayerDisplay.from_history(h, lang="en")
    assert [ax.get_title() for ax in d.axes_[0]] == [f"class {k}" for k in range(10)]


def test_run_on_digits_draws_the_views_that_fit_64_inputs(cli, tmp_path):
    r = cli("run", "--data", "digits", "--model", "mlp:6", "--epochs", "4", "--optimizer", "adam", "--lr", "0.01",
            "--out", tmp_path, "--save-history", tmp_path / "h.npz", "--boundary-epochs", "0,2,4")
    assert r.code == 0, r
    written = sorted(p.name for p in tmp_path.glob("*.png"))
    assert written == ["first_layer.png", "gradient_norms.png", "metrics.png", "network.png", "trajectories.png"]
    assert "--loss ce" in r.err and "skipped the probability and hidden views" in r.err
    h = History.load(tmp_path / "h.npz")
    assert h.X.shape == (1797, 64) and h.config["loss"] == "ce"
    r = cli("plot", tmp_path / "h.npz", "--views", "first-layer", "--out", tmp_path / "p", "--lang", "ja")
    assert r.code == 0 and (tmp_path / "p" / "first_layer.png").is_file(), r


def test_first_layer_view_is_refused_for_inputs_that_are_not_an_image(cli, tmp_path):
    one_line_error(cli("run", "--data", "moons", "--model", "mlp:3", "--views", "first-layer", "--out", tmp_path),
                   "--views first-layer", "image inputs")
