"""Harness for the Python black-box tests: runs the real `herald` binary.

Every test that takes the `herald` fixture gets its own process on a free port
with a fresh data directory holding one app. App settings come from an
`@pytest.mark.app(subscription_count=True, ...)` marker and become
`herald apps create` flags. The binary is $HERALD_BIN, else
$CARGO_TARGET_DIR/release/herald, else /var/cache/herald-target/release/herald,
else the repository's target/release/herald.
"""
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pusher
import pytest
import requests
import websocket  # websocket-client

REPO = Path(__file__).resolve().parents[2]
APP_ID, APP_KEY, APP_SECRET = "4242", "herald-test-key", "herald-test-secret"
WAIT = 5.0  # seconds any single expected frame or state may take to show up


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "app(**settings): settings of the test app, e.g. subscription_count=True")


def herald_bin():
    """The binary to test; waits a little if the lead is mid-rebuild."""
    candidates = [os.environ.get("HERALD_BIN")]
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(os.path.join(os.environ["CARGO_TARGET_DIR"], "release", "herald"))
    candidates += ["/var/cache/herald-target/release/herald", str(REPO / "target/release/herald")]
    candidates = [c for c in candidates if c]
    if os.environ.get("HERALD_BIN"):
        candidates = candidates[:1]
    deadline = time.monotonic() + 60
    while True:
        for c in candidates:
            if os.access(c, os.X_OK):
                return c
        if time.monotonic() > deadline:
            pytest.fail(f"no herald binary at any of {candidates}; build it or set HERALD_BIN")
        time.sleep(1)


def settings_flags(settings):
    flags = []
    for name, value in settings.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            value = ",".join(value)
        flags += ["--" + name.replace("_", "-"), str(value)]
    return flags


def run_cli(bin_path, *args):
    env = dict(os.environ, HERALD_LOG="warn")
    res = subprocess.run([bin_path, *args], capture_output=True, text=True, env=env, timeout=30)
    if res.returncode != 0:
        pytest.fail(f"herald {' '.join(args)} exited {res.returncode}:\n{res.stderr}{res.stdout}")
    return res.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sign(secret, text):
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


class RawSocket:
    """A Pusher protocol v7 connection over a plain WebSocket.

    Frames read while waiting for something else are kept, so a later wait
    still finds them; `data` strings are decoded into `frame["json"]`.
    """

    def __init__(self, url):
        self.ws = websocket.create_connection(url, timeout=WAIT)
        self.pending = []
        self.close_code = None
        established = self.event("pusher:connection_established")
        self.socket_id = established["json"]["socket_id"]

    def send(self, frame):
        self.ws.send(json.dumps(frame))

    def _read(self, deadline, what):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out after {WAIT}s waiting for {what}; "
                                 f"unmatched frames: {self.pending}")
        if self.close_code is not None:
            raise AssertionError(f"connection closed ({self.close_code}) while waiting for {what}; "
                                 f"unmatched frames: {self.pending}")
        self.ws.settimeout(remaining)
        try:
            opcode, payload = self.ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            return None
        except websocket.WebSocketConnectionClosedException:
            self.close_code = self.close_code or 1006
            return None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            return None
        if opcode != websocket.ABNF.OPCODE_TEXT:
            return None
        frame = json.loads(payload)
        data = frame.get("data")
        try:
            frame["json"] = json.loads(data) if isinstance(data, str) else data
        except ValueError:
            frame["json"] = data
        return frame

    def event(self, name, channel=None, timeout=WAIT):
        """The next frame named `name` (on `channel`, if given)."""
        what = f"event {name!r}" + (f" on {channel!r}" if channel else "")

        def matches(f):
            return f.get("event") == name and (channel is None or f.get("channel") == channel)

        for i, f in enumerate(self.pending):
            if matches(f):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            f = self._read(deadline, what)
            if f is None:
                continue
            if matches(f):
                return f
            if f.get("event") == "pusher:error" and name != "pusher:error":
                raise AssertionError(f"got {f} while waiting for {what}")
            self.pending.append(f)

    def events_until(self, name, channel):
        """Every frame on `channel` up to and including the first named `name`."""
        seen = [f for f in self.pending if f.get("channel") == channel]
        self.pending = [f for f in self.pending if f.get("channel") != channel]
        for i, f in enumerate(seen):
            if f.get("event") == name:
                self.pending += seen[i + 1:]
                return seen[: i + 1]
        deadline = time.monotonic() + WAIT
        while True:
            f = self._read(deadline, f"event {name!r} on {channel!r}")
            if f is None:
                continue
            if f.get("channel") != channel:
                self.pending.append(f)
                continue
            seen.append(f)
            if f.get("event") == name:
                return seen

    def subscribe(self, channel, auth=None, channel_data=None):
        data = {"channel": channel}
        if auth:
            data["auth"] = auth
        if channel_data:
            data["channel_data"] = channel_data
        self.send({"event": "pusher:subscribe", "data": data})
        return self.event("pusher_internal:subscription_succeeded", channel)

    def wait_closed(self, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while self.close_code is None:
            f = self._read(deadline, "the connection to close")
            if f is not None:
                self.pending.append(f)
        return self.close_code

    def ping(self):
        """Round-trips a pusher:ping, proving the connection is still served."""
        self.send({"event": "pusher:ping", "data": {}})
        self.event("pusher:pong")

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


class Herald:
    """One running node: `url`, `port`, `app` (the JSON `apps create` printed)."""

    def __init__(self, bin_path, data_dir, settings):
        self.bin = bin_path
        self.data_dir = data_dir
        out = run_cli(bin_path, "apps", "create", "--data-dir", data_dir, "--name", "test",
                      "--id", APP_ID, "--key", APP_KEY, "--secret", APP_SECRET,
                      *settings_flags(settings))
        self.app = json.loads(out[out.index("{"):])
        self.app_id, self.key, self.secret = str(self.app["id"]), self.app["key"], self.app["secret"]
        self.sockets = []
        self.proc = None
        self.log_path = os.path.join(data_dir, "herald.log")
        for _ in range(3):  # a fresh port again if another process grabbed ours
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            if self._start():
                return
        pytest.fail(f"herald did not become ready; log:\n{self.log()}")

    def _start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir],
            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, HERALD_LOG="info"))
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        return False

    def log(self):
        try:
            return Path(self.log_path).read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self):
        for s in self.sockets:
            s.close()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def update(self, **settings):
        """`herald apps update` on the live store; the node applies it within ~1 s."""
        run_cli(self.bin, "apps", "update", self.app_id, "--data-dir", self.data_dir,
                *settings_flags(settings))

    def sdk(self, app_id=None, key=None, secret=None):
        """The official SDK pointed at this node."""
        return pusher.Pusher(app_id=app_id or self.app_id, key=key or self.key,
                             secret=secret or self.secret, host="127.0.0.1", port=self.port,
                             ssl=False, timeout=WAIT)

    def socket(self):
        s = RawSocket(f"ws://127.0.0.1:{self.port}/app/{self.key}?protocol=7")
        self.sockets.append(s)
        return s

    def subscribed(self, channel, user_id=None, user_info=None):
        """A new raw socket subscribed to `channel`, authorized with the SDK when needed."""
        s = self.socket()
        if channel.startswith("presence-"):
            member = {"user_id": user_id, "user_info": user_info or {}}
            auth = self.sdk().authenticate(channel, s.socket_id, member)
            s.subscribe(channel, auth["auth"], auth["channel_data"])
        elif channel.startswith("private-"):
            s.subscribe(channel, self.sdk().authenticate(channel, s.socket_id)["auth"])
        else:
            s.subscribe(channel)
        return s

    def signed(self, method, path, body=None, query=None, secret=None, timestamp=None, key=None,
               send_instead=None):
        """A request signed by hand the Pusher way (auth_version 1.0).

        `body` is JSON-encoded unless already bytes; `send_instead` replaces
        it after signing (a tampered request).
        """
        raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body else b""
        params = dict(query or {})
        params.update(auth_key=key or self.key, auth_version="1.0",
                      auth_timestamp=str(int(time.time() if timestamp is None else timestamp)))
        if raw:
            params["body_md5"] = hashlib.md5(raw).hexdigest()
        to_sign = "&".join(f"{k}={params[k]}" for k in sorted(params))
        signature = sign(secret or self.secret, f"{method}\n{path}\n{to_sign}")
        # Like the SDKs: the query goes out exactly as signed, not URL-escaped.
        url = f"{self.url}{path}?{to_sign}&auth_signature={signature}"
        if send_instead is not None:
            raw = json.dumps(send_instead).encode()
        return requests.request(method, url, data=raw, timeout=WAIT,
                                headers={"Content-Type": "application/json"})


@pytest.fixture
def herald(request):
    marker = request.node.get_closest_marker("app")
    settings = dict(marker.kwargs) if marker else {}
    data_dir = tempfile.mkdtemp(prefix="herald-py-")
    node = None
    try:
        node = Herald(herald_bin(), data_dir, settings)
        yield node
    finally:
        if node:
            node.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
