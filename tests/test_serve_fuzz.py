"""backpropviz serve under attack: malformed, oversized and out-of-range messages and requests.

Over raw sockets (so that nothing on the client side tidies a request up), the server gets every
kind of bad input a page or a stranger could send: bodies that are not JSON, messages of the wrong
shape, every run setting with values of the wrong kind and out of range, the playground's limits
passed, oversize and half-sent bodies, bad CSV uploads, live-view work and exports, requests without
the token or with a wrong one, odd paths, methods and broken HTTP, and a seeded random mutator of
valid messages. Each gets a 4xx answer with a message (never a 500, never a hang, no traceback in
the server's log), and afterwards the server still trains correctly: a run's steps equal
``train()``'s for the same settings, bit for bit. While one client sends garbage, another's run
keeps streaming; a closed page's run stops; the server listens on 127.0.0.1 only unless told
otherwise.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
import time
from dataclasses import fields

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from backpropviz.config import RunConfig  # noqa: E402
from backpropviz.web import server as srv  # noqa: E402
from backpropviz.web.pack import decode  # noqa: E402
from backpropviz.web.server import MAX_BODY, MAX_LAYERS, MAX_NEURONS, MAX_RUNS, MAX_SAMPLES, MAX_STEPS, Server  # noqa: E402

NAN, INF = float("nan"), float("inf")
TIMEOUT = 60.0  # seconds: an answer slower than this is a hang (on a loaded machine: generous)
BODY_TIMEOUT = 1.0  # the server's wait for a half-sent body, shortened for the tests
ORPHAN_GRACE = 0.5  # and for a closed page's stream to come back before its run stops


class ServerLog(logging.Handler):
    """Every record uvicorn logs at ERROR (a traceback of an exception in the app)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record):
        self.records.append(self.format(record))


@pytest.fixture(scope="module")
def server():
    saved = srv.BODY_TIMEOUT, srv.ORPHAN_GRACE
    srv.BODY_TIMEOUT, srv.ORPHAN_GRACE = BODY_TIMEOUT, ORPHAN_GRACE
    log = ServerLog()
    logging.getLogger("uvicorn.error").addHandler(log)
    s = Server(port=0).start()
    s.log = log
    yield s
    s.stop()
    logging.getLogger("uvicorn.error").removeHandler(log)
    srv.BODY_TIMEOUT, srv.ORPHAN_GRACE = saved


# -- raw HTTP -------------------------------------------------------------------------------------


def exchange(server, raw: bytes, *, close_after: float | None = None) -> tuple[int | None, bytes]:
    """Send ``raw`` on a fresh connection and read until the server closes it: (status, body).
    ``close_after``: hang up that many seconds after sending (a request that stops half-way)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as c:
        try:
            c.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):  # the server answered before taking it all
            pass
        if close_after is not None:
            time.sleep(close_after)
            return None, b""
        data = b""
        try:
            while chunk := c.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else None
    return status, body


def request(server, method: str, path: str, body: bytes = b"", headers: dict | None = None, *,
            token: bool = True) -> bytes:
    """The bytes of an HTTP/1.1 request (``token``: the server's token added to the query)."""
    if token:
        path += ("&" if "?" in path else "?") + f"token={server.token}"
    h = {"Host": f"127.0.0.1:{server.port}", "Connection": "close"}
    if body or method == "POST":
        h["Content-Type"] = "application/json"
        h["Content-Length"] = str(len(body))
    h.update(headers or {})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items() if v is not None)
    return head.encode("latin-1") + b"\r\n" + body


def command(server, message) -> bytes:
    """A POST of ``message`` (bytes as they are, anything else as JSON, NaN and Infinity included)."""
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return request(server, "POST", "/api/command", body)


def assert_refused(status, body, what):
    """A 4xx answer that says what was wrong."""
    assert status is not None and 400 <= status < 500, (what, status, body[:200])
    text = body.decode("utf-8", "replace")
    assert text.strip() and "Traceback" not in text, (what, text[:200])
    if body.startswith(b"{"):
        error = json.loads(body)["error"]
        assert isinstance(error, str) and 0 < len(error) < 1100, (what, error)


# -- the bad inputs, generated --------------------------------------------------------------------

BASE = {"data": "moons", "n_samples": 60, "model": "mlp:3", "batch_size": 10, "epochs": 5, "seed": 1}
VALID = [
    {"client": "v", "action": "new", "config": BASE},
    {"client": "v", "action": "new", "config": {"data": "xor", "model": "mlp:4", "activation": "relu", "epochs": 20},
     "speed": 100},
    {"client": "v", "action": "new", "config": {"data": "and", "optimizer": "adam", "lr": 0.05, "epochs": 10}},
    {"client": "v", "action": "play", "speed": 30},
    {"client": "v", "action": "pause"},
    {"client": "v", "action": "step"},
    {"client": "v", "action": "speed", "speed": 0},
]

NOT_JSON = [b"", b"{", b"}", b"{'client': 'a'}", b'{"client": "a",}', b'{"client": "a"} trailing', b"nul",
            b"\xff\xfe{}", b"\xef\xbb\xbf{}", b'{"client": "\xe9"}', b'{"client": "a\x00"}', b"1" * 5000,
            b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000]
WRONG_SHAPE = [[], [VALID[0]], 3, -1.5, "new", None, True, {}, {"config": BASE}]
MESSAGE_FIELDS = {
    "client": ["", " ", "a b", "x" * 65, "../../etc", "é", 7, None, [], {}, True],
    "action": ["fly", "", "NEW", "new ", None, 3, [], ["new"], {"new": 1}],
    "speed": [-1, 10_001, 1e308, NAN, INF, -INF, "fast", None, [], True],
}
UNKNOWN_FIELDS = {"run": 1, "run ": 1, "token": "x", "__proto__": {}, "configs": BASE, "Config": BASE, "": 0}

RANGE = [NAN, INF, -INF, "abc", [], {}, True]  # wrong for every number field
CONFIG_BAD = {  # field -> (values, settings that make the field apply)
    "data": (["nope", "", 3, None, [], "../and", "csv"], {}),
    "n_samples": ([-5, 0, 1, 1.5, MAX_SAMPLES + 1, 10**30, *RANGE], {"data": "moons"}),
    "noise": ([-0.1, -INF, NAN, "abc", [], True], {"data": "moons"}),
    "test_fraction": ([-0.1, 1, 1.5, *RANGE], {}),
    "features": ([5, ["a"], "pca", [[1]]], {}),
    "csv": (["/etc/passwd", "a.csv"], {"data": "csv", "target": "x"}),
    "points": (["abc", [[0, 0]], [[0, 0, 5]] * 3, [[NAN, 0, 0], [1, 1, 1]], [[1e39, 0, 0], [1, 1, 1]]],
               {"data": "points"}),
    "task": (["nope", 3, None], {}),
    "model": (["mlp:100000", f"mlp:{MAX_NEURONS + 1}", "mlp:" + ",".join(["2"] * (MAX_LAYERS + 1)), "mlp:",
               "mlp:0", "mlp:-3", "mlp:a", "mlp:1e3", "transformer", None, 5, []], {}),
    "activation": (["swish", "", 3, None], {"model": "mlp:3"}),
    "init": ([[1, 2], "x", [NAN, 0, 0], [1e39, 0, 0], [INF, 0, 0], {}], {}),
    "init_scheme": (["zeros", "normal:-1", "normal:x", 3], {"init": None, "model": "mlp:3"}),
    "loss": (["l7", "", 3, None], {}),
    "l1": ([-1, 1e400, *RANGE], {}),
    "l2": ([-1, 1e400, *RANGE], {}),
    "optimizer": (["lbfgs", "", 3, None], {}),
    "lr": ([0, -1, 1e39, 10**400, *RANGE], {}),
    "momentum": ([1, -0.5, 2, *RANGE], {"optimizer": "momentum"}),
    "betas": ([[2, 3], [0.9], "x", [NAN, 0.9], 0.9], {"optimizer": "adam"}),
    "eps": ([0, -1, 1e39, *RANGE], {"optimizer": "adam"}),
    "weight_decay": ([-1, 1e39, 1e308, *RANGE], {"optimizer": "adam"}),
    "alpha": ([1, -1, *RANGE], {"optimizer": "rmsprop"}),
    "schedule": (["linear", 3, None], {}),
    "step_size": ([0, -1, 1.5, *RANGE], {"schedule": "step"}),
    "gamma": ([0, 2, -1, *RANGE], {"schedule": "step"}),
    "lr_min": ([-1, 10, *RANGE], {"schedule": "cosine"}),
    "schedule_epochs": ([0, -3, 2.5, "10", True], {"schedule": "cosine"}),
    "lr_changes": (["x", [[-1, 0.1]], [[0, -1]], [[0, NAN]], [[1.5, 0.1]], [1, 2]], {}),
    "epochs": ([0, -1, 1.5, MAX_STEPS + 1, 10**12, 10**4000, *RANGE], {}),
    "batch_size": ([0, -1, 1.5, "ten", *RANGE], {}),
    "shuffle": (["yes", 1, None, []], {}),
    "seed": ([-1, 2**32, 1.5, "x", None, *RANGE], {}),
}
LIMITS = [  # within the CLI's checks, beyond the playground's
    {"data": "moons", "n_samples": MAX_SAMPLES + 1},
    {"data": "moons", "batch_size": 1, "epochs": MAX_STEPS // 100, "n_samples": 200},  # 200 steps an epoch
    {"data": "moons", "model": "mlp:64,64,64,64,64,64", "epochs": MAX_STEPS, "batch_size": 1, "n_samples": 100},
    {"model": f"mlp:{MAX_NEURONS}," + ",".join(["1"] * MAX_LAYERS)},
]


def config_cases():
    """(label, config) for every run setting with every value it must refuse."""
    names = {f.name for f in fields(RunConfig)}
    for name, (values, context) in CONFIG_BAD.items():
        if name not in names:  # a setting this version does not have: its values are unknown fields anyway
            continue
        for value in values:
            yield f"config.{name}={value!r:.40}", {**BASE, **context, name: value}


def systematic_cases(server):
    """(label, raw request) for every bad message and request, built from the tables above."""
    cases = [(f"not JSON {body[:20]!r}", command(server, body)) for body in NOT_JSON]
    cases += [(f"a message that is {m!r:.30}", command(server, m)) for m in WRONG_SHAPE]
    for name, values in MESSAGE_FIELDS.items():
        for value in values:
            cases.append((f"{name}={value!r:.30}", command(server, {**VALID[3], name: value})))
    for name in ("client", "action"):
        cases.append((f"no {name}", command(server, {k: v for k, v in VALID[0].items() if k != name})))
    cases.append(("new without config", command(server, {"client": "v", "action": "new"})))
    for name, value in UNKNOWN_FIELDS.items():
        cases.append((f"unknown field {name!r}", command(server, {**VALID[0], name: value})))
    for label, config in config_cases():
        cases.append((label, command(server, {"client": "v", "action": "new", "config": config})))
    for config in LIMITS:
        cases.append((f"beyond a limit {config}", command(server, {"client": "v", "action": "new", "config": config})))
    cases.append(("config with an unknown setting", command(server, {**VALID[0], "config": {**BASE, "colour": 1}})))
    cases.append(("config a list", command(server, {**VALID[0], "config": [BASE]})))
    cases.append(("config a string", command(server, {**VALID[0], "config": "lr=1"})))
    for action in ("play", "step", "pause", "speed"):  # a client without a run
        cases.append((f"{action} before new", command(server, {"client": "never-new", "action": action})))

    # sizes
    oversize = json.dumps({**VALID[0], "config": {**BASE, "data": "x" * MAX_BODY}}).encode()
    cases.append(("a body one byte over", command(server, b" " * (MAX_BODY + 1))))
    cases.append(("an oversize message", command(server, oversize)))
    cases.append(("a 4 MB body", command(server, b"{" * (4 << 20))))
    cases.append(("Content-Length 10**12, no body",
                  request(server, "POST", "/api/command", headers={"Content-Length": str(10**12)})))
    cases.append(("Content-Length -1", request(server, "POST", "/api/command", b"{}", {"Content-Length": "-1"})))
    cases.append(("Content-Length abc", request(server, "POST", "/api/command", b"{}", {"Content-Length": "abc"})))
    cases.append(("two Content-Lengths", request(server, "POST", "/api/command", b"{}", {"Content-Length": "2\r\nContent-Length: 9"})))
    half = json.dumps(VALID[0]).encode()
    cases.append(("a body that stops half-way",
                  request(server, "POST", "/api/command", half[: len(half) // 2], {"Content-Length": str(len(half))})))
    cases.append(("a chunked body that stops half-way",
                  request(server, "POST", "/api/command", b"5\r\n{\"cli", {"Transfer-Encoding": "chunked", "Content-Length": None})))
    cases.append(("a chunked body with a bad chunk size",
                  request(server, "POST", "/api/command", b"zz\r\n{}\r\n0\r\n\r\n",
                          {"Transfer-Encoding": "chunked", "Content-Length": None})))

    # the other endpoints: CSV uploads, the live views' work, exports
    for body in (b"", b"\xff\xfe\x00\x01" * 100, b"a\n1\n2\n", b"a,b\n", b"a,b\n1\n2,3,4\n", b"x" * 1_000_001):
        cases.append((f"upload {body[:12]!r}", request(server, "POST", "/api/upload?name=x.csv", body,
                                                       {"Content-Type": "text/csv"})))
    for steps in ("x", [-1], [10**9], [1] * 17, [1.5], [True], [None]):
        cases.append((f"trace steps {steps!r:.20}", command(server, {"client": "v", "action": "trace", "steps": steps})))
    cases.append(("surface with steps", command(server, {"client": "v", "action": "surface", "steps": [1]})))
    cases.append(("surface before new", command(server, {"client": "never-new", "action": "surface"})))
    for path in ("/api/export/history?client=never-new", "/api/export/nothing?client=v", "/api/export/page?client=%00",
                 "/api/export/info", "/api/upload?csv=../../etc/passwd", "/api/upload?csv=" + "0" * 64 + "/x.csv"):
        cases.append((f"GET {path[:40]}", request(server, "GET", path)))

    # the token
    for path in ("/", "/api/events?client=v", "/static/app.js", "/live/playground.js", "/nothing"):
        cases.append((f"no token {path}", request(server, "GET", path, token=False)))
    wrong = server.token[:-1] + ("x" if server.token[-1] != "x" else "y")
    for given in ("", wrong, server.token[:-1], server.token + "x", server.token.upper(), "%ff%fe", "x" * 10_000,
                  server.token.replace(server.token[0], "%00", 1)):
        cases.append((f"token {given[:12]!r}", request(server, "GET", f"/?token={given}", token=False)))
    cases.append(("token in a header", request(server, "GET", "/", headers={"Authorization": f"token {server.token}"},
                                               token=False)))
    cases.append(("another port's cookie", request(server, "GET", "/", headers={"Cookie": f"bpv_token_1={server.token}"},
                                                   token=False)))
    cases.append(("a wrong cookie", request(server, "GET", "/", headers={"Cookie": f"bpv_token_{server.port}={wrong}"},
                                            token=False)))
    cases.append(("a POST without the token", request(server, "POST", "/api/command", json.dumps(VALID[0]).encode(),
                                                      token=False)))

    # paths and methods
    for path in ("/nothing", "/static/../server.py", "/static/%2e%2e/server.py", "/live/..%2fserver.py",
                 "/live/../../../pyproject.toml", "/static/%00", "/static/", "/static//etc/passwd", "//etc/passwd",
                 "/api", "/api/", "/api/command/x", "/api/events/x", "/%ff", "/" + "a" * 8000, "/static/app.js/x",
                 "/api/export?client=v&run=-1", "/api/export?client=v&run=x", "/api/export?client=../&run=1",
                 "/api/events?client=", "/api/events?client=a%20b", "/api/events?client=" + "x" * 65,
                 "/api/events?client=%ff"):
        cases.append((f"GET {path[:40]}", request(server, "GET", path)))
    for method, path in (("PUT", "/api/command"), ("DELETE", "/"), ("PATCH", "/api/command"), ("OPTIONS", "/"),
                         ("TRACE", "/"), ("FOO", "/"), ("GET", "/api/command"), ("POST", "/"),
                         ("POST", "/api/events?client=v"), ("PUT", "/static/app.js"), ("DELETE", "/live/playground.js")):
        cases.append((f"{method} {path}", request(server, method, path)))
    cases += [("garbage", b"garbage\r\n\r\n"), ("HTTP/9.9", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n"),
              ("a header without a colon", b"GET / HTTP/1.1\r\nHost x\r\n\r\n"),
              ("no Host", f"GET /?token={server.token} HTTP/1.1\r\nConnection: close\r\n\r\n".encode()),
              ("a NUL in the request line", b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n"),
              ("a 100 KB header, no token", request(server, "GET", "/", headers={"X-Big": "a" * 100_000}, token=False)),
              ("a space in the path", f"GET /a b?token={server.token} HTTP/1.1\r\nHost: x\r\n\r\n".encode())]
    return cases


def mutate(message: dict, rng: random.Random) -> bytes:
    """A valid message changed by one to three mutations, each of which makes it invalid."""
    m = json.loads(json.dumps(message))
    text = None
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["config", "config", "field", "unknown", "drop", "wrap", "truncate", "byte"])
        if kind == "config":
            name, (values, context) = rng.choice(list(CONFIG_BAD.items()))
            if name not in {f.name for f in fields(RunConfig)}:
                name, values, context = "lr", [0], {}
            m.update(action="new")
            m["config"] = {**m.get("config", BASE), **context, name: rng.choice(values)}
        elif kind == "field":
            name = rng.choice(list(MESSAGE_FIELDS))
            m[name] = rng.choice(MESSAGE_FIELDS[name])
        elif kind == "unknown":
            m[rng.choice(list(UNKNOWN_FIELDS))] = rng.choice([1, "x", None, [], {}])
        elif kind == "drop":
            m.pop(rng.choice(["client", "action"]), None)
        elif kind == "wrap":
            m = [m]
        elif kind == "truncate":  # every proper prefix of a JSON object's text is not JSON
            full = json.dumps(m).encode()
            text = full[: rng.randrange(len(full))]
        else:  # a NUL or a byte that is not UTF-8, anywhere: never JSON
            full = json.dumps(m).encode()
            at = rng.randrange(len(full) + 1)
            text = full[:at] + rng.choice([b"\x00", b"\xff"]) + full[at:]
        if text is not None:
            return text
        if isinstance(m, list):
            return json.dumps(m).encode()
    return json.dumps(m).encode()


# -- the tests ------------------------------------------------------------------------------------


def streamed_steps(server, client: str, until: threading.Event, out: list):
    """Read the event stream of ``client`` into ``out`` ((time, event, data)) until ``until`` is set."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as c:
        c.sendall(request(server, "GET", f"/api/events?client={client}", headers={"Connection": "keep-alive"}))
        buffer = b""
        c.settimeout(0.2)
        while not until.is_set():
            try:
                chunk = c.recv(1 << 20)
            except socket.timeout:
                continue
            if not chunk:
                break
            buffer += chunk
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                lines = dict(line.split(b": ", 1) for line in event.split(b"\n") if b": " in line)
                if b"event" in lines:
                    out.append((time.monotonic(), lines[b"event"].decode(), json.loads(lines[b"data"])))


def post_ok(server, message) -> dict:
    status, body = exchange(server, command(server, message))
    assert status == 200, (message, status, body[:300])
    return json.loads(body)


def wait_state(server, client: str, states=("done",), timeout=60.0):
    run = server.playground.clients[client].run
    deadline = time.monotonic() + timeout
    while run.status()["state"] not in states:
        assert time.monotonic() < deadline, run.status()
        time.sleep(0.05)
    return run


def steps_of(events, run_id: int, n_params: int):
    """The parameters (T+1, P) and gradients (T, P) a run's stream carried, in order."""
    params, grads, nxt = [], [], 0
    for _, kind, data in events:
        if kind != "steps" or data["run"] != run_id:
            continue
        assert data["from"] == nxt, "the stream skipped or repeated steps"
        if data["from"] == 0:
            params.append(decode(data["initial"]).reshape(1, n_params))
        params.append(decode(data["params"]))
        grads.append(decode(data["grads"]))
        nxt += data["loss"]["shape"][0]
    return np.concatenate(params), np.concatenate(grads)


def test_every_bad_message_and_request_is_refused_and_the_server_then_trains_correctly(server):
    from backpropviz.train import train

    rng = random.Random(12)
    cases = systematic_cases(server)
    mutated = [(f"mutant {i}", command(server, mutate(rng.choice(VALID), rng))) for i in range(150)]
    assert len(cases) >= 200, len(cases)
    failures = []
    for label, raw in cases + mutated:
        status, body = exchange(server, raw)  # (a hang: the socket's timeout fails the test)
        try:
            assert_refused(status, body, label)
        except AssertionError as exc:
            failures.append(f"{label}: {status} {str(exc)[:300]}")
    assert failures == []
    # A client that hangs up half-way through its message: nothing to answer, nothing logged.
    half = json.dumps(VALID[0]).encode()
    exchange(server, request(server, "POST", "/api/command", half[:10], {"Content-Length": str(len(half))}),
             close_after=0.1)
    time.sleep(BODY_TIMEOUT + 0.5)
    assert server.log.records == []

    # Still correct: a valid run trains, and its steps are train()'s.
    config = {"data": "moons", "n_samples": 60, "model": "mlp:4", "activation": "relu", "batch_size": 10,
              "epochs": 6, "seed": 5}
    answer = post_ok(server, {"client": "after", "action": "new", "config": config, "speed": 0})
    assert answer["steps"] == 36
    post_ok(server, {"client": "after", "action": "play"})
    run = wait_state(server, "after")
    expected = train(RunConfig(**config))
    np.testing.assert_array_equal(run.rec.params.numpy(), expected.params)
    np.testing.assert_array_equal(run.rec.grads.numpy(), expected.grads)
    assert exchange(server, request(server, "GET", "/"))[0] == 200
    assert server.log.records == []


def test_another_clients_run_keeps_streaming_while_one_sends_garbage(server):
    from backpropviz.train import train

    config = {"data": "moons", "n_samples": 60, "model": "mlp:3", "batch_size": 10, "epochs": 50, "seed": 2}
    stop_stream, stop_garbage = threading.Event(), threading.Event()
    events: list = []
    reader = threading.Thread(target=streamed_steps, args=(server, "tab", stop_stream, events), daemon=True)
    reader.start()
    sent = []

    def garbage():
        rng = random.Random(7)
        cases = systematic_cases(server)
        while not stop_garbage.is_set():
            label, raw = rng.choice(cases) if rng.random() < 0.5 else ("mutant", command(server, mutate(rng.choice(VALID), rng)))
            status, body = exchange(server, raw)
            sent.append((time.monotonic(), label, status))

    sender = threading.Thread(target=garbage, daemon=True)
    sender.start()
    try:
        while len(sent) < 20:
            time.sleep(0.05)
        answer = post_ok(server, {"client": "tab", "action": "new", "config": config, "speed": 150})
        post_ok(server, {"client": "tab", "action": "play"})
        run = wait_state(server, "tab", timeout=90)
        deadline = time.monotonic() + 10
        while not any(e[1] == "status" and e[2]["state"] == "done" for e in events):
            assert time.monotonic() < deadline, "the stream never said the run was done"
            time.sleep(0.05)
    finally:
        stop_garbage.set()
        sender.join(TIMEOUT)
        stop_stream.set()
        reader.join(5)
    step_times = [t for t, kind, data in events if kind == "steps" and data["run"] == answer["run"]]
    garbage_times = [t for t, _, _ in sent]
    during = [t for t in step_times if garbage_times[0] < t < garbage_times[-1]]
    assert len(during) >= 10, (len(step_times), len(during))  # steps arrived all along, not after the garbage
    assert max(np.diff(step_times)) < 2.0, "the stream stalled while garbage was answered"
    assert all(status is not None and 400 <= status < 500 for _, _, status in sent), sent[:5]
    assert len(sent) >= 50
    expected = train(RunConfig(**config))
    params, grads = steps_of(events, answer["run"], expected.params.shape[1])
    np.testing.assert_array_equal(params, expected.params)
    np.testing.assert_array_equal(grads, expected.grads)
    assert run.done_steps == expected.n_steps == 300


def test_runs_beyond_the_limit_of_concurrent_runs_are_refused_and_the_others_go_on(server):
    clients = [f"many{i}" for i in range(MAX_RUNS + 1)]
    config = {"data": "or", "epochs": 100_000}
    try:
        for c in clients:
            post_ok(server, {"client": c, "action": "new", "config": config, "speed": 1})
        for c in clients[:MAX_RUNS]:
            post_ok(server, {"client": c, "action": "play"})
        status, body = exchange(server, command(server, {"client": clients[-1], "action": "play"}))
        assert_refused(status, body, "one run too many")
        assert f"at most {MAX_RUNS} runs at once" in json.loads(body)["error"]
        # A new run for one of the pages stops its old one: then there is room again.
        post_ok(server, {"client": clients[0], "action": "new", "config": config, "speed": 1})
        deadline = time.monotonic() + 5
        while server.playground.running() >= MAX_RUNS:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert post_ok(server, {"client": clients[-1], "action": "play"})["state"] == "running"
    finally:
        runs = [server.playground.clients[c].run for c in clients]
        for run in runs:
            run.halt()
        for run in runs:
            if run.thread is not None:
                run.thread.join(10)


def test_a_closed_pages_run_stops_and_frees_its_place(server):
    """A tab closed while its run trains: the run stops once the page's stream has been gone for
    ORPHAN_GRACE seconds (else closed tabs would hold the MAX_RUNS places); a page still
    connected keeps training."""
    stop_gone, stop_open = threading.Event(), threading.Event()
    gone_events, open_events = [], []
    readers = [threading.Thread(target=streamed_steps, args=(server, c, e, out), daemon=True)
               for c, e, out in (("gone", stop_gone, gone_events), ("open", stop_open, open_events))]
    for r in readers:
        r.start()
    try:
        for c in ("gone", "open"):
            post_ok(server, {"client": c, "action": "new", "config": {"data": "or", "epochs": 100_000}, "speed": 20})
            post_ok(server, {"client": c, "action": "play"})
        gone, still = server.playground.clients["gone"].run, server.playground.clients["open"].run
        deadline = time.monotonic() + 20
        while not (gone_events and open_events and gone.done_steps > 2):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        stop_gone.set()  # the tab is closed
        readers[0].join(5)
        gone.thread.join(ORPHAN_GRACE + 10)
        assert not gone.alive and gone.status()["state"] == "stopped"
        assert still.alive and still.status()["state"] == "running"
    finally:
        stop_open.set()
        readers[1].join(5)
        for c in ("gone", "open"):
            server.playground.clients[c].run.halt()


def _other_local_address() -> str | None:
    """An IPv4 address of this machine other than loopback, or None."""
    candidates = set()
    try:
        candidates.update(info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET))
    except OSError:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.123", 9))  # no packet is sent: this only picks the outgoing interface
            candidates.add(s.getsockname()[0])
    except OSError:
        pass
    others = sorted(a for a in candidates if not a.startswith("127.") and a != "0.0.0.0")
    return others[0] if others else None


def test_the_server_listens_on_loopback_only_by_default():
    s = Server(port=0)
    try:
        assert s.sock.getsockname() == ("127.0.0.1", s.port)
        s.start()
        with socket.create_connection(("127.0.0.1", s.port), timeout=5):
            pass
        other = _other_local_address()
        if other is None:
            pytest.skip("this machine has no address but loopback to try the server from")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as c:
            c.settimeout(5)
            assert c.connect_ex((other, s.port)) != 0, f"the server answered on {other}"
    finally:
        s.stop()
