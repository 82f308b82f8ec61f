"""What `fraudstream run` starts: the job, then the archive writer next to it."""

from __future__ import annotations

from fraudstream.config import Settings
from fraudstream.platform.run import planned_services


def test_the_archive_writer_runs_with_the_job() -> None:
    services = planned_services(Settings(), job=True, banks=False, dashboard=False)
    assert [s.name for s in services] == ["job-submit", "archive"]
    assert services[0].oneshot and not services[1].oneshot
    assert services[1].argv == ("archive",)
    assert planned_services(Settings(), job=False, banks=False, dashboard=False) == []
