"""backpropviz serve: the live playground (web/server.py, web/live/playground.js).

The server starts on a free port and stops within a second; a request without the token is
refused; in headless Chromium the controls choose data and model, set the learning rate, play,
pause and step, and the numbers the page shows at step k are the numbers
``backpropviz.train.train`` records at step k for the same settings, bit for bit; the settings
round-trip through the URL; malformed messages get clear errors and the server goes on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from backpropviz.config import RunConfig  # noqa: E402
from backpropviz.web.server import MAX_BODY, Server  # noqa: E402
from servehelpers import assert_step_equals, get, page_link, post  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server():
    s = Server(port=0).start()
    yield s
    s.stop()


def test_server_starts_on_a_free_port_and_stops_within_a_second_with_a_stream_open():
    s = Server(port=0).start()
    assert s.host == "127.0.0.1" and s.port > 0
    status, body = get(s.url)
    assert status == 200 and b"backpropviz playground" in body
    # An open event stream (as a page holds) must not keep the server from stopping.
    stream = urllib.request.urlopen(f"{s.base}/api/events?client=t1&token={s.token}", timeout=10)
    assert stream.readline().startswith(b"retry:")
    t0 = time.perf_counter()
    s.stop()
    assert time.perf_counter() - t0 < 1.5
    assert not s.thread.is_alive()
    with pytest.raises(OSError):
        urllib.request.urlopen(s.url, timeout=2)


def test_runs_train_with_torch_on_one_thread_and_the_count_is_given_back_at_stop():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        s = Server(port=0).start()
        try:
            assert torch.get_num_threads() == 1
            pg = s.playground
            pg.command({"client": "threads", "action": "new", "play": True, "speed": 0,
                        "config": {"data": "moons", "model": "mlp:4", "batch_size": 10, "epochs": 3}})
            run = pg.clients["threads"].run
            deadline = time.monotonic() + 20
            while run.alive and time.monotonic() < deadline:  # (its whole-set losses, its steps: all small work)
                time.sleep(0.02)
                assert torch.get_num_threads() == 1
            assert run.state == "done"
        finally:
            s.stop()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_every_request_without_the_token_is_refused(server):
    base = server.base
    wrong = server.token[:-1] + ("x" if server.token[-1] != "x" else "y")  # one character off
    for path in ("/", "/static/app.js", "/live/playground.js", "/api/events?client=x", "/nothing",
                 "/?token=", "/?token=" + wrong, "/static/../server.py"):
        status, body = get(base + path)
        assert status == 403, (path, status)
    assert post(server, {"client": "a", "action": "new", "config": {}}, token=False)[0] == 403
    # The page's cookie (set with the page) stands for the token; another port's does not.
    assert get(base + "/static/app.js", {"Cookie": f"bpv_token_{server.port}={server.token}"})[0] == 200
    assert get(base + "/static/app.js", {"Cookie": f"bpv_token_1={server.token}"})[0] == 403
    assert get(f"{base}/static/app.js?token={server.token}")[0] == 200


def test_serve_command_prints_the_url_and_ctrl_c_stops_it_with_one_line():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "backpropviz", "serve", "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("backpropviz playground: http://127.0.0.1:"), line
        url = line.split(": ", 1)[1].strip()
        assert "token=" in url and get(url)[0] == 200
        base, token = url.split("/?token=")
        stream = urllib.request.urlopen(f"{base}/api/events?client=c1&token={token}", timeout=10)
        stream.readline()
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=5)
        elapsed = time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    assert proc.returncode == 130
    assert elapsed < 1.0, elapsed
    assert err.strip().splitlines() == ["backpropviz: interrupted (Ctrl-C); the playground server stopped"], err


def test_a_host_other_than_loopback_is_warned_about(cli, monkeypatch):
    import backpropviz.web.server as srv

    class Once(srv.Server):
        def start(self):
            raise KeyboardInterrupt  # stop at once: only the warning is tested

    monkeypatch.setattr(srv, "Server", Once)
    r = cli("serve", "--host", "0.0.0.0", "--port", "0")
    assert "warning: --host 0.0.0.0 lets other machines reach the playground" in r.err
    assert cli("serve", "--port", "70000").err.startswith("backpropviz: error: --port must be")


MALFORMED = [
    b"", b"{", b"not json", b"\xff\xfe", b"[]", b"3", b"null", b'"new"',
    {"action": "new", "config": {}}, {"client": "", "action": "new", "config": {}},
    {"client": "a b", "action": "new", "config": {}}, {"client": "x" * 65, "action": "new", "config": {}},
    {"client": 7, "action": "new", "config": {}}, {"client": "f", "action": "fly"}, {"client": "f"},
    {"client": "f", "action": None}, {"client": "f", "action": "new"}, {"client": "f", "action": "new", "config": []},
    {"client": "f", "action": "new", "config": "lr=1"}, {"client": "f", "action": "new", "config": {"colour": 1}},
    {"client": "f", "action": "new", "config": {"lr": "abc"}}, {"client": "f", "action": "new", "config": {"lr": -1}},
    {"client": "f", "action": "new", "config": {"lr": 0}}, {"client": "f", "action": "new", "config": {"lr": 1e400}},
    {"client": "f", "action": "new", "config": {"lr": [1]}}, {"client": "f", "action": "new", "config": {"lr": {}}},
    {"client": "f", "action": "new", "config": {"epochs": 0}}, {"client": "f", "action": "new", "config": {"epochs": 1.5}},
    {"client": "f", "action": "new", "config": {"epochs": True}},
    {"client": "f", "action": "new", "config": {"epochs": 10**12}},
    {"client": "f", "action": "new", "config": {"data": "moons", "batch_size": 1, "epochs": 5000}},
    {"client": "f", "action": "new", "config": {"data": "nope"}}, {"client": "f", "action": "new", "config": {"data": 3}},
    {"client": "f", "action": "new", "config": {"data": "csv", "csv": "/etc/passwd", "target": "x"}},
    {"client": "f", "action": "new", "config": {"model": "mlp:100000"}},
    {"client": "f", "action": "new", "config": {"model": "mlp:65"}},
    {"client": "f", "action": "new", "config": {"model": "mlp:" + ",".join(["2"] * 7)}},
    {"client": "f", "action": "new", "config": {"model": "mlp:"}}, {"client": "f", "action": "new", "config": {"model": None}},
    {"client": "f", "action": "new", "config": {"data": "moons", "n_samples": 10**6}},
    {"client": "f", "action": "new", "config": {"n_samples": -3}}, {"client": "f", "action": "new", "config": {"seed": -1}},
    {"client": "f", "action": "new", "config": {"seed": 2**40}}, {"client": "f", "action": "new", "config": {"noise": "x"}},
    {"client": "f", "action": "new", "config": {"activation": "swish"}}, {"client": "f", "action": "new", "config": {"loss": "l7"}},
    {"client": "f", "action": "new", "config": {"optimizer": "lbfgs"}},
    {"client": "f", "action": "new", "config": {"data": "iris", "loss": "bce"}},
    {"client": "f", "action": "new", "config": {"init": [1, 2]}}, {"client": "f", "action": "new", "config": {"init": "x"}},
    {"client": "f", "action": "new", "config": {"test_fraction": 1}}, {"client": "f", "action": "new", "config": {"batch_size": 0}},
    {"client": "f", "action": "new", "config": {"betas": [2, 3]}}, {"client": "f", "action": "new", "config": {"features": 5}},
    {"client": "f", "action": "play"}, {"client": "f", "action": "step"}, {"client": "f", "action": "pause"},
    {"client": "f", "action": "play", "speed": -1}, {"client": "f", "action": "play", "speed": "fast"},
    {"client": "f", "action": "play", "extra": 1},
    json.dumps({"client": "f", "action": "new", "config": {"lr": "x" * (MAX_BODY + 10)}}).encode(),
    b"[" * 5000 + b"]" * 5000,
]


def test_malformed_messages_get_clear_errors_and_the_server_goes_on(server):
    from backpropviz.train import train

    # A page trains while another sends garbage: the run goes on and records what train() records.
    good = {"data": "moons", "n_samples": 60, "model": "mlp:3", "batch_size": 10, "epochs": 40, "seed": 1}
    assert post(server, {"client": "busy", "action": "new", "config": good, "speed": 400})[0] == 200
    assert post(server, {"client": "busy", "action": "play"})[0] == 200
    answers = []
    for message in MALFORMED:
        status, answer = post(server, message)
        answers.append((message if not isinstance(message, bytes) else message[:40], status, answer))
    for message, status, answer in answers:
        assert status in (400, 413), (message, status, answer)
        assert isinstance(answer, dict) and answer.get("error"), (message, answer)
        assert "Traceback" not in answer["error"] and len(answer["error"]) < 1100
    by = {json.dumps(m, sort_keys=True): a["error"] for m, _, a in answers if isinstance(m, dict)}
    assert "--lr must be a number > 0" in by[json.dumps({"client": "f", "action": "new", "config": {"lr": -1}}, sort_keys=True)]
    assert "unknown setting 'colour'" in by[json.dumps({"client": "f", "action": "new", "config": {"colour": 1}}, sort_keys=True)]
    assert "at most 64 neurons" in by[json.dumps({"client": "f", "action": "new", "config": {"model": "mlp:65"}}, sort_keys=True)]
    # Still answering: a good run trains, and the page is served.
    status, answer = post(server, {"client": "ok", "action": "new", "config": {"data": "or", "epochs": 5}, "speed": 0})
    assert status == 200 and answer["steps"] == 5
    assert post(server, {"client": "ok", "action": "play"})[0] == 200
    run = server.playground.clients["ok"].run
    run.thread.join(10)
    assert run.status()["state"] == "done" and run.done_steps == 5
    assert get(server.url)[0] == 200
    busy = server.playground.clients["busy"].run
    busy.thread.join(20)
    assert busy.status()["state"] == "done"
    expected = train(RunConfig(**good))
    np.testing.assert_array_equal(busy.rec.params.numpy(), expected.params)
    np.testing.assert_array_equal(busy.rec.grads.numpy(), expected.grads)


def test_a_run_that_diverges_says_so_and_keeps_the_steps_before(server):
    from backpropviz.errors import TrainingDiverged
    from backpropviz.train import train

    config = {"data": "reg-plane", "loss": "mse", "lr": 50.0, "epochs": 200}
    assert post(server, {"client": "div", "action": "new", "config": config, "speed": 0})[0] == 200
    assert post(server, {"client": "div", "action": "play"})[0] == 200
    run = server.playground.clients["div"].run
    run.thread.join(20)
    with pytest.raises(TrainingDiverged) as caught:
        train(RunConfig(**config))
    status = run.status()
    assert status["state"] == "diverged" and "try a smaller --lr" in status["message"]
    assert status["steps"] == len(caught.value.history.loss) == 11
    chunk = run.chunk(0)
    from backpropviz.web.pack import decode

    np.testing.assert_array_equal(decode(chunk["params"]), caught.value.history.params[1:])


def test_a_new_run_with_play_trains_at_once_what_train_records(server):
    from backpropviz.train import train
    from backpropviz.web.pack import decode

    config = {"data": "xor", "model": "mlp:3", "lr": 0.3, "epochs": 40, "seed": 4}
    status, answer = post(server, {"client": "newplay", "action": "new", "config": config, "speed": 0, "play": True})
    assert status == 200 and answer["steps"] == 40 and answer["status"]["state"] in ("running", "done")
    run = server.playground.clients["newplay"].run
    run.thread.join(20)  # (no 'play' command is sent)
    assert run.status()["state"] == "done" and run.done_steps == 40
    history = train(RunConfig(**config))
    # The answer carries the run's first steps, as the stream sends them: what train records.
    first = answer["first"]
    n = decode(first["loss"]).shape[0]
    assert first["run"] == answer["run"] and first["from"] == 0 and 1 <= n <= 40
    np.testing.assert_array_equal(decode(first["initial"]), history.params[0])
    np.testing.assert_array_equal(decode(first["params"]), history.params[1:n + 1])
    np.testing.assert_array_equal(decode(first["loss"]), history.loss[:n])
    chunk = run.chunk(0)
    np.testing.assert_array_equal(decode(chunk["params"]), history.params[1:chunk["to"] + 1])
    # without play, a new run waits, and its answer has no steps; play must be true or false
    status, answer = post(server, {"client": "newplay", "action": "new", "config": config})
    assert status == 200 and answer["status"]["state"] == "ready" and "first" not in answer
    status, answer = post(server, {"client": "newplay", "action": "new", "config": config, "play": "yes"})
    assert status == 400 and "play must be true" in answer["error"]


def test_a_new_run_played_answers_without_steps_when_its_first_step_is_slow(monkeypatch):
    from backpropviz.web import server as srv

    pg = srv.Playground("t")
    config = {"data": "xor", "model": "mlp:3", "lr": 0.3, "epochs": 40, "seed": 4}
    # the first step held back past FIRST_STEPS_WAIT: the answer goes without it
    hold = threading.Event()
    original = srv.LiveRun._hook
    monkeypatch.setattr(srv.LiveRun, "_hook", lambda self, rec: (hold.wait(10), original(self, rec)))
    try:
        answer = pg.command({"client": "d", "action": "new", "config": config, "speed": 0, "play": True})
        run = pg.clients["d"].run
        assert "first" not in answer and answer["status"]["state"] == "running" and pg.running() == 1
        hold.set()
        run.thread.join(20)
        assert run.status()["state"] == "done" and run.done_steps == 40 and run.chunk(0) is not None
    finally:
        hold.set()
        pg.shutdown()


SETTINGS = dict(data="moons", n_samples=60, model="mlp:5", activation="relu", lr=0.1, batch_size=10, epochs=60, seed=3)


def test_the_page_trains_what_train_records_bit_for_bit(server, browser):
    from backpropviz.train import train

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    errors = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url)
        page.wait_for_function("document.documentElement.dataset.ready === '1'", timeout=20000)
        page.evaluate("window.backpropviz.idle()")
        assert page.evaluate("window.backpropviz.state()")["state"] == "ready"  # the article's run, not started

        # Choose the data and the model with the controls, set the learning rate.
        page.select_option("select[name=data]", "moons")
        page.fill("input[name=n_samples]", "60")
        page.dispatch_event("input[name=n_samples]", "change")
        page.click(".bpv-live-add-layer")   # perceptron -> mlp:4
        page.click(".bpv-live-more")        # -> mlp:5
        page.select_option("select[name=activation]", "relu")
        for name, value in (("batch_size", "10"), ("epochs", "60"), ("seed", "3"), ("lr", "-1")):
            page.fill(f"input[name={name}]", value)
            page.dispatch_event(f"input[name={name}]", "change")
        page.evaluate("window.backpropviz.idle()")
        message = page.text_content(".bpv-live-error")
        assert "--lr must be a number > 0" in message  # said on the page; nothing crashed
        page.fill("input[name=lr]", "0.1")
        page.dispatch_event("input[name=lr]", "change")
        page.select_option("select[name=speed]", "30")
        state = page.evaluate("window.backpropviz.idle()")
        assert state["state"] == "ready" and state["error"] == "" and state["total"] == 360

        expected = RunConfig(**SETTINGS)
        assert RunConfig.from_dict(page.evaluate("window.backpropviz.config()")) == expected

        # Play, then pause: the run stops part way and stays there.
        page.click(".bpv-live-play")
        page.wait_for_function("window.backpropviz.steps() >= 8", timeout=20000)
        page.click(".bpv-live-pause")
        page.wait_for_function("window.backpropviz.state().state === 'paused'", timeout=10000)
        time.sleep(0.4)
        paused = page.evaluate("window.backpropviz.steps()")
        time.sleep(0.4)
        assert page.evaluate("window.backpropviz.steps()") == paused < 360
        # One step: exactly one more.
        page.click(".bpv-live-step")
        page.wait_for_function(f"window.backpropviz.steps() === {paused + 1}", timeout=10000)
        time.sleep(0.3)
        n = page.evaluate("window.backpropviz.steps()")
        assert n == paused + 1
        assert page.evaluate("window.backpropviz.current().index") == n - 1  # the viewer follows the newest

        history = train(expected)
        for k in sorted({0, 1, n // 2, n - 1}):
            assert_step_equals(page, history, k)

        # The URL holds the settings: another tab opened on it has the same ones and the same run.
        url = page_link(page)
        assert "data=moons" in url and "model=mlp:5" in url and "lr=0.1" in url and "seed=3" in url
        other = context.new_page()
        other.goto(url)
        other.wait_for_function("document.documentElement.dataset.ready === '1'", timeout=20000)
        other.evaluate("window.backpropviz.idle()")
        assert other.evaluate("window.backpropviz.settings()") == page.evaluate("window.backpropviz.settings()")
        assert RunConfig.from_dict(other.evaluate("window.backpropviz.config()")) == expected
        other.evaluate("window.backpropviz.step()")
        other.wait_for_function("window.backpropviz.steps() === 1", timeout=10000)
        np.testing.assert_array_equal(np.array(other.evaluate("window.backpropviz.current().grad"), dtype=np.float32),
                                      history.grads[0])

        # reset: back to no steps, the same settings.
        page.evaluate("window.backpropviz.reset()")
        assert page.evaluate("window.backpropviz.idle()")["steps"] == 0
        assert errors == []
    finally:
        context.close()
