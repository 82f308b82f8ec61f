"""Fetching the JVM parts (Kafka broker, Flink connectors) with Maven.

``jvm/pom.xml`` declares every jar; Maven copies them into
``<jvm_home>/kafka`` and ``<jvm_home>/flink``. A marker file records the hash
of the pom that produced the folders, so a second run fetches nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)

MIN_JAVA = 17


class PrerequisiteError(RuntimeError):
    """Something the stack needs is missing; the message says how to fix it."""


def pom_path() -> Path:
    """jvm/pom.xml of the checkout (the package is installed in editable mode)."""
    here = Path(str(resources.files("fraudstream")))
    for parent in (here, *here.parents):
        candidate = parent / "jvm" / "pom.xml"
        if candidate.is_file():
            return candidate
    raise PrerequisiteError(
        "jvm/pom.xml not found next to the fraudstream sources; "
        "run from a checkout installed with `make venv`"
    )


def java_home() -> Path:
    """JAVA_HOME, or the JDK behind the `java` on PATH."""
    env = os.environ.get("JAVA_HOME")
    if env and (Path(env) / "bin" / "java").exists():
        return Path(env)
    java = shutil.which("java")
    if java is None:
        raise PrerequisiteError(
            f"Java {MIN_JAVA}+ is required and `java` is not on PATH. "
            "Install it with: apt-get install -y openjdk-17-jdk-headless"
        )
    return Path(java).resolve().parent.parent


def java_version(home: Path | None = None) -> int:
    java = (home or java_home()) / "bin" / "java"
    out = subprocess.run(
        [str(java), "-version"], capture_output=True, text=True, check=False
    ).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise PrerequisiteError(f"cannot read the Java version from: {out.strip()!r}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def check_java() -> Path:
    home = java_home()
    version = java_version(home)
    if version < MIN_JAVA:
        raise PrerequisiteError(
            f"Java {MIN_JAVA}+ is required, found Java {version} at {home}. "
            "Install it with: apt-get install -y openjdk-17-jdk-headless "
            "and point JAVA_HOME at it"
        )
    return home


def _pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def fetched(jvm_home: Path) -> bool:
    marker = jvm_home / ".fetched"
    try:
        return marker.read_text().strip() == _pom_digest(pom_path())
    except FileNotFoundError:
        return False


def fetch(jvm_home: Path, *, force: bool = False) -> Path:
    """Copy the declared jars into ``jvm_home``; a no-op when already done."""
    pom = pom_path()
    if not force and fetched(jvm_home):
        log.debug("jars already fetched into %s", jvm_home)
        return jvm_home
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PrerequisiteError(
            "Maven is needed to fetch the Kafka and Flink connector jars. "
            "Install it with: apt-get install -y maven"
        )
    jvm_home.mkdir(parents=True, exist_ok=True)
    for sub in ("kafka", "flink"):
        shutil.rmtree(jvm_home / sub, ignore_errors=True)
    log.info("fetching jars from Maven Central into %s", jvm_home)
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(pom), f"-Dfraudstream.jvm.dir={jvm_home}", "package"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise PrerequisiteError(
            "Maven could not fetch the jars:\n" + (result.stdout + result.stderr)[-4000:]
        )
    (jvm_home / ".fetched").write_text(_pom_digest(pom) + "\n")
    return jvm_home


def kafka_classpath(jvm_home: Path) -> str:
    return str(jvm_home / "kafka" / "*")


def connector_jars(jvm_home: Path) -> list[Path]:
    return sorted((jvm_home / "flink").glob("*.jar"))
