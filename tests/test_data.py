"""Data sets: one signature, determinism per seed, the split, the tables, and CSV errors."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from backpropviz.data import DATASETS, Dataset, make_dataset, train_test_split
from backpropviz.data.csvdata import from_csv
from backpropviz.data.toy import DEFAULT_NOISE
from backpropviz.errors import BackpropvizError

TOY = ["circle", "moons", "xor-blobs", "spirals", "blobs", "linear"]
TABLES = ["iris", "breast-cancer", "wine"]


def test_registry_holds_every_family_with_one_signature():
    assert {"and", "xor", *TOY, *TABLES, "csv"} <= set(DATASETS)
    for name, fn in DATASETS.items():
        params = inspect.signature(fn).parameters
        assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in params.values()), name
        assert any(p.kind == p.VAR_KEYWORD for p in params.values()), name


@pytest.mark.parametrize("name", TOY)
def test_toy_sets_are_deterministic_for_a_seed_and_differ_across_seeds(name):
    a = make_dataset(name, n=60, noise=0.1, seed=3)
    b = make_dataset(name, n=60, noise=0.1, seed=3)
    c = make_dataset(name, n=60, noise=0.1, seed=4)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)
    assert a.X.shape == (60, 2) and a.X.dtype == np.float32 and a.y.dtype == np.float32
    assert set(np.unique(a.y)) == {0.0, 1.0}
    assert abs(a.y.mean() - 0.5) <= 0.05  # both classes drawn about equally


@pytest.mark.parametrize("name", TOY)
def test_noise_moves_points_and_defaults_apply(name):
    clean = make_dataset(name, n=40, noise=0.0, seed=1)
    noisy = make_dataset(name, n=40, noise=0.5, seed=1)
    assert not np.allclose(clean.X, noisy.X)
    assert make_dataset(name, n=40, seed=1).meta["noise"] == DEFAULT_NOISE[name]


def test_toy_labels_follow_their_geometry():
    xor = make_dataset("xor-blobs", n=200, noise=0.1, seed=0)
    np.testing.assert_array_equal(xor.y, ((xor.X[:, 0] > 0) != (xor.X[:, 1] > 0)).astype(np.float32))
    circle = make_dataset("circle", n=200, noise=0.0, seed=0)
    radius = np.hypot(circle.X[:, 0], circle.X[:, 1])
    np.testing.assert_allclose(radius[circle.y == 1], 0.5, atol=1e-6)
    np.testing.assert_allclose(radius[circle.y == 0], 1.0, atol=1e-6)
    linear = make_dataset("linear", n=200, noise=0.0, seed=0)
    np.testing.assert_array_equal(linear.y, (linear.X.sum(axis=1) > 0).astype(np.float32))


def test_gates_ignore_size_noise_and_seed():
    a = make_dataset("xor", n=500, noise=0.3, seed=9)
    assert a.X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and a.y.tolist() == [0, 1, 1, 0]


@pytest.mark.parametrize("name,n_rows,n_classes", [("iris", 150, 3), ("breast-cancer", 569, 2),
                                                   ("wine", 178, 3)])
def test_tables_are_standardised_and_projected_to_two_dimensions(name, n_rows, n_classes):
    from sklearn import datasets

    ds = make_dataset(name)
    assert ds.X.shape == (n_rows, 2) and ds.n_classes == n_classes
    assert ds.feature_names[0].startswith("PC1")
    # the first component carries the most variance of the standardised table
    raw = getattr(datasets, {"iris": "load_iris", "breast-cancer": "load_breast_cancer",
                             "wine": "load_wine"}[name])().data
    z = (raw - raw.mean(0)) / raw.std(0)
    top = np.linalg.eigvalsh(np.cov(z.T, bias=True))[::-1][:2]
    np.testing.assert_allclose(ds.X.astype(np.float64).var(axis=0), top, rtol=1e-4)
    full = make_dataset(name, features=("all",))
    np.testing.assert_allclose(full.X.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(full.X.std(axis=0), 1, atol=1e-4)


def test_table_features_by_name_or_index():
    by_name = make_dataset("iris", features=("Petal Length (cm)", "petal width (cm)"))
    by_index = make_dataset("iris", features=("2", "3"))
    np.testing.assert_array_equal(by_name.X, by_index.X)
    assert by_name.feature_names == ("petal length (cm)", "petal width (cm)")
    with pytest.raises(BackpropvizError, match="unknown feature 'petal' of iris.*sepal length"):
        make_dataset("iris", features=("petal",))


def test_split_is_stratified_seeded_and_disjoint():
    ds = make_dataset("iris", features=("all",))
    train, test = train_test_split(ds, 0.2, seed=1)
    assert len(train.y) == 120 and len(test.y) == 30
    assert np.bincount(test.y.astype(int)).tolist() == [10, 10, 10]
    rows = set(train.meta["rows"]) | set(test.meta["rows"])
    assert rows == set(range(150)) and not set(train.meta["rows"]) & set(test.meta["rows"])
    again, _ = train_test_split(ds, 0.2, seed=1)
    other, _ = train_test_split(ds, 0.2, seed=2)
    assert again.meta["rows"] == train.meta["rows"] != other.meta["rows"]
    assert train_test_split(ds, 0.0, seed=1) == (ds, None)
    with pytest.raises(BackpropvizError, match="test-fraction"):
        train_test_split(ds, 1.0, seed=1)


def test_unknown_name_and_bad_sizes_are_explained():
    with pytest.raises(BackpropvizError, match="unknown data set 'moon'; choose one of: .*moons"):
        make_dataset("moon")
    with pytest.raises(BackpropvizError, match="--n-samples"):
        make_dataset("moons", n=1)
    with pytest.raises(BackpropvizError, match="--noise"):
        make_dataset("moons", noise=-1.0)


# -- CSV -------------------------------------------------------------------------------------

def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_reads_features_and_text_classes(tmp_path):
    path = write(tmp_path, "a,b,c,kind\n1,2,9,cat\n2,4,8,dog\n3,6,7,cat\n\n4,8,6,bird\n")
    ds = make_dataset("csv", path=path, target="kind", features=("a", "b"))
    assert isinstance(ds, Dataset) and ds.feature_names == ("a", "b")
    assert ds.class_names == ("bird", "cat", "dog") and ds.y.tolist() == [1, 2, 1, 0]
    a = np.array([1, 2, 3, 4.0])
    np.testing.assert_allclose(ds.X[:, 0], (a - a.mean()) / a.std(), rtol=1e-6)
    every = make_dataset("csv", path=path, target="KIND")
    assert every.feature_names == ("a", "b", "c")


def test_csv_numeric_classes_sort_by_value(tmp_path):
    path = write(tmp_path, "x,y,label\n0,1,10\n1,0,2\n1,1,10\n")
    ds = from_csv(path=path, target="label")
    assert ds.class_names == ("2", "10") and ds.y.tolist() == [1, 0, 1]


@pytest.mark.parametrize("text,options,message", [
    ("a,b,t\n1,2,0\n3,,1\n", {}, r"row 2 \(line 3\), column 'b': missing value"),
    ("a,b,t\n1,2,0\n3,NA,1\n", {}, r"row 2 \(line 3\), column 'b': missing value"),
    ("a,b,t\n1,2,0\n3,4,1\nx,5,0\n", {}, r"row 3 \(line 4\), column 'a': expected a finite number, got 'x'"),
    ("a,b,t\n1,2,0\n3,4,\n", {}, r"row 2 \(line 3\), column 't': the target is missing"),
    ("a,b,t\n1,2,0\n3,4,0\n", {}, r"target column 't' holds one class only \('0'\)"),
    ("a,b,t\n1,2,0\n3,4,1\n5,6,0\n", {"max_rows": 2}, r"row 3 \(line 4\) is past the limit of 2"),
    ("a,b,t\n1,2,0\n3,4\n", {}, r"row 2 \(line 3\) has 2 fields; the header has 3"),
    ("a,b,t\n1,2,0\n", {"target": "class"}, r"no column 'class' for --target; columns: a, b, t"),
    ("a,b,t\n1,2,0\n3,4,1\n", {"features": ("a", "z")}, r"no column 'z' for --features"),
    ("", {}, r"is empty"),
    ("a,b,t\n", {}, r"no data rows"),
])
def test_csv_errors_name_row_and_column(tmp_path, text, options, message):
    path = write(tmp_path, text)
    kwargs = {"target": "t", **options}
    with pytest.raises(BackpropvizError, match=message):
        make_dataset("csv", path=path, **kwargs)


def test_csv_missing_file(tmp_path):
    with pytest.raises(BackpropvizError, match="does not exist"):
        make_dataset("csv", path=tmp_path / "nope.csv", target="t")
