"""Open an HTML page in a real headless Chromium: console errors, image loads, page width, screenshot.

Chromium comes from Debian's package (``apt-get install chromium``), installed here when missing
and possible (root with apt-get). It is driven through the DevTools protocol over a pipe
(``--remote-debugging-pipe``: JSON messages ending in NUL on file descriptors 3 and 4), so
nothing but the standard library is needed: no WebSocket client, no WebDriver, no network.

    python tools/headless_chromium.py PAGE.html SHOT.png [--width 1280]

prints what the page reported (errors, images, width) and writes a full-page screenshot;
``python tools/headless_chromium.py --install`` only makes sure Chromium is there (CI set-up).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--remote-debugging-pipe",
)
MAX_SHOT_HEIGHT = 16000
"""A screenshot stops there: Chromium cannot capture much taller pages in one image."""
IMAGES = """JSON.stringify(Array.from(document.images).map(i => ({
  alt: i.alt, complete: i.complete, naturalWidth: i.naturalWidth, source: i.src.slice(0, 40)})))"""
WIDTHS = """JSON.stringify({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,
  links: Array.from(document.links).map(a => a.getAttribute('href'))})"""


class Unavailable(Exception):
    """Why no headless Chromium can run here (a test skips with this reason)."""


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def ensure_chromium() -> str:
    """The path of a Chromium, installing Debian's package when missing (root with apt-get only)."""
    found = find_browser()
    if found:
        return found
    if os.geteuid() != 0:
        raise Unavailable("no chromium on PATH, and installing Debian's package needs root")
    if shutil.which("apt-get") is None:
        raise Unavailable("no chromium on PATH, and no apt-get to install Debian's package")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "chromium"]
    result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:  # package lists may be missing or stale on a fresh machine
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600, check=False)
        result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900, check=False)
    found = find_browser()
    if result.returncode != 0 or not found:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["?"]
        raise Unavailable(f"could not install chromium with apt-get: {tail[0]}")
    return found


@dataclass
class PageReport:
    """What the page did when loaded: console errors and exceptions, its images, its widths."""

    errors: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    scroll_width: int = 0
    client_width: int = 0
    links: list[str] = field(default_factory=list)
    screenshot: bytes = b""


class Browser:
    """One headless Chromium, spoken to over the DevTools pipe; use as a context manager."""

    def __init__(self, executable: str | None = None, timeout_s: float = 60.0) -> None:
        self.executable = executable or ensure_chromium()
        self.timeout_s = timeout_s
        self._next_id = 0
        self._buffer = b""
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> Browser:
        self._profile = tempfile.TemporaryDirectory(prefix="mtlbench-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire() -> None:  # the child's fd 3 reads our commands, fd 4 carries its answers
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        command = [self.executable, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(3, 4),
            preexec_fn=wire,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):  # a browser that already went away
            self.call("Browser.close")
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        for fd in (self._to_browser, self._from_browser):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._profile.cleanup()

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Send one command and wait for its answer; events that arrive meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive(f"an answer to {method}")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, event: str, session: str) -> None:
        """Wait until ``event`` arrives for ``session`` (it may have arrived already)."""
        while True:
            for index, message in enumerate(self.events):
                if message.get("method") == event and message.get("sessionId") == session:
                    del self.events[index]
                    return
            self.events.append(self._receive(event))

    def _receive(self, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(left, 0))
            if not ready:
                raise TimeoutError(f"headless chromium sent no {what} within {self.timeout_s:.0f} s")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                err = self.process.stderr.read().decode(errors="replace")[-500:] if self.process.stderr else ""
                raise RuntimeError(f"headless chromium exited before {what}: {err}")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(raw)

    def open(self, page: Path, *, width: int = 1280, height: int = 900, screenshot: bool = False) -> PageReport:
        """Load ``page`` at a window of ``width`` CSS pixels and report what happened."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=session)
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}
        self.call("Emulation.setDeviceMetricsOverride", metrics, session=session)
        self.call("Page.navigate", {"url": Path(page).resolve().as_uri()}, session=session)
        self.wait_for("Page.loadEventFired", session)
        report = PageReport()
        images = self._evaluate(IMAGES, session)
        report.images = json.loads(images)
        sizes = json.loads(self._evaluate(WIDTHS, session))
        report.scroll_width, report.client_width, report.links = sizes["scroll"], sizes["client"], sizes["links"]
        if screenshot:
            content = self.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
            tall = min(content["height"], MAX_SHOT_HEIGHT)
            clip = {"x": 0, "y": 0, "width": width, "height": tall, "scale": 1}
            shot = self.call(
                "Page.captureScreenshot",
                {"format": "png", "captureBeyondViewport": True, "clip": clip},
                session=session,
            )
            report.screenshot = base64.b64decode(shot["data"])
        report.errors = self._errors(session)
        self.call("Target.closeTarget", {"targetId": target})
        return report

    def _evaluate(self, expression: str, session: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session)
        return result["result"]["value"]

    def _errors(self, session: str) -> list[str]:
        errors = []
        for event in self.events:
            if event.get("sessionId") != session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Runtime.exceptionThrown":
                errors.append("exception: " + str(params.get("exceptionDetails", {}).get("text")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                errors.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
        return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, nargs="?")
    parser.add_argument("screenshot", type=Path, nargs="?")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--install", action="store_true", help="only install Chromium where missing and possible")
    args = parser.parse_args(argv)
    if args.install:
        try:
            print(f"chromium: {ensure_chromium()}")
        except Unavailable as why:
            print(f"note: no chromium, the headless-browser test will skip: {why}")
        return 0
    if args.page is None or args.screenshot is None:
        parser.error("give PAGE.html and SHOT.png, or --install")
    with Browser() as browser:
        report = browser.open(args.page, width=args.width, screenshot=True)
    args.screenshot.write_bytes(report.screenshot)
    broken = [i for i in report.images if not i["naturalWidth"]]
    print(f"{len(report.images)} images, {len(broken)} not loaded; page width {report.scroll_width} px in a "
          f"{report.client_width} px window; {len(report.errors)} console errors")  # fmt: skip
    for line in report.errors:
        print(f"  {line}")
    print(f"wrote {args.screenshot}")
    return 1 if broken or report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
