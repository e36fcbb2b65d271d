"""Where the Kafka broker comes from: the Maven Central jars named by `deploy/kafka/pom.xml`
(the only place that names the Kafka version), fetched once by Maven into a cache folder."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from switchboard.infra.paths import REPO_ROOT, default_cache_dir

KAFKA_POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"


def kafka_version(pom: Path = KAFKA_POM) -> str:
    """The <kafka.version> property of deploy/kafka/pom.xml."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(pom).getroot().find("m:properties/m:kafka.version", ns)
    if node is None or not (node.text or "").strip():
        raise RuntimeError(f"{pom} has no <kafka.version> property")
    return node.text.strip()


def ensure_kafka_jars(cache_dir: Path | None = None) -> Path:
    """The folder of the Kafka broker jars, `<cache_dir>/kafka-<version>/libs`.

    `cache_dir` defaults to `default_cache_dir()`. The first call runs Maven (needs Maven
    Central, or a populated ~/.m2); a marker file written after a complete copy makes later
    calls skip Maven. A file lock makes concurrent first calls (two test sessions) safe.
    """
    version = kafka_version()
    home = (cache_dir or default_cache_dir()) / f"kafka-{version}"
    libs, marker = home / "libs", home / "libs.complete"
    if marker.exists() and libs.is_dir():
        return libs
    home.mkdir(parents=True, exist_ok=True)
    with (home / "fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and libs.is_dir():
            return libs
        mvn = shutil.which("mvn")
        if not mvn:
            raise RuntimeError("Maven (`mvn`) is needed once to fetch the Kafka jars; "
                               "install it (apt-get install maven)")
        partial = home / "libs.partial"
        shutil.rmtree(partial, ignore_errors=True)
        result = subprocess.run(
            [mvn, "-q", "-B", "-f", str(KAFKA_POM), "dependency:copy-dependencies",
             "-DincludeScope=runtime", f"-DoutputDirectory={partial}"],
            capture_output=True, text=True,
        )
        jars = sorted(p.name for p in partial.glob("*.jar")) if partial.is_dir() else []
        if result.returncode != 0 or f"kafka_2.13-{version}.jar" not in jars:
            output = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
            raise RuntimeError(f"fetching the Kafka {version} jars with Maven failed "
                               f"(exit {result.returncode}):\n{output}")
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
        marker.write_text("\n".join(jars) + "\n")
    return libs
