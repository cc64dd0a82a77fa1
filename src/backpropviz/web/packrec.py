"""A recording of the user's own loop packed into the page's data (docs/page-format.md, the
optional ``recording`` section).

The viewer is the same one ``backpropviz html`` writes for a history: the steps carry the loss
(and no parameter columns: a user's model may have millions), and the ``recording`` section
carries what applies to any model, from analysis/recording_views.py: per-layer gradient norms and
update/weight ratios at every step, the weight and gradient quantiles of each layer at every
snapshot, and the path on the PCA plane. The views that need backpropviz's own model and data
(boundary, network, surface, graph, chain rule, update) are listed as left out, with the reason.
"""

from __future__ import annotations

import numpy as np

from ..analysis.recording_views import (RATIO_GUIDE, Distributions, LayerSeries, SnapshotPath, diagnose)
from ..errors import BackpropvizError
from ..i18n import CATALOGUE, LANGS
from ..render.layerstats import status_text  # texts only: no figure is made
from .pack import PAGE_FORMAT, PAGE_VERSION, encode, page_labels, spread

# The per-step arrays (4 per layer and the loss) within this many numbers; beyond it the page
# keeps a spread of the steps (the first and the last always) and says so.
MAX_STEP_FLOATS = 4_000_000
LEFT_OUT = ("boundary", "network", "surface", "surface3d", "graph", "chain", "update")


def _reason(key: str) -> dict:
    return {lg: CATALOGUE[f"page_{key}"][lg] for lg in LANGS}


def _finding_texts(rec_series) -> list[dict]:
    from ..render.layerstats import finding_text  # text only: no figure is made

    from ..i18n import t

    found = [{lg: finding_text(f, lg) for lg in LANGS} for f in diagnose(rec_series)]
    return found or [{lg: t("rec_findings_none", lg) for lg in LANGS}]


def recording_page_data(rec, *, lang: str = "en", title: str | None = None, palette: str = "default",
                        max_step_floats: int = MAX_STEP_FLOATS) -> dict:
    """The page's data for a ``Recording`` (record/reader.py) with at least one step."""
    T = len(rec.rows)
    if T == 0:
        raise BackpropvizError(f"{str(rec.path)!r}: the recording has no steps yet; there is nothing to show")
    series = LayerSeries.of(rec)
    L = len(series.names)
    kept = spread(T, max(2, max_step_floats // (4 * L + 3)))
    loss = rec.loss[kept]
    steps = {"count": int(len(kept)), "total": int(T),
             "params": encode(np.zeros((len(kept) + 1, 0))), "grads": encode(np.zeros((len(kept), 0))),
             "loss": encode(loss), "epoch": encode(np.zeros(len(kept)), "i4"),
             "whole_loss": encode(np.r_[loss, np.nan], "f8"), "lr": encode(rec.lr[kept, 0])}
    if len(kept) < T:
        steps["index"] = encode(rec.steps[kept], "i4")
    section = {
        "n_params": int(rec.n_params), "complete": bool(rec.complete), "status": rec.status,
        "status_text": {lg: status_text(rec.status, lg) for lg in LANGS},
        "layers": {"names": series.names, "guide": RATIO_GUIDE,
                   "grad_norm": encode(series.grad_norm[kept]), "weight_norm": encode(series.weight_norm[kept]),
                   "update_norm": encode(series.update_norm[kept]), "update_ratio": encode(series.update_ratio[kept]),
                   "findings": _finding_texts(series)},
        "dists": None, "path": None,
    }
    views, omitted = ["loss", "layers"], [{"view": v, "reason": _reason("rec_omit_boundary")} for v in LEFT_OUT[:1]]
    if rec.snapshot_steps:
        d = Distributions.of(rec)
        section["dists"] = {"steps": encode(d.steps, "i4"), "quantiles": list(d.quantiles), "names": d.names,
                            "sizes": d.sizes, "weights": encode(np.stack(d.weights)), "grads": encode(np.stack(d.grads))}
        views.append("dists")
    try:
        path = SnapshotPath.of(rec)
        section["path"] = {"steps": encode(path.steps, "i4"), "coords": encode(path.coords), "source": path.source,
                           "explained": [float(v) for v in path.explained],
                           "k": (rec.meta.get("projection") or {}).get("k")}
        views.append("snappath")
    except BackpropvizError:
        omitted.append({"view": "snappath", "reason": _reason("rec_omit_path")})
    groups = rec.meta.get("groups") or [{}]
    status = "completed" if rec.status == "completed" else ("incomplete" if not rec.complete else rec.status)
    config = {"data": "recording", "model": rec.meta.get("model", "").split("(")[0], "loss": "",
              "optimizer": rec.meta.get("optimizer", {}).get("class", "") if isinstance(rec.meta.get("optimizer"), dict)
              else str(rec.meta.get("optimizer", "")).split("(")[0],
              "lr": groups[0].get("lr"), "epochs": 0, "batch_size": None}
    return {
        "format": PAGE_FORMAT, "version": PAGE_VERSION, "lang": lang, "title": title or "", "palette": palette,
        "labels": page_labels(),
        "run": {"config": config, "param_names": [], "status": status,
                "model": {"kind": "recording", "activation": "", "output": "", "layers": None},
                "full_batch": True, "lr": groups[0].get("lr"), "optimizer": config["optimizer"]},
        "data": {}, "steps": steps, "epochs": {}, "surface": None, "trace": None,
        "views": views, "omitted": omitted, "recording": section,
    }
