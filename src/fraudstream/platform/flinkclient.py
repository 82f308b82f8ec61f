"""PyFlink table environments: on the session cluster, or in-process for tests.

The client plans SQL locally (so it needs the connector jars on its own
classpath too, via ``pipeline.jars``) and submits the job graph to the
cluster's REST endpoint.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from fraudstream.config import Settings
from fraudstream.platform import jvm


def _client_env() -> None:
    # The PyFlink gateway is a JVM started by the client; it needs JAVA_HOME.
    os.environ.setdefault("JAVA_HOME", str(jvm.java_home()))


def pipeline_jars(settings: Settings) -> str:
    return ";".join(jar.as_uri() for jar in jvm.connector_jars(settings.jvm_home))


def _configuration(settings: Settings, *, remote: bool, config: dict[str, Any] | None) -> Any:
    """The client's Flink configuration: connector jars, the cluster (when
    ``remote``), then ``config`` on top."""
    from pyflink.common import Configuration

    conf = Configuration()
    conf.set_string("pipeline.jars", pipeline_jars(settings))
    if remote:
        rest = urlsplit(settings.flink_rest)
        conf.set_string("execution.target", "remote")
        conf.set_string("rest.address", rest.hostname or settings.host)
        conf.set_string("rest.port", str(rest.port or 8081))
    for key, value in (config or {}).items():
        conf.set_string(key, str(value).lower() if isinstance(value, bool) else str(value))
    return conf


def table_env(
    settings: Settings,
    *,
    remote: bool = True,
    streaming: bool = True,
    config: dict[str, Any] | None = None,
) -> Any:
    """A ``TableEnvironment`` that submits to the cluster (``remote``) or runs in-process."""
    _client_env()
    from pyflink.table import EnvironmentSettings, TableEnvironment

    conf = _configuration(settings, remote=remote, config=config)
    builder = EnvironmentSettings.new_instance().with_configuration(conf)
    builder = builder.in_streaming_mode() if streaming else builder.in_batch_mode()
    return TableEnvironment.create(builder.build())


def stream_env(
    settings: Settings, *, remote: bool = True, config: dict[str, Any] | None = None
) -> tuple[Any, Any]:
    """A (StreamExecutionEnvironment, StreamTableEnvironment) pair that submits to
    the cluster (``remote``) or runs in-process, for jobs that mix SQL
    connectors with Python operators."""
    _client_env()
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.java_gateway import get_gateway
    from pyflink.table import StreamTableEnvironment

    conf = _configuration(settings, remote=remote, config=config)
    # Not get_execution_environment(conf): outside a Flink CLI context it makes
    # a local environment and ignores execution.target.
    jvm = get_gateway().jvm
    j_env = jvm.org.apache.flink.streaming.api.environment.StreamExecutionEnvironment(
        conf._j_configuration
    )
    env = StreamExecutionEnvironment(j_env)
    return env, StreamTableEnvironment.create(env)
