"""Headless Chromium from the command line: the report page's DOM after its script ran, and screenshots.

Only the browser binary is needed (Debian: ``apt-get install chromium``; or set ``$SYNRANK_CHROMIUM``
to a Chrome/Chromium executable); no driver, no Python browser package. Each call runs a fresh
headless browser with a throw-away profile and no network use beyond the ``file://`` page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from synrank.errors import SynrankError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
ENV_BINARY = "SYNRANK_CHROMIUM"
#: Milliseconds of page time granted before the DOM is read or the picture taken (the script is synchronous;
#: this only bounds how long a broken page can hang).
TIME_BUDGET_MS = 10_000


class BrowserError(SynrankError):
    """No browser, or the browser failed."""

    exit_code = 1


def missing_browser(ci: str | None) -> tuple[str, str]:
    """What a test needing the browser does when none is found: ``("fail", why)`` when ``$CI`` is set
    (CI installs Chromium, so its absence is a broken setup), else ``("skip", why)``."""
    if (ci or "").strip().lower() not in ("", "0", "false", "no"):
        return "fail", ("CI is set but no Chromium binary was found (.ci/run installs the distribution's "
                        "'chromium' package); the report's browser test must run in CI")
    return "skip", f"no Chromium binary on PATH (apt-get install chromium, or set ${ENV_BINARY})"


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary: ``$SYNRANK_CHROMIUM``, else the first of CANDIDATES on PATH."""
    env = os.environ.get(ENV_BINARY)
    if env:
        return env if Path(env).is_file() else shutil.which(env)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def file_url(path: Path, fragment: str = "") -> str:
    return path.resolve().as_uri() + (f"#{fragment}" if fragment else "")


def _run(args: list[str], timeout: float, binary: str | None) -> subprocess.CompletedProcess[str]:
    binary = binary or find_chromium()
    if binary is None:
        raise BrowserError("no Chromium/Chrome binary found (apt-get install chromium, or set $SYNRANK_CHROMIUM)")
    with tempfile.TemporaryDirectory(prefix="synrank-chromium-") as profile:
        cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
               "--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
               "--force-device-scale-factor=1", f"--user-data-dir={profile}",
               f"--virtual-time-budget={TIME_BUDGET_MS}", *args]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BrowserError(f"{binary} did not finish within {timeout:.0f} s") from exc
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise BrowserError(f"{binary} exited with {proc.returncode}: {tail}")
    return proc


def dump_dom(url: str, *, timeout: float = 120.0, binary: str | None = None) -> str:
    """The page's serialized DOM after load (scripts included)."""
    return _run(["--dump-dom", url], timeout, binary).stdout


def screenshot(url: str, out: Path, *, size: tuple[int, int] = (1400, 1000), timeout: float = 120.0,
               binary: str | None = None) -> Path:
    """A PNG of the page's first ``size`` pixels, written atomically to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="synrank-shot-", dir=out.parent) as tmp:
        shot = Path(tmp) / "shot.png"
        _run([f"--window-size={size[0]},{size[1]}", f"--screenshot={shot}", url], timeout, binary)
        if not shot.is_file() or shot.stat().st_size == 0:
            raise BrowserError(f"no screenshot written for {url}")
        os.replace(shot, out)
    return out


def screenshot_report(page: Path, folder: Path, drill: str | None = None, *,
                      binary: str | None = None) -> list[Path]:
    """``overview.png`` (the top of the page) and ``drilldown.png`` (the drill-down alone, for the pair
    and dataset ``drill`` = ``A/B/DATASET``, default the first) of the report at ``page``."""
    fragment = "only=drill&open=2" + (f"&drill={drill}" if drill else "")
    return [screenshot(file_url(page), folder / "overview.png", size=(1400, 1300), binary=binary),
            screenshot(file_url(page, fragment), folder / "drilldown.png", size=(1400, 1300), binary=binary)]
