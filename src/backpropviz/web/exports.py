"""The playground's exports of a page's run, as downloads (``backpropviz serve``): the history
file and the offline page of the steps recorded so far, the ``backpropviz run`` command line and the
plain-PyTorch script (``backpropviz.export``), and the settings as the JSON that ``run --config``
reads. Routes behind the server's token gate (``make_app`` mounts ``export_routes``):

| request | answer |
|---|---|
| ``GET /api/export/info?client=ID`` | ``{run, steps, total, command, needs_config, names}``: what the export panel shows |
| ``GET /api/export/history?client=ID&run=N`` | the history ``.npz`` of the steps so far (``History.load`` reads it; status ``exported at step k of N ...`` until the run is done) |
| ``GET /api/export/page?client=ID&run=N`` | the offline page (``.html``) of those steps, as ``backpropviz html`` writes it |
| ``GET /api/export/command?client=ID&run=N`` | the command line (``.txt``) |
| ``GET /api/export/script?client=ID&run=N`` | the script (``.py``): it stops after the steps so far and prints their parameters |
| ``GET /api/export/config?client=ID&run=N`` | the settings (``.json``) |

The steps so far are the recorder's rows as the page received them: the history's first k steps
are the page's steps 0..k-1, bit for bit. The command line and the settings describe the whole run
(every epoch, the learning rates changed before step k), so ``backpropviz run`` records at least
those steps, the same ones first; the script stops after step k, so that it prints the parameters
the page shows last. A page's ``run`` that is not its current run any more is refused (409).
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import re

import numpy as np

from ..errors import BackpropvizError

# kind -> (file suffix, media type)
KINDS = {
    "history": (".npz", "application/octet-stream"),
    "page": (".html", "text/html; charset=utf-8"),
    "command": (".txt", "text/plain; charset=utf-8"),
    "script": (".py", "text/x-python; charset=utf-8"),
    "config": (".json", "application/json"),
}


class ExportError(BackpropvizError):
    """An export that cannot be made (answered with ``status`` and this line)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def run_config(run, k: int):
    """The RunConfig of the run as trained for ``k`` steps: its settings, with the learning rates
    changed before step ``k`` (``LiveRun.plan``)."""
    plan = getattr(run, "plan", None)
    if plan is None:
        return run.config
    changes = tuple((s, lr) for s, lr in plan.changes() if s < max(k, 1))
    return dataclasses.replace(run.config, lr_changes=changes)


def history_so_far(run, k: int):
    """The History of the first ``k`` steps ``run`` has recorded (the page's steps, bit for bit)."""
    from ..history import History
    from ..models import param_names
    from ..train import history_config, prepare

    if run.history is not None and run.history.n_steps == k:
        return run.history  # finished: train's own History, per-epoch metrics included
    rec = run.rec
    if rec is None or k == 0:
        raise ExportError("no step has been recorded yet: press ► train or one step first", 409)
    config = run_config(run, k)
    train_set, test_set, model = prepare(config)
    if run.state == "diverged":
        status = f"diverged at step {k}: the steps before the loss stopped being finite"
    else:
        # The first word names the page's note (page_status_exported): the first k steps of the run.
        status = f"exported at step {k} of {run.n_steps} (the playground's run so far)"
    batches = rec.batch_array()
    return History(
        params=rec.params.numpy()[:k + 1].copy(), grads=rec.grads.numpy()[:k].copy(), loss=rec.loss[:k].copy(),
        epoch=rec.epoch[:k].copy(), param_names=param_names(model), X=train_set.X, y=train_set.y,
        config=history_config(config, train_set), status=status,
        batches=None if batches is None else rec.batches[:k].copy(), lr=rec.lr[:k].copy(),
        X_test=test_set.X if test_set is not None else None, y_test=test_set.y if test_set is not None else None,
        feature_names=list(train_set.feature_names), class_names=list(train_set.class_names))


def file_name(run, k: int, kind: str) -> str:
    """``backpropviz-moons-mlp8-8-step37.npz``: the data, the model and the steps, safe as a file name."""
    config = run.config
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{config.data}-{config.model}".replace(":", "")).strip("-.")
    return f"backpropviz-{stem}-step{k}{KINDS[kind][0]}"


def export_bytes(run, k: int, kind: str, lang: str = "en") -> bytes:
    """The file of ``kind`` for the first ``k`` steps of ``run`` (see the module's table)."""
    from ..export import command_line, pytorch_script

    config = run_config(run, k)
    if kind == "history":
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **history_so_far(run, k).to_arrays())
        return buffer.getvalue()
    if kind == "page":
        from .pack import page_data
        from .page import render_page

        return render_page(page_data(history_so_far(run, k), lang=lang)).encode("utf-8")
    if kind == "command":
        return (command_line(config, config_file=file_name(run, k, "config")) + "\n").encode("utf-8")
    if kind == "script":
        return pytorch_script(config, steps=k if 0 < k < run.n_steps else None).encode("utf-8")
    return (json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n").encode("utf-8")


def export_info(run, k: int) -> dict:
    """What the export panel shows: the command line, and the steps the files hold."""
    from ..export import command_line, settings_without_option

    config = run_config(run, k)
    return {"run": run.id, "steps": k, "total": run.n_steps, "state": run.state,
            "command": command_line(config, config_file=file_name(run, k, "config")),
            "needs_config": bool(settings_without_option(config)),
            "names": {kind: file_name(run, k, kind) for kind in KINDS}}


def export_routes(playground) -> list:
    """The Starlette routes of the exports (``GET /api/export/{kind}``) for ``playground``."""
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def current_run(request):
        client = playground.client(request.query_params.get("client"))
        run = client.run
        if run is None:
            raise ExportError("this page has no run yet: choose the settings first", 409)
        wanted = request.query_params.get("run")
        if wanted is not None and wanted != str(run.id):
            raise ExportError(f"run {wanted[:20]!r} is not this page's run any more (it is run {run.id}); "
                              "export again", 409)
        return run

    async def export(request):
        kind = request.path_params["kind"]
        if kind != "info" and kind not in KINDS:
            return JSONResponse({"error": f"an export is one of info, {', '.join(KINDS)}; got {kind[:40]!r}"},
                                status_code=404)
        lang = request.query_params.get("lang", "en")
        try:
            run = current_run(request)
            k = run.done_steps  # the steps recorded now: every file of this request holds these
            if kind == "info":
                return JSONResponse(await asyncio.to_thread(export_info, run, k), headers={"Cache-Control": "no-store"})
            body = await asyncio.to_thread(export_bytes, run, k, kind, lang if lang in ("en", "ja") else "en")
        except ExportError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except BackpropvizError as exc:
            return JSONResponse({"error": str(exc)[:1000]}, status_code=400)
        return Response(body, media_type=KINDS[kind][1],
                        headers={"Content-Disposition": f'attachment; filename="{file_name(run, k, kind)}"',
                                 "Cache-Control": "no-store"})

    return [Route("/api/export/{kind}", export)]
