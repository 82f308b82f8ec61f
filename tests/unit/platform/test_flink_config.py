from __future__ import annotations

import sys
from pathlib import Path

from fraudstream.config import Settings
from fraudstream.platform import flink


def test_cluster_config_uses_settings(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, flink_rest_port=1234, flink_jobmanager_rpc_port=2345)
    conf = flink.cluster_config(s)
    assert conf["rest.port"] == 1234
    assert conf["jobmanager.rpc.port"] == 2345
    assert conf["taskmanager.numberOfTaskSlots"] == 3
    assert conf["python.executable"] == sys.executable
    assert conf["execution.checkpointing.dir"].startswith("file://" + str(tmp_path))
    assert conf["state.backend.type"] == "rocksdb"
    # A TaskManager that starts before the ResourceManager retries within a second.
    assert conf["cluster.registration.error-delay"] == "1 s"


def test_prepare_keeps_site_packages_untouched(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, jvm_dir=tmp_path / "jvm")
    (tmp_path / "jvm" / "flink").mkdir(parents=True)
    (tmp_path / "jvm" / "flink" / "connector.jar").write_bytes(b"")
    flink.prepare(s)
    lib = flink.lib_dir(s)
    names = {p.name for p in lib.iterdir()}
    assert "connector.jar" in names
    assert any(n.startswith("flink-dist") for n in names)
    assert (flink.conf_dir(s) / "config.yaml").is_file()
    env = flink.environment(s)
    assert env["FLINK_CONF_DIR"].startswith(str(tmp_path))
    assert env["FLINK_LIB_DIR"].startswith(str(tmp_path))
