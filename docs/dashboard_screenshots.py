"""Screenshots of the update-density dashboard as a user's browser shows it.

    python docs/dashboard_screenshots.py --out /tmp/dashboard            # needs chromium and tensorboard
    python docs/dashboard_screenshots.py --out /tmp/dashboard --keep     # and keep the runs for a look

Trains a tiny DenseLoRA run and a tiny LoRA run (the quickstart shrunk to a random 2-block model, 6 steps)
with ``callbacks/update_density.yaml``, starts ``tensorboard --logdir`` on both, and has headless Chromium
save the scalars, custom-scalars and images tabs, and the images tab filtered to the runs'
``density_over_training`` pictures, as PNG files. The screenshots are for a person to look at:
the script checks only that each one was written.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Screenshot name -> the page's address after ``#``: three tabs, and the runs' end-of-training pictures alone.
PAGES = {
    "scalars": "scalars",
    "custom_scalars": "custom_scalars",
    "images": "images",
    "density_over_training": "images&tagFilter=density_over_training",
}


def train_runs(root: Path) -> Path:
    """A DenseLoRA and a LoRA run of the tiny model, both with the density preset logging every 3 steps."""
    sys.path.insert(0, str(REPO))
    from tests.training.cli_runs import run, tiny_run_args

    # The preset logs every 50 steps; every 3 gives each 6-step run two points per curve.
    preset = ("--config", str(REPO / "callbacks" / "update_density.yaml"))
    preset += ("--trainer.callbacks.init_args.every_n_steps", "3")
    run(tiny_run_args(root, *preset))
    run(tiny_run_args(root, *preset, "--config", str(REPO / "lightning_configs" / "baselines" / "lora.yaml")))
    return root / "runs"  # runs/quickstart/version_0 and runs/lora/version_0, as `tensorboard --logdir runs` sees them


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def start_tensorboard(logdir: Path, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--port", str(port), "--host", "localhost"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://localhost:{port}/data/runs", timeout=2).read()
            return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"tensorboard did not answer on port {port} within 60 s")


def screenshot(browser: str, url: str, path: Path, size: str) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                "--hide-scrollbars", f"--window-size={size}", "--virtual-time-budget=15000",
                f"--screenshot={path}", url,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    parser.add_argument("--browser", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--window-size", default="1400,1000")
    parser.add_argument("--keep", action="store_true", help="keep the runs (their folder is printed)")
    args = parser.parse_args(argv)
    if shutil.which(args.browser) is None and not Path(args.browser).exists():
        parser.error(f"no browser at {args.browser}; install chromium or pass --browser")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args.out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="density-dashboard-"))
    try:
        logdir = train_runs(root)
        port = free_port()
        tensorboard = start_tensorboard(logdir, port)
        try:
            for name, page in PAGES.items():
                path = args.out / f"{name}.png"
                screenshot(args.browser, f"http://localhost:{port}/#{page}", path, args.window_size)
                if not path.is_file():
                    raise RuntimeError(f"no screenshot of #{page} was written")
                print(f"wrote {path}")
        finally:
            tensorboard.terminate()
            tensorboard.wait(timeout=30)
    finally:
        if args.keep:
            print(f"runs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
