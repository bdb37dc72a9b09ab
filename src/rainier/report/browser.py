"""Open a report in headless Chromium and check what a person would see; used by tests and benchmarks.

Chromium is driven over the DevTools protocol on ``--remote-debugging-pipe`` (file descriptors 3 and 4,
messages separated by NUL bytes): the standard library suffices, there is no port to race for and no
browser download. ``check_report`` navigates to the report's ``file://`` URL, waits for the page's
loader to draw every chart (``window.__rainier.done``), collects console errors, uncaught exceptions
and failed requests, inspects each plotly chart (a rendered ``.main-svg``, the number of traces and of
data points), and can save a PNG screenshot. ``offline=True`` fails every request that is not a
``file:`` URL (and points Chromium at a dead proxy), recording what the page tried to fetch.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["find_chromium", "Chromium", "PageCheck", "check_report", "BrowserError"]

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class BrowserError(RuntimeError):
    pass


def find_chromium() -> str | None:
    """Path of a Chromium binary: $RAINIER_CHROMIUM, else the first of CANDIDATES on PATH."""
    env = os.environ.get("RAINIER_CHROMIUM")
    if env and Path(env).exists():
        return env
    for name in CANDIDATES:
        p = shutil.which(name)
        if p:
            return p
    return None


class Chromium:
    """A headless Chromium with one DevTools session over a pipe. Use as a context manager."""

    def __init__(self, binary: str | None = None, *, offline: bool = False, width: int = 1280,
                 height: int = 900) -> None:
        self.binary = binary or find_chromium()
        if not self.binary:
            raise BrowserError("no chromium binary found (apt-get install chromium)")
        self.offline = offline
        self.width, self.height = width, height
        self._id = 0
        self._buf = b""
        self.events: list[dict[str, Any]] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.session: str | None = None

    def __enter__(self) -> Chromium:
        try:
            self.start()
        except BaseException:
            self.close()  # a browser that hung while starting must not outlive the failure
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._profile = tempfile.mkdtemp(prefix="rainier-chromium-")
        assert self.binary is not None
        args: list[str] = [self.binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio",
                "--hide-scrollbars", "--allow-file-access-from-files", f"--user-data-dir={self._profile}",
                f"--window-size={self.width},{self.height}", "--remote-debugging-pipe"]
        if self.offline:
            args += ["--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                     "--host-resolver-rules=MAP * ~NOTFOUND"]
        args.append("about:blank")
        cmd_r, self._cmd_w = os.pipe()  # we write commands; Chromium reads fd 3
        self._res_r, res_w = os.pipe()  # Chromium writes fd 4; we read

        def child() -> None:  # runs in the child before exec: put the pipe ends at fds 3 and 4
            a, b = os.dup(cmd_r), os.dup(res_w)  # fresh numbers, so dup2 below never aliases
            os.dup2(a, 3)
            os.dup2(b, 4)

        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self._stderr, preexec_fn=child, close_fds=False)
        os.close(cmd_r)
        os.close(res_w)
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for m in ("Runtime.enable", "Log.enable", "Page.enable", "Network.enable"):
            self.call(m)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})
        if self.offline:
            self.call("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})

    def close(self) -> None:
        if self.proc is None:
            if getattr(self, "_profile", None):
                shutil.rmtree(self._profile, ignore_errors=True)
            return
        try:
            self.call("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        for fd in (self._cmd_w, self._res_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._stderr.close()
        shutil.rmtree(self._profile, ignore_errors=True)
        self.proc = None

    # --------------------------------------------------------------------------------- protocol

    def _recv(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("timed out waiting for chromium")
            ready, _, _ = select.select([self._res_r], [], [], left)
            if ready:
                chunk = os.read(self._res_r, 1 << 20)
                if not chunk:
                    raise BrowserError(f"chromium exited: {self.stderr_tail()}")
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def _handle(self, msg: dict[str, Any]) -> None:
        self.events.append(msg)
        if msg.get("method") == "Fetch.requestPaused":
            p = msg["params"]
            if p["request"]["url"].startswith(("file:", "data:", "about:", "blob:")):
                self.call("Fetch.continueRequest", {"requestId": p["requestId"]})
            else:
                self.call("Fetch.failRequest", {"requestId": p["requestId"], "errorReason": "InternetDisconnected"})

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: bool = True,
             timeout: float = 30.0) -> dict[str, Any]:
        self._id += 1
        mid = self._id
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        try:
            os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        except BrokenPipeError as exc:
            raise BrowserError(f"chromium exited: {self.stderr_tail()}") from exc
        deadline = time.monotonic() + timeout
        while True:
            r = self._recv(deadline)
            if r.get("id") == mid:
                if "error" in r:
                    raise BrowserError(f"{method}: {r['error'].get('message')}")
                return r.get("result", {})
            self._handle(r)

    def pump(self, seconds: float) -> None:
        """Process events for a while (requests to allow or fail, console messages)."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self._handle(self._recv(deadline))
        except BrowserError as exc:
            if "timed out" not in str(exc):
                raise

    def evaluate(self, expr: str, timeout: float = 30.0) -> Any:
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True},
                      timeout=timeout)
        if "exceptionDetails" in r:
            raise BrowserError(f"evaluate: {r['exceptionDetails'].get('text')} {r['exceptionDetails'].get('exception', {}).get('description', '')}")
        return r.get("result", {}).get("value")

    def stderr_tail(self, n: int = 2000) -> str:
        try:
            self._stderr.seek(0)
            return self._stderr.read().decode(errors="replace")[-n:]
        except Exception:
            return ""

    # ---------------------------------------------------------------------------------- findings

    def console_errors(self) -> list[str]:
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: " + str(d.get("exception", {}).get("description") or d.get("text")))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append("log: " + str(p["entry"].get("text")) + " " + str(p["entry"].get("url", "")))
        return out

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]


@dataclass
class PageCheck:
    """What the browser saw."""

    url: str
    load_s: float  # navigation to all charts drawn (wall clock)
    rendered_ms: float | None  # the page's own performance.now() when the last chart was drawn
    charts: list[dict[str, Any]]  # per chart: id, has_svg, traces, points, svg_paths
    expected_charts: int
    errors: list[str]
    requests: list[str]
    blocked: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    title: str = ""
    sections: list[str] = field(default_factory=list)
    plotly_ready_ms: float | None = None  # performance.now() once plotly.js was parsed and run
    first_screen_ms: float | None = None  # performance.now() once the charts of the first screen were drawn

    @property
    def empty_charts(self) -> list[str]:
        return [c["id"] for c in self.charts if not (c["has_svg"] and c["traces"] > 0 and c["points"] > 0)]


_INSPECT = r"""
(async () => {
  const t0 = performance.now();
  while (!(window.__rainier && window.__rainier.done) && performance.now() - t0 < %(wait_ms)d)
    await new Promise(r => setTimeout(r, 25));
  const count = v => v == null ? 0 : (typeof v.length === 'number' ? v.length : 0);
  const charts = [...document.querySelectorAll('.js-plotly-plot')].map(gd => {
    const full = gd._fullData || [];
    let points = 0;
    for (const t of full) {
      if (t.visible === false) continue;
      points += Math.max(count(t.x), count(t.y), count(t.values), count(t.z));
    }
    const paths = [...gd.querySelectorAll('.main-svg path')].filter(p => (p.getAttribute('d') || '').length > 2);
    return {id: gd.id, has_svg: !!gd.querySelector('.main-svg'), traces: full.length, points: points,
            svg_paths: paths.length, drawn_traces: gd.querySelectorAll('.main-svg .trace').length,
            width: gd.getBoundingClientRect().width, height: gd.getBoundingClientRect().height};
  });
  return {state: window.__rainier || null, charts, title: document.title,
          sections: [...document.querySelectorAll('section h2')].map(h => h.textContent),
          expected: document.querySelectorAll('script.rainier-fig').length,
          height: document.documentElement.scrollHeight};
})()
"""


def _check(br: Chromium, path: str | Path, screenshot: str | Path | None, wait_s: float, full_page: bool) -> PageCheck:
    url = Path(path).resolve().as_uri()
    br.events.clear()
    br.call("Emulation.setDeviceMetricsOverride",
            {"width": br.width, "height": br.height, "deviceScaleFactor": 1, "mobile": False})
    t0 = time.monotonic()
    nav = br.call("Page.navigate", {"url": url}, timeout=wait_s)
    if nav.get("errorText"):
        raise BrowserError(f"navigation failed: {nav['errorText']}")
    info = br.evaluate(_INSPECT % {"wait_ms": int(wait_s * 1000)}, timeout=wait_s + 10)
    load_s = time.monotonic() - t0
    br.pump(0.2)  # late console messages
    shot = None
    if screenshot is not None:
        if full_page:
            h = min(int(info.get("height") or br.height), 16000)
            br.call("Emulation.setDeviceMetricsOverride",
                    {"width": br.width, "height": h, "deviceScaleFactor": 1, "mobile": False})
            br.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            br.pump(0.3)
        data = br.call("Page.captureScreenshot", {"format": "png"}, timeout=60)["data"]
        shot = Path(screenshot)
        shot.parent.mkdir(parents=True, exist_ok=True)
        shot.write_bytes(base64.b64decode(data))
    state = info.get("state") or {}
    blocked = [e["params"]["request"]["url"] for e in br.events
               if e.get("method") == "Fetch.requestPaused"
               and not e["params"]["request"]["url"].startswith(("file:", "data:", "about:", "blob:"))]
    errors = br.console_errors() + [f"chart: {e}" for e in state.get("errors", [])]
    return PageCheck(url=url, load_s=load_s, rendered_ms=state.get("t_rendered_ms"), charts=info["charts"],
                     expected_charts=int(info.get("expected") or 0), errors=errors, requests=br.requests(),
                     blocked=blocked, screenshot=shot, title=info.get("title", ""),
                     sections=list(info.get("sections") or []), plotly_ready_ms=state.get("t_plotly_ready_ms"),
                     first_screen_ms=state.get("t_first_screen_ms"))


def check_report(path: str | Path, *, screenshot: str | Path | None = None, offline: bool = False,
                 binary: str | None = None, wait_s: float = 30.0, full_page: bool = True,
                 browser: Chromium | None = None) -> PageCheck:
    """Open ``path`` from a file:// URL in headless Chromium and report what rendered.

    Pass ``browser`` (a started :class:`Chromium`) to reuse one browser for several pages; otherwise a
    fresh one is started and closed (a cold start: what a person opening the file sees).
    """
    if browser is not None:
        return _check(browser, path, screenshot, wait_s, full_page)
    with Chromium(binary, offline=offline) as br:
        return _check(br, path, screenshot, wait_s, full_page)
