#!/usr/bin/env python3
"""Set up the project's environment and run its jobs. Needs only Python 3.11 and the package registries.

    python3 dev.py demo     the main job on the embedded default (examples → inbox → nightly intake → outbox)
    python3 dev.py test     lint, type-check and run the test suite
    python3 dev.py bench    the benchmarks (not part of the tests)
    python3 dev.py setup    only create or update .venv

Each command first makes sure ``.venv`` matches ``uv.lock`` (uv itself is installed into ``.tools``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools"
VENV = ROOT / ".venv"
UV_VERSION = "0.13.8"


def _run(*cmd: str | Path, env: dict[str, str] | None = None) -> int:
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, env=env)


def setup() -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"coc-intake needs Python 3.11; this is {sys.version.split()[0]}. Run: python3.11 dev.py ...")
    uv = TOOLS / "bin" / "uv"
    if not uv.exists():
        print("Installing uv into .tools ...", flush=True)
        if _run(sys.executable, "-m", "venv", TOOLS) or _run(
            TOOLS / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            f"uv=={UV_VERSION}"
        ):
            sys.exit("Could not install uv. Check that the package registry is reachable and run again.")
    env = {**os.environ, "UV_PYTHON": sys.executable, "UV_LINK_MODE": "copy", "UV_COMPILE_BYTECODE": "1"}
    if _run(uv, "sync", "--frozen", "--quiet", env=env):
        sys.exit("Could not create .venv from uv.lock; see the messages above.")


def venv_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV)
    env.setdefault("DO_NOT_TRACK", "1")
    return env


def demo() -> int:
    """Fill the inbox from examples/, run one nightly intake, say where to look."""
    import shutil

    env = venv_env()
    inbox = ROOT / "inbox"
    inbox.mkdir(exist_ok=True)
    for path in sorted((ROOT / "examples").iterdir()):
        if path.suffix in {".xlsx", ".csv"}:
            shutil.copyfile(path, inbox / path.name)
    print(f"Copied the example workbooks into {inbox.relative_to(ROOT)}/; running the intake ...", flush=True)
    code = _run(VENV / "bin" / "coc", "run", env=env)
    print(
        "\nWhere to look:\n"
        "  outbox/batches/<batch id>/results.xlsx   what the employer gets back (Summary, Fix and resubmit, ...)\n"
        "  outbox/batches/<batch id>/requests/      one JSON document per approved or referred request\n"
        "  outbox/batches/<batch id>/manifest.json  the batch's counts and commit marker\n"
        "  outbox/mail/*.eml                        the e-mail confirmations (no SMTP server configured)\n"
        "Running the demo again finds the same files already processed and creates nothing new.\n"
        "Pre-check a single file: .venv/bin/coc validate examples/acme-2027-assignments.xlsx"
    )
    return code


def test(args: list[str]) -> int:
    env = venv_env()
    for step in (
        [VENV / "bin" / "ruff", "check", "."],
        [VENV / "bin" / "mypy"],
        # On every core (pytest-xdist): whole test modules to a worker, the longest first (tests/conftest.py). Options
        # given after `test` come later and win, e.g. `python3 dev.py test -n 0` for one process.
        [VENV / "bin" / "python", "-m", "pytest", "-n", "auto", "--dist", "loadscope", *args],
    ):
        code = _run(*step, env=env)
        if code:
            return code
    return 0


def bench(args: list[str]) -> int:
    return _run(VENV / "bin" / "python", "-m", "benchmarks", *args, env=venv_env())


def main() -> int:
    command, *rest = sys.argv[1:] or ["help"]
    if command not in {"setup", "demo", "test", "bench"}:
        print(__doc__)
        return 0 if command == "help" else 2
    setup()
    if command == "demo":
        return demo()
    if command == "test":
        return test(rest)
    if command == "bench":
        return bench(rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
