"""The playground's controls and live settings (web/live/playground.js, web/server.py).

The learning rate applies now: changed while a run trains, the server applies it from the next
step and keeps it as a change at that step (RunConfig.lr_changes), so ``config()`` of the page
(epochs = the epochs begun) trained by ``backpropviz.train.train`` gives the page's steps bit for
bit, and the page's URL opens the same run. The optimiser's hyperparameters, the schedule, L1/L2
and the initialisation reach training (the page's step 0 equals train()'s); bad values get the
CLI's message on the page. Every control's text comes from the catalogue in the viewer's language.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from backpropviz.config import RunConfig  # noqa: E402
from backpropviz.i18n_live import LIVE  # noqa: E402
from backpropviz.train import train  # noqa: E402
from backpropviz.web.server import Server  # noqa: E402
from servehelpers import assert_step_equals, open_playground, page_link, post, shown_step  # noqa: E402


@pytest.fixture(scope="module")
def server():
    s = Server(port=0).start()
    yield s
    s.stop()


def wait(predicate, timeout=20.0):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


# -- the server's "lr" action ---------------------------------------------------------------------

RUN = {"data": "moons", "n_samples": 60, "model": "mlp:4", "batch_size": 10, "epochs": 20, "seed": 2, "lr": 0.1}


def test_an_lr_sent_while_paused_applies_at_the_next_step_and_the_run_equals_train_of_its_changes(server):
    assert post(server, {"client": "lr1", "action": "new", "config": RUN, "speed": 0})[0] == 200
    run = server.playground.clients["lr1"].run
    for i in range(7):  # seven single steps: paused after step 6, the worker waiting in its hook
        assert post(server, {"client": "lr1", "action": "step"})[0] == 200
        wait(lambda: run.state == "paused" and run.done_steps == i + 1 and run._in_hook)
    assert run.done_steps == 7
    status, answer = post(server, {"client": "lr1", "action": "lr", "lr": 0.9})
    assert status == 200 and answer["lr_changes"] == [[7, 0.9]]  # known at once: the step is not under way
    assert post(server, {"client": "lr1", "action": "play"})[0] == 200
    run.thread.join(20)
    assert run.status()["state"] == "done" and run.status()["lr_changes"] == [[7, 0.9]]
    expected = train(RunConfig(**{**RUN, "lr_changes": [[7, 0.9]]}))
    np.testing.assert_array_equal(run.rec.params.numpy(), expected.params)
    np.testing.assert_array_equal(run.rec.lr, expected.lr)
    assert expected.lr[6] == np.float64(0.1) and expected.lr[7] == np.float64(0.9)


def test_an_lr_sent_while_a_paced_run_waits_for_its_next_step_trains_that_step_at_once_with_it(server):
    # One step a second: after its first step, the worker waits for the next one's slot.
    assert post(server, {"client": "lr2", "action": "new", "config": RUN, "speed": 1, "play": True})[0] == 200
    run = server.playground.clients["lr2"].run
    wait(lambda: run.done_steps == 1 and run._in_hook)
    slot = run._next  # (when step 1 would be made, paced)
    status, answer = post(server, {"client": "lr2", "action": "lr", "lr": 0.9})
    assert status == 200 and answer["lr_changes"] == [[1, 0.9]]  # at the step not made yet
    wait(lambda: run.done_steps >= 2, timeout=slot - time.perf_counter() + 20)
    made = time.perf_counter()
    post(server, {"client": "lr2", "action": "pause"})
    assert made < slot  # made at once, not at its slot
    assert run.rec.lr[0] == 0.1 and run.rec.lr[1] == 0.9


@pytest.mark.parametrize("lr,message", [
    (-1, "lr: the lr at step 0 must be a number > 0"), (0, "must be a number > 0"), ("fast", "got 'fast'"),
    (None, "got None"), (True, "got True"), ([1], "got [1]"), (1e39, "float32's largest"),
])
def test_a_bad_lr_is_refused_with_one_line_and_the_run_goes_on(server, lr, message):
    assert post(server, {"client": "lr2", "action": "new", "config": RUN, "speed": 0})[0] == 200
    status, answer = post(server, {"client": "lr2", "action": "lr", "lr": lr})
    assert status == 400 and message in answer["error"] and "Traceback" not in answer["error"]
    assert server.playground.clients["lr2"].run.lr_changes() == []


def test_an_lr_for_a_run_that_ended_or_without_one_says_what_to_do(server):
    assert post(server, {"client": "lr3", "action": "lr", "lr": 0.2})[1]["error"].startswith("action 'lr' needs a run")
    assert post(server, {"client": "lr3", "action": "new", "config": {"epochs": 3}, "speed": 0})[0] == 200
    assert post(server, {"client": "lr3", "action": "lr"})[1]["error"].startswith("action 'lr' needs an lr")
    assert post(server, {"client": "lr3", "action": "play"})[0] == 200
    run = server.playground.clients["lr3"].run
    run.thread.join(10)
    status, answer = post(server, {"client": "lr3", "action": "lr", "lr": 0.2})
    assert status == 400 and "the run has ended (done); a new learning rate starts a new run" in answer["error"]


def test_an_lr_pushed_past_2_over_lambda_max_while_training_makes_the_run_diverge_as_run_config_does(server):
    from backpropviz.errors import TrainingDiverged

    # Linear regression with MSE: the Hessian is (2/N) [X 1]^T [X 1] at every point, so full-batch
    # gradient descent converges below lr = 2/lambda_max and diverges above it.
    base = {"data": "reg-plane", "loss": "mse", "optimizer": "sgd", "epochs": 3000}
    X = train(RunConfig(**{**base, "epochs": 1})).X.astype(np.float64)
    Xa = np.hstack([X, np.ones((len(X), 1))])
    edge = 2.0 / np.linalg.eigvalsh(2.0 / len(X) * Xa.T @ Xa).max()
    config = {**base, "lr": float(0.5 * edge)}
    assert post(server, {"client": "edge", "action": "new", "config": config, "speed": 0})[0] == 200
    run = server.playground.clients["edge"].run
    for i in range(30):
        assert post(server, {"client": "edge", "action": "step"})[0] == 200
        wait(lambda: run.state == "paused" and run.done_steps == i + 1 and run._in_hook)
    calm = run.rec.loss[:30].copy()
    assert np.all(np.diff(calm) < 0)  # below the edge: the loss falls at every step
    assert post(server, {"client": "edge", "action": "lr", "lr": float(1.5 * edge)})[1]["lr_changes"] == [[30, 1.5 * edge]]
    assert post(server, {"client": "edge", "action": "play"})[0] == 200
    run.thread.join(30)
    status = run.status()
    assert status["state"] == "diverged" and 30 < status["steps"] < 3000
    with pytest.raises(TrainingDiverged) as caught:
        train(RunConfig(**{**config, "lr_changes": status["lr_changes"]}))
    history = caught.value.history
    assert len(history.loss) == status["steps"]
    np.testing.assert_array_equal(run.rec.params.numpy()[:status["steps"] + 1], history.params)
    assert history.loss[-1] > 1e6 * history.loss[30]  # past the edge it grew until it overflowed


# -- in the browser -------------------------------------------------------------------------------

SETTINGS = dict(data="moons", n_samples=60, model="mlp:5", activation="tanh", optimizer="momentum", lr=0.05,
                batch_size=10, epochs=60, seed=3)


def test_lr_changed_mid_run_config_trains_the_pages_steps_bit_for_bit_and_the_url_opens_the_same_run(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        query = "&".join(f"{k}={v}" for k, v in SETTINGS.items())
        page, errors = open_playground(context, f"{server.url}&{query}&speed=60")
        assert page.get_attribute(".bpv-live-now", "data-applies") == "now"
        assert page.locator(".bpv-live-now input[name=lr]").count() == 1  # the lr sits with what applies now
        assert page.locator(".bpv-live-training[data-applies=new-run] select[name=optimizer]").count() == 1
        page.click(".bpv-live-play")
        page.wait_for_function("window.backpropviz.steps() >= 15", timeout=20000)
        page.fill("input[name=lr]", "1.5")  # while it trains
        page.dispatch_event("input[name=lr]", "change")
        page.wait_for_function("window.backpropviz.config().lr_changes.length === 1", timeout=20000)
        changed_at = page.evaluate("window.backpropviz.config().lr_changes[0][0]")
        page.wait_for_function(f"window.backpropviz.steps() >= {changed_at + 20}", timeout=30000)
        assert page.evaluate("window.backpropviz.state().state") == "running"  # the same run went on
        page.click(".bpv-live-pause")
        page.wait_for_function("window.backpropviz.state().state === 'paused'", timeout=10000)
        time.sleep(0.5)
        n = page.evaluate("window.backpropviz.steps()")
        config = page.evaluate("window.backpropviz.config()")
        assert config["lr_changes"] == [[changed_at, 1.5]] and 15 <= changed_at < n
        epoch_last = shown_step(page, n - 1)["epoch"]
        assert config["epochs"] == epoch_last + 1 < SETTINGS["epochs"]  # the epochs begun so far
        note = page.text_content(".bpv-live-lr-note")
        assert f"step {changed_at} → 1.5" in note

        history = train(RunConfig(**config))
        assert len(history.loss) >= n
        assert history.lr[changed_at - 1] == np.float64(0.05) and history.lr[changed_at] == np.float64(1.5)
        for k in sorted({0, changed_at - 1, changed_at, changed_at + 1, n - 1}):
            assert_step_equals(page, history, k)

        # The link holds the change: another tab trains the same run (all epochs, the change at its step).
        url = page_link(page)
        assert f"lr_changes={changed_at}:1.5" in url
        other, other_errors = open_playground(context, url)
        assert other.evaluate("window.backpropviz.settings()")["lr_changes"] == [[changed_at, 1.5]]
        other.select_option("select[name=speed]", "0")
        other.evaluate("window.backpropviz.play()")
        other.wait_for_function("window.backpropviz.state().state === 'done'", timeout=60000)
        whole = train(RunConfig(**{**config, "epochs": SETTINGS["epochs"]}))
        assert other.evaluate("window.backpropviz.steps()") == len(whole.loss)
        for k in (changed_at, n - 1, len(whole.loss) - 1):
            assert_step_equals(other, whole, k)

        # A new run (reset) starts with the learning rate shown and no changes.
        page.evaluate("window.backpropviz.reset()")
        page.evaluate("window.backpropviz.idle()")
        assert page.evaluate("window.backpropviz.settings()")["lr"] == 1.5
        assert page.evaluate("window.backpropviz.config()")["lr_changes"] == []
        assert "lr_changes" not in page_link(page)
        assert errors == [] and other_errors == []
    finally:
        context.close()


def test_hyperparameters_schedule_penalties_and_init_reach_training_and_bad_ones_are_said(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page, errors = open_playground(context, server.url + "&data=xor&epochs=30")

        def visible(name):
            return page.locator(f"[data-field={name}]").is_visible()

        def set_field(name, value):
            page.fill(f"input[name={name}]", value)
            page.dispatch_event(f"input[name={name}]", "change")
            return page.evaluate("window.backpropviz.idle()")

        # SGD takes momentum and weight decay; Adam its betas and eps, not momentum.
        assert visible("momentum") and visible("weight_decay") and not visible("beta1") and not visible("eps")
        set_field("momentum", "0.5")
        page.select_option("select[name=optimizer]", "adam")
        page.evaluate("window.backpropviz.idle()")
        assert not visible("momentum") and visible("beta1") and visible("beta2") and visible("eps")
        assert page.get_attribute("input[name=beta2]", "placeholder") == "0.999"
        assert page.evaluate("window.backpropviz.settings()")["momentum"] is None  # dropped with sgd
        set_field("beta1", "0.8")
        set_field("eps", "1e-6")
        # RMSprop: alpha; a bad one gets the CLI's message on the page.
        page.select_option("select[name=optimizer]", "rmsprop")  # keeps eps, drops the betas
        page.evaluate("window.backpropviz.idle()")
        assert visible("alpha") and not visible("beta1")
        state = set_field("alpha", "1.5")
        assert "--alpha for rmsprop must be in [0, 1); got 1.5" in state["error"]
        assert "--alpha for rmsprop must be in [0, 1)" in page.text_content(".bpv-live-error")
        set_field("alpha", "0.9")
        # The schedule shows its own settings.
        assert not visible("step_size") and not visible("lr_min")
        page.select_option("select[name=schedule]", "step")
        page.evaluate("window.backpropviz.idle()")
        assert visible("step_size") and visible("gamma") and not visible("lr_min")
        set_field("step_size", "5")
        set_field("gamma", "0.5")
        set_field("l2", "0.01")
        set_field("l1", "0.002")
        # The perceptron's start values.
        assert visible("init_values") and page.input_value("select[name=init_mode]") == "values"
        set_field("init_w1", "0.5")
        state = page.evaluate("window.backpropviz.idle()")
        assert state["error"] == ""
        config = page.evaluate("window.backpropviz.config()")
        expected = RunConfig(data="xor", epochs=30, optimizer="rmsprop", alpha=0.9, eps=1e-6, schedule="step", step_size=5,
                             gamma=0.5, l1=0.002, l2=0.01, init=(0.5, 1.0, 0.0))
        assert RunConfig.from_dict(config) == expected
        page.evaluate("window.backpropviz.step()")
        page.wait_for_function("window.backpropviz.steps() === 1", timeout=10000)
        assert_step_equals(page, train(expected), 0)
        # A network: a scheme for its weights (the start values go), normal with its scale.
        page.click(".bpv-live-add-layer")
        page.evaluate("window.backpropviz.idle()")
        assert not visible("init_values")
        assert page.locator("select[name=init_mode] option[value=values]").is_disabled()
        page.select_option("select[name=init_mode]", "normal")
        page.evaluate("window.backpropviz.idle()")
        set_field("init_scale", "0.3")
        config = page.evaluate("window.backpropviz.config()")
        assert config["init_scheme"] == "normal:0.3" and config["init"] is None and config["model"] == "mlp:4"
        page.evaluate("window.backpropviz.step()")
        page.wait_for_function("window.backpropviz.steps() === 1", timeout=10000)
        assert_step_equals(page, train(RunConfig.from_dict(config)), 0)
        assert "init_scheme=normal:0.3" in page_link(page) and "alpha=0.9" in page_link(page)
        assert errors == []
    finally:
        context.close()


def test_a_perceptron_with_more_than_three_parameters_offers_no_w1_w2_b_start(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page, errors = open_playground(context, server.url + "&data=iris&loss=ce&epochs=5")
        assert page.evaluate("window.backpropviz.state().error") == ""
        # Nine parameters (three classes): it starts from torch's default, as backpropviz run does.
        assert page.input_value("select[name=init_mode]") == "random"
        assert page.locator("select[name=init_mode] option[value=values]").is_disabled()
        assert not page.locator("[data-field=init_values]").is_visible()
        page.evaluate("window.backpropviz.step()")
        page.wait_for_function("window.backpropviz.steps() === 1", timeout=10000)
        config = page.evaluate("window.backpropviz.config()")
        assert_step_equals(page, train(RunConfig.from_dict(config)), 0)
        assert errors == []
    finally:
        context.close()


def catalogue(lang, key):
    return LIVE["page_live_" + key][lang]


def test_every_control_text_comes_from_the_catalogue_in_the_viewers_language(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page, errors = open_playground(context, server.url + "&data=moons&model=mlp:3&epochs=5#lang=ja")
        assert page.evaluate("window.backpropviz.state().lang") == "ja"
        assert page.evaluate("document.documentElement.lang") == "ja"

        def texts():
            return page.evaluate("""() => ({
              legends: [...document.querySelectorAll('.bpv-live-group legend')].map((e) => e.textContent),
              labels: Object.fromEntries([...document.querySelectorAll('.bpv-live-field[data-field]')]
                .map((e) => [e.dataset.field, e.firstElementChild.textContent])),
              buttons: ['play', 'pause', 'step', 'reset', 'add-layer', 'remove-layer']
                .map((c) => document.querySelector('.bpv-live-' + c).textContent),
              status: document.querySelector('.bpv-live-status').textContent,
              legend: document.querySelector('.bpv-live-legend').textContent,
            })""")

        ja = texts()
        assert ja["legends"][0] == f"{catalogue('ja', 'group_now')} {catalogue('ja', 'applies_now')}"
        assert ja["legends"][1] == f"{catalogue('ja', 'group_data')} {catalogue('ja', 'new_run')}"
        assert ja["labels"]["lr"] == "学習率" and ja["labels"]["optimizer"] == "最適化手法"  # written by hand
        for field, label in ja["labels"].items():
            key = {"init_values": None, "speed": "speed"}.get(field, "field_" + field)
            if key:
                assert label == catalogue("ja", key), field
        assert ja["buttons"][:4] == [catalogue("ja", k) for k in ("train", "pause", "step", "reset")]
        assert ja["buttons"][4:6] == [catalogue("ja", "add_layer"), catalogue("ja", "remove_layer")]
        assert ja["status"] == catalogue("ja", "status_ready").format(total=5)  # moons, full batch: one step an epoch
        assert ja["legend"] == catalogue("ja", "legend")
        assert not re.search(r"[A-Za-z]{3,}", " ".join(ja["legends"] + ja["buttons"] + [ja["status"]]))

        # The viewer's language button switches the controls too (and back, from the API).
        page.evaluate("window.backpropviz.step()")
        page.wait_for_function("window.backpropviz.steps() === 1", timeout=10000)
        page.click(".bpv-lang")
        page.wait_for_function("window.backpropviz.state().lang === 'en'", timeout=5000)
        en = texts()
        assert en["labels"]["lr"] == "learning rate" and en["legends"][0] == "while it trains applies now"
        assert page.text_content(".bpv-title") == catalogue("en", "title")
        page.evaluate("window.backpropviz.lang('ja')")
        assert texts()["labels"] == ja["labels"]
        assert page.evaluate("window.backpropviz.current().lang") == "ja"  # the viewer follows the controls
        assert errors == []
    finally:
        context.close()


def test_the_pages_font_subset_holds_every_japanese_character_of_the_controls():
    from fontTools.ttLib import TTFont
    import base64
    import io

    from backpropviz.render.fonts import japanese_font_path
    from backpropviz.web.server import _font_css

    css = _font_css()
    woff = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)", css).group(1))
    subset = TTFont(io.BytesIO(woff)).getBestCmap()
    full = TTFont(str(japanese_font_path())).getBestCmap()
    chars = {c for v in LIVE.values() for c in v["ja"] if ord(c) > 0x7F}
    assert "学" in chars and "率" in chars
    missing = sorted(c for c in chars if ord(c) in full and ord(c) not in subset)
    assert missing == []
    # The two the font lacks (the play and pause marks) are drawn by the system's fonts.
    assert sorted(c for c in chars if ord(c) not in full) == ["►", "❚"]


# -- steps add up, the newest state wins, cosine runs cut short, the fields a data set uses --------

def test_quick_step_commands_add_up_to_as_many_steps(server):
    assert post(server, {"client": "steps5", "action": "new", "config": RUN, "speed": 4})[0] == 200
    run = server.playground.clients["steps5"].run
    for _ in range(5):  # all sent while the first step waits for its slot (a quarter of a second)
        assert post(server, {"client": "steps5", "action": "step"})[0] == 200
    wait(lambda: run.state == "paused" and run._in_hook)
    time.sleep(0.5)
    assert run.state == "paused" and run.done_steps == 5
    np.testing.assert_array_equal(run.rec.params.numpy()[:6], train(RunConfig(**RUN)).params[:6])
    run.halt()  # a paused run holds one of the server's MAX_RUNS places
    run.thread.join(10)


def stop_earlier_runs(server):
    """Stop the runs earlier tests left paused (their pages closed, still within the orphan grace):
    each holds one of the server's MAX_RUNS places."""
    for client in list(server.playground.clients.values()):
        if client.run is not None:
            client.run.halt()
    wait(lambda: server.playground.running() == 0)


# The answers to "step" come late (after the step's own status event): the newest state must win.
DELAY_STEP_ANSWERS = """
const plainFetch = window.fetch;
window.fetch = async (url, options) => {
  const answer = await plainFetch(url, options);
  if (String(url).includes("/api/command") && String(options && options.body).includes('"action":"step"')) {
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
  return answer;
};
"""


def test_the_newest_state_wins_when_a_commands_answer_comes_after_the_status_event(server, browser):
    stop_earlier_runs(server)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(DELAY_STEP_ANSWERS)
    try:
        page, errors = open_playground(context, f"{server.url}&data=xor&model=mlp:3&epochs=50&lr=0.05&speed=0")
        for i in range(3):
            page.evaluate("window.backpropviz.step()")
            page.evaluate("window.backpropviz.idle()")  # the late answer has been read
            page.wait_for_function(f"window.backpropviz.steps() >= {i + 1}", timeout=20000)
            time.sleep(0.3)
            assert page.evaluate("window.backpropviz.steps()") == i + 1
            assert page.evaluate("window.backpropviz.state().state") == "paused"
            assert page.is_enabled(".bpv-live-play") and page.is_disabled(".bpv-live-pause")
        assert "lr 0.05 ·" in page.text_content(".bpv-subtitle")  # the lr in force is the start's (float32)
        assert errors == []
    finally:
        context.close()


COSINE = dict(data="moons", n_samples=60, model="mlp:4", optimizer="sgd", lr=0.5, schedule="cosine", lr_min=0.01,
              batch_size=20, epochs=200, seed=5)  # 600 steps: still training when paused


def test_a_cosine_run_paused_part_way_config_trains_the_pages_steps_and_its_script_the_same_parameters(
        server, browser, tmp_path):
    stop_earlier_runs(server)
    import subprocess
    import sys

    from backpropviz.export import parse_script_output, pytorch_script

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        query = "&".join(f"{k}={v}" for k, v in COSINE.items())
        page, errors = open_playground(context, f"{server.url}&{query}&speed=60")
        assert page.is_visible("[data-field=schedule_epochs]")  # the cosine schedule's own length
        page.click(".bpv-live-play")
        page.wait_for_function("window.backpropviz.steps() >= 25", timeout=20000)
        page.click(".bpv-live-pause")
        page.wait_for_function("window.backpropviz.state().state === 'paused'", timeout=10000)
        time.sleep(0.5)
        n = page.evaluate("window.backpropviz.steps()")
        config = page.evaluate("window.backpropviz.config()")
        assert config["epochs"] < COSINE["epochs"] and config["schedule_epochs"] == COSINE["epochs"]
        history = train(RunConfig(**config))
        assert len(history.loss) >= n
        np.testing.assert_array_equal(history.lr[:n], train(RunConfig(**COSINE)).lr[:n])
        for k in (0, n // 2, n - 1):
            assert_step_equals(page, history, k)

        script = tmp_path / "cosine.py"
        script.write_text(pytorch_script(RunConfig(**config)), encoding="utf-8")
        done = subprocess.run([sys.executable, "-I", str(script)], cwd=tmp_path, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        printed = np.concatenate([np.asarray(v, dtype=np.float64).reshape(-1)
                                  for v in parse_script_output(done.stdout).values()]).astype(np.float32)
        np.testing.assert_array_equal(printed, history.params[-1])
        assert errors == []
    finally:
        context.close()


def test_samples_and_noise_show_for_toy_sets_only_and_the_subtitle_shows_the_lr_in_force(server, browser):
    stop_earlier_runs(server)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page, errors = open_playground(context, f"{server.url}&data=and&epochs=400&speed=60")
        for lang in ("en", "ja"):
            page.evaluate(f"window.backpropviz.lang('{lang}')")
            assert page.is_hidden("[data-field=n_samples]") and page.is_hidden("[data-field=noise]")
            assert page.text_content(".bpv-live-fixed-rows") == catalogue(lang, "fixed_rows")
            assert page.is_visible(".bpv-live-fixed-rows")
        page.evaluate("window.backpropviz.lang('en')")
        page.select_option("select[name=data]", "moons")
        page.evaluate("window.backpropviz.idle()")
        assert page.is_visible("[data-field=n_samples]") and page.is_visible("[data-field=noise]")
        assert page.is_hidden(".bpv-live-fixed-rows")
        page.select_option("select[name=data]", "xor")
        page.evaluate("window.backpropviz.idle()")
        assert page.is_hidden("[data-field=n_samples]")

        page.click(".bpv-live-play")
        page.wait_for_function("window.backpropviz.steps() >= 5", timeout=20000)
        assert "lr 0.5 ·" in page.text_content(".bpv-subtitle")
        page.fill("input[name=lr]", "1.5")
        page.dispatch_event("input[name=lr]", "change")
        page.wait_for_function("window.backpropviz.config().lr_changes.length === 1", timeout=20000)
        at = page.evaluate("window.backpropviz.config().lr_changes[0][0]")
        page.wait_for_function(f"window.backpropviz.steps() >= {at + 3}", timeout=20000)
        page.evaluate("window.backpropviz.pause()")
        page.wait_for_function("window.backpropviz.state().state === 'paused'", timeout=10000)
        time.sleep(0.3)
        subtitle = page.text_content(".bpv-subtitle")
        assert "lr 0.5 → 1.5 ·" in subtitle
        assert f"· {page.evaluate('window.backpropviz.steps()')} / 400 steps" in subtitle  # xor: 1 step an epoch
        # Stopping at a step traces it and rebuilds the views: the charts' cursor lines are at that step.
        n = page.evaluate("window.backpropviz.steps()")
        for k in (2, n - 1):
            page.evaluate(f"window.backpropviz.go({k})")
            time.sleep(1.0)
            lines = page.eval_on_selector_all(".bpv-cursor", "ls => ls.map(l => [l.style.left, l.dataset.step])")
            assert lines and all(left.endswith("px") and step == str(k) for left, step in lines), lines
        assert errors == []
    finally:
        context.close()


def test_the_layer_buttons_add_and_remove_neurons_and_layers_in_place(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page, errors = open_playground(context, server.url + "&data=moons&epochs=5")
        model = lambda: page.evaluate("window.backpropviz.idle()") and page.evaluate("window.backpropviz.config().model")
        counts = lambda: page.locator(".bpv-live-layer .bpv-live-neurons").all_text_contents()
        page.click(".bpv-live-add-layer")
        page.click(".bpv-live-add-layer")
        assert model() == "mlp:4,4"
        page.evaluate("document.querySelector(\".bpv-live-layer[data-layer='1']\").dataset.mark = 'kept'")
        page.click(".bpv-live-layer[data-layer='1'] .bpv-live-more")
        page.click(".bpv-live-layer[data-layer='1'] .bpv-live-more")
        page.click(".bpv-live-layer[data-layer='0'] .bpv-live-fewer")
        assert model() == "mlp:3,6"
        assert counts() == [catalogue("en", "neurons").format(n=3), catalogue("en", "neurons").format(n=6)]
        # the rows stay (a neuron changes its count's text only)
        assert page.evaluate("document.querySelector(\".bpv-live-layer[data-layer='1']\").dataset.mark") == "kept"
        page.evaluate("window.backpropviz.lang('ja')")
        assert counts() == [catalogue("ja", "neurons").format(n=3), catalogue("ja", "neurons").format(n=6)]
        assert page.text_content(".bpv-live-add-layer") == catalogue("ja", "add_layer")
        page.click(".bpv-live-remove-layer")
        assert model() == "mlp:3" and page.locator(".bpv-live-layer").count() == 1
        page.click(".bpv-live-remove-layer")
        assert model() == "perceptron" and page.locator(".bpv-live-layer").count() == 0
        assert page.locator(".bpv-live-remove-layer").is_disabled()
        assert page.text_content(".bpv-live-layers .bpv-note") == catalogue("ja", "no_layers")
        page.click(".bpv-live-add-layer")
        assert model() == "mlp:4" and counts() == [catalogue("ja", "neurons").format(n=4)]
        assert errors == []
    finally:
        context.close()
