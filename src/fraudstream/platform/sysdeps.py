"""Install the Debian packages the stack needs, when missing.

``python -m fraudstream.platform.sysdeps postgresql maven ...`` checks each
package by what it provides (a binary, a server) and, when something is
missing, installs it with apt-get if we are root, or prints the exact command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def _java_ok() -> bool:
    from fraudstream.platform.jvm import PrerequisiteError, check_java

    try:
        check_java()
    except PrerequisiteError:
        return False
    return True


CHECKS: dict[str, Callable[[], bool]] = {
    "postgresql": lambda: (
        any(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
        or shutil.which("postgres") is not None
    ),
    "maven": lambda: shutil.which("mvn") is not None,
    "openjdk-17-jdk-headless": _java_ok,
    "chromium": lambda: shutil.which("chromium") is not None,
}


def missing(packages: list[str]) -> list[str]:
    unknown = [p for p in packages if p not in CHECKS]
    if unknown:
        raise SystemExit(f"sysdeps: no check for {unknown}")
    return [p for p in packages if not CHECKS[p]()]


def main(argv: list[str]) -> int:
    wanted = missing(argv)
    if not wanted:
        return 0
    command = ["apt-get", "install", "-y", "--no-install-recommends", *wanted]
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(
            f"missing system packages: {' '.join(wanted)}\n"
            f"install them with: sudo apt-get update && sudo {' '.join(command)}",
            file=sys.stderr,
        )
        return 1
    print(f"installing {' '.join(wanted)} with apt-get", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(command, check=True, env=env)
    still = missing(argv)
    if still:
        print(f"still missing after apt-get: {' '.join(still)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
