"""The playground's exports (web/exports.py, web/live/exportpanel.js): the history and the offline
page of the steps recorded so far, the command line, the plain-PyTorch script and the settings.

References: ``train`` with the same settings (the history's rows, the script's printed parameters),
``backpropviz run`` through the CLI (the command line and the settings file), and what the browser
shows (the page's steps, the offline page opened from the downloaded file).
"""

from __future__ import annotations

import json
import shlex
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from backpropviz.config import RunConfig  # noqa: E402
from backpropviz.export import command_line  # noqa: E402
from backpropviz.history import History  # noqa: E402
from backpropviz.train import train  # noqa: E402
from backpropviz.web.server import Server  # noqa: E402
from servehelpers import request_raw  # noqa: E402
from test_export import printed_params, run_script  # noqa: E402

SETTINGS = dict(data="moons", n_samples=60, model="mlp:4", activation="relu", optimizer="adam", lr=0.05,
                batch_size=16, epochs=5, seed=3)


@pytest.fixture(scope="module")
def server():
    s = Server(port=0).start()
    yield s
    s.stop()


def command(server, **message):
    status, body, _ = request_raw(server, "/api/command", data=message)
    assert status == 200, body
    return json.loads(body)


def steps_of(server, client, n):
    """Make ``n`` single steps of the client's run, each finished before the next."""
    run = server.playground.clients[client].run
    for _ in range(n):
        before = run.done_steps
        command(server, client=client, action="step")
        deadline = time.monotonic() + 20
        while run.done_steps == before or run.state == "running":
            assert time.monotonic() < deadline, run.status()
            time.sleep(0.01)
    return run


def test_exports_of_a_paused_run_hold_its_steps_and_reproduce_them(server, cli, tmp_path):
    command(server, client="ex1", action="new", config=SETTINGS, speed=0)
    run = steps_of(server, "ex1", 6)  # 44 training rows in batches of 16: mid-epoch after step 6
    k = run.done_steps
    assert k == 6
    expected = train(RunConfig(**SETTINGS))

    status, body, headers = request_raw(server, f"/api/export/history?client=ex1&run={run.id}")
    assert status == 200 and headers["Content-Disposition"] == \
        'attachment; filename="backpropviz-moons-mlp4-step6.npz"'
    (tmp_path / "h.npz").write_bytes(body)
    saved = History.load(tmp_path / "h.npz")
    assert saved.n_steps == k and saved.status.startswith("exported at step 6 of ")
    np.testing.assert_array_equal(saved.params, expected.params[:k + 1])
    np.testing.assert_array_equal(saved.grads, expected.grads[:k])
    np.testing.assert_array_equal(saved.loss, expected.loss[:k])
    np.testing.assert_array_equal(saved.batches, expected.batches[:k])
    np.testing.assert_array_equal(saved.X, expected.X)

    # The script stops after step k and prints that step's parameters.
    status, script, _ = request_raw(server, f"/api/export/script?client=ex1&run={run.id}")
    assert status == 200 and b"backpropviz import" not in script
    done = run_script(script.decode(), tmp_path)
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(printed_params(done.stdout), expected.params[k])

    # The command line trains the whole run: its first k steps are the page's.
    status, line, _ = request_raw(server, f"/api/export/command?client=ex1&run={run.id}")
    line = line.decode().strip()
    assert line == command_line(RunConfig(**SETTINGS))
    r = cli(*shlex.split(line)[1:], "--views", "loss", "--out", tmp_path / "o", "--save-history", tmp_path / "c.npz")
    assert r.code == 0, r.err
    np.testing.assert_array_equal(History.load(tmp_path / "c.npz").params[:k + 1], saved.params)

    info = json.loads(request_raw(server, "/api/export/info?client=ex1")[1])
    assert info["steps"] == k and info["command"] == line and not info["needs_config"]


def test_a_learning_rate_changed_during_the_run_is_in_every_export(server, cli, tmp_path):
    command(server, client="ex2", action="new", config=dict(SETTINGS, optimizer="sgd", lr=0.2), speed=0)
    steps_of(server, "ex2", 3)
    command(server, client="ex2", action="lr", lr=0.7)
    run = steps_of(server, "ex2", 3)
    config = RunConfig(**dict(SETTINGS, optimizer="sgd", lr=0.2, lr_changes=((3, 0.7),)))
    expected = train(config)
    assert not np.array_equal(expected.params[6], train(RunConfig(**dict(SETTINGS, optimizer="sgd", lr=0.2))).params[6])

    settings = json.loads(request_raw(server, f"/api/export/config?client=ex2&run={run.id}")[1])
    assert RunConfig.from_dict(settings) == config
    info = json.loads(request_raw(server, "/api/export/info?client=ex2")[1])
    # The command line gives the change as an option (no settings file needed).
    assert not info["needs_config"] and info["command"] == command_line(config)
    args = shlex.split(info["command"], comments=True)[1:]
    assert args[0] == "run" and args[args.index("--lr-changes") + 1] == "3:0.7" and "--config" not in args
    r = cli(*args, "--views", "loss", "--out", tmp_path / "o", "--save-history", tmp_path / "c.npz")
    assert r.code == 0, r.err
    np.testing.assert_array_equal(History.load(tmp_path / "c.npz").params[:7], expected.params[:7])
    # The settings file trains the same run.
    (tmp_path / info["names"]["config"]).write_text(json.dumps(settings))
    r = cli("run", "--config", tmp_path / info["names"]["config"], "--views", "loss", "--out", tmp_path / "o2",
            "--save-history", tmp_path / "d.npz")
    assert r.code == 0, r.err
    np.testing.assert_array_equal(History.load(tmp_path / "d.npz").params, History.load(tmp_path / "c.npz").params)

    done = run_script(request_raw(server, f"/api/export/script?client=ex2&run={run.id}")[1].decode(), tmp_path)
    np.testing.assert_array_equal(printed_params(done.stdout), expected.params[6])
    body = request_raw(server, f"/api/export/history?client=ex2&run={run.id}")[1]
    saved = History.load(_npz(tmp_path, body))
    assert saved.config["lr_changes"] == [[3, 0.7]]
    np.testing.assert_array_equal(saved.params, expected.params[:7])
    np.testing.assert_array_equal(saved.lr, expected.lr[:6])


def _npz(tmp_path, body) -> str:
    path = tmp_path / "x.npz"
    path.write_bytes(body)
    return path


def test_exports_are_refused_clearly_and_the_server_goes_on(server):
    assert request_raw(server, "/api/export/history?client=ex3", token=False)[0] == 403
    status, body, _ = request_raw(server, "/api/export/history?client=ex3")
    assert status == 409 and "no run yet" in json.loads(body)["error"]
    run = command(server, client="ex3", action="new", config=SETTINGS, speed=0)["run"]
    for kind in ("history", "page"):
        status, body, _ = request_raw(server, f"/api/export/{kind}?client=ex3&run={run}")
        assert status == 409 and "no step has been recorded yet" in json.loads(body)["error"]
    # Before the first step the command line and the script are those of the whole run.
    assert request_raw(server, f"/api/export/command?client=ex3&run={run}")[1].decode().strip() == \
        command_line(RunConfig(**SETTINGS))
    status, body, _ = request_raw(server, f"/api/export/history?client=ex3&run={run + 100}")
    assert status == 409 and "not this page's run any more" in json.loads(body)["error"]
    status, body, _ = request_raw(server, "/api/export/passwords?client=ex3")
    assert status == 404 and "info, history, page, command, script, config" in json.loads(body)["error"]
    status, body, _ = request_raw(server, "/api/export/history?client=../../etc")
    assert status == 400 and "client must be an id" in json.loads(body)["error"]
    garbage = ["/api/export/history?client=ex3&run=abc", "/api/export/script?client=ex3&run=-1",
               f"/api/export/page?client=ex3&run={10**40}", "/api/export/config?client=" + "x" * 100,
               "/api/export/command", "/api/export/%00?client=ex3", "/api/export/history?client=ex3&run=1&run=2",
               "/api/export/info?client=%F0%9F%98%80", "/api/export/../../server.py?client=ex3",
               f"/api/export/command?client=ex3&run={run}&lang=xx"]
    for path in garbage:
        status, body, _ = request_raw(server, path)
        assert status in (200, 400, 404, 409), (path, status, body)
        if status != 200:
            assert json.loads(body)["error"] if body.startswith(b"{") else status == 404, (path, body)
    status, body, _ = request_raw(server, "/api/export/info?client=ex3")
    assert status == 200 and json.loads(body)["run"] == run  # the server goes on answering


def test_the_panel_downloads_what_the_page_shows_and_the_offline_page_shows_the_same_steps(
        server, browser, open_page, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    errors = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        query = "&".join(f"{k}={v}" for k, v in SETTINGS.items())
        page.goto(f"{server.url}&{query}&speed=0")
        page.wait_for_function("document.documentElement.dataset.ready === '1'", timeout=20000)
        page.evaluate("window.backpropviz.idle()")
        for n in range(1, 6):  # each step made before the next click (a click during a step is not one more)
            page.click(".bpv-live-step")
            page.wait_for_function(f"window.backpropviz.steps() === {n}", timeout=20000)
        page.wait_for_function("document.querySelector('.bpv-live-export-steps').textContent.includes(' 5 ')",
                               timeout=10000)
        shown = [page.evaluate(f"(window.backpropviz.go({k}), window.backpropviz.current())") for k in range(5)]
        expected = RunConfig.from_dict(page.evaluate("window.backpropviz.config()"))
        assert page.input_value(".bpv-live-command") == command_line(RunConfig(**SETTINGS))
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base)
        page.click(".bpv-live-copy")
        page.wait_for_function("document.querySelector('.bpv-live-copied').textContent === 'copied'", timeout=5000)
        assert page.evaluate("navigator.clipboard.readText()") == command_line(RunConfig(**SETTINGS))

        files = {}
        for kind in ("history", "page", "script", "config"):
            with page.expect_download(timeout=60000) as download:
                page.click(f".bpv-live-export-{kind}")
            files[kind] = tmp_path / download.value.suggested_filename
            download.value.save_as(files[kind])
        assert files["history"].name == "backpropviz-moons-mlp4-step5.npz"

        saved = History.load(files["history"])
        assert saved.n_steps == 5 and saved.param_names == shown[0]["names"]
        for k, step in enumerate(shown):
            np.testing.assert_array_equal(saved.params[k], np.array(step["params"], dtype=np.float32))
            np.testing.assert_array_equal(saved.grads[k], np.array(step["grad"], dtype=np.float32))
            assert saved.loss[k] == np.float32(step["loss"])
        assert RunConfig.from_dict(json.loads(files["config"].read_text())) == RunConfig(**SETTINGS)
        assert RunConfig(**SETTINGS) == RunConfig.from_dict({**expected.to_dict(), "epochs": SETTINGS["epochs"]})
        done = run_script(files["script"].read_text(), tmp_path)
        np.testing.assert_array_equal(printed_params(done.stdout), saved.params[5])

        offline = open_page(files["page"])  # opens from disk, no server
        assert offline.js("window.backpropviz.steps()") == 5
        for k in (0, 2, 4):
            step = offline.js(f"(window.backpropviz.go({k}), window.backpropviz.current())")
            assert step["params"] == shown[k]["params"] and step["grad"] == shown[k]["grad"]
        assert offline.requests == [] and offline.errors == []
        assert "the first 5 steps of the run" in offline.js("document.querySelector('.bpv-notes').textContent")

        # The panel follows the language of the page.
        page.evaluate("window.backpropviz.lang('ja')")
        page.wait_for_function("document.querySelector('.bpv-live-export legend').textContent === 'この実行を書き出す'",
                               timeout=5000)
        assert errors == []
    finally:
        context.close()
