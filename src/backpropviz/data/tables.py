"""Small real tables that scikit-learn ships (no download): iris, breast cancer, wine and digits.

``digits`` is scikit-learn's 1,797 handwritten digits, 8 x 8 images of 10 classes: its 64
pixel columns (``pixel_R_C``) are scaled from 0..16 to 0..1 instead of standardised, so that
an input and a first-layer weight vector still read as an image, and all 64 are the inputs
unless ``features`` says otherwise (``pca`` gives the plane of the first two components).

Features are standardised (mean 0, standard deviation 1 over all rows) so that one learning
rate suits every column. ``features`` chooses what the model sees:

- ``None`` or ``("pca",)``: the first two principal components of the standardised table,
  so that decision boundaries can be drawn in the plane (the default);
- ``("all",)``: every column;
- column names or 0-based indices, e.g. ``("petal length (cm)", "petal width (cm)")`` or ``("2", "3")``.

``n``, ``noise`` and ``seed`` do not apply (the tables are fixed).
"""

from __future__ import annotations

import numpy as np

from ..errors import BackpropvizError
from . import Dataset, register, standardize

TABLES = {"iris": "load_iris", "breast-cancer": "load_breast_cancer", "wine": "load_wine"}


def select_features(X: np.ndarray, names: list[str], features, source: str):
    """Columns of ``X`` picked by ``features`` (see the module doc); returns (X, names, how)."""
    if features is None or [str(f).lower() for f in features] == ["pca"]:
        if X.shape[1] < 2:
            return X, names, "all"
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, svd_solver="full")
        projected = pca.fit_transform(X.astype(np.float64)).astype(np.float32)
        share = pca.explained_variance_ratio_
        return projected, [f"PC1 ({share[0]:.0%})", f"PC2 ({share[1]:.0%})"], "pca"
    if [str(f).lower() for f in features] == ["all"]:
        return X, names, "all"
    lowered = {n.lower(): i for i, n in enumerate(names)}
    columns = []
    for f in features:
        key = str(f).strip()
        if key.lower() in lowered:
            columns.append(lowered[key.lower()])
        elif key.isdigit() and int(key) < len(names):
            columns.append(int(key))
        else:
            raise BackpropvizError(
                f"unknown feature {key!r} of {source}; use 'pca', 'all', or column names or 0-based "
                f"indices from: {', '.join(names)}")
    if len(set(columns)) != len(columns):
        raise BackpropvizError(f"--features names a column twice; got {', '.join(map(str, features))}")
    return X[:, columns], [names[c] for c in columns], "columns"


def _table(name: str):
    def make(*, features=None, **_options) -> Dataset:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, TABLES[name])()
        X, mean, std = standardize(bunch.data)
        X, feature_names, how = select_features(X, [str(f) for f in bunch.feature_names],
                                                features, name)
        return Dataset(name, np.ascontiguousarray(X, dtype=np.float32),
                       bunch.target.astype(np.float32), feature_names=tuple(feature_names),
                       class_names=tuple(str(c) for c in bunch.target_names),
                       meta={"kind": "table", "features": how, "standardized": True})

    make.__doc__ = (f"scikit-learn's {name} table, standardised; two principal components "
                    "unless ``features`` says otherwise.")
    return make


for _name in TABLES:
    register(_name, takes_features=True)(_table(_name))


@register("digits", takes_features=True)
def digits(*, features=None, **_options) -> Dataset:
    """scikit-learn's 8 x 8 digit images (10 classes), pixels scaled to 0..1; all 64 pixels
    unless ``features`` says otherwise."""
    import sklearn.datasets

    bunch = sklearn.datasets.load_digits()
    X = (bunch.data / 16.0).astype(np.float32)
    names = [str(f) for f in bunch.feature_names]  # pixel_R_C, row-major
    X, feature_names, how = select_features(X, names, features if features is not None else ("all",), "digits")
    return Dataset("digits", np.ascontiguousarray(X, dtype=np.float32), bunch.target.astype(np.float32),
                   feature_names=tuple(feature_names), class_names=tuple(str(c) for c in bunch.target_names),
                   meta={"kind": "table", "features": how, "standardized": False, "image_shape": (8, 8)})
