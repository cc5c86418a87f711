"""A study whose Tune storage is an S3 bucket, as on a cluster (`--storage s3://BUCKET/PATH`):
the bucket is served by moto's S3 server on 127.0.0.1, reached through `AWS_ENDPOINT_URL`
(read by pyarrow's S3 file system, hence by Tune, and by boto3), with dummy credentials.

The driver is killed (SIGKILL) mid-study and the same command resumes it from the bucket; then
the tables are rebuilt from the bucket alone (`--export-only`) and the figures drawn from them,
the study file fetched from the bucket beside them. The tables equal an undisturbed run's in
every column but ids and timings, and nothing the test started listens beyond loopback.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from analysis.make_figures import main as draw
from studies import eps_sweep
from tests.cluster_helpers import (
    STUDY,
    Driver,
    assert_each_row_once,
    assert_same_tables,
    beyond_loopback,
    descendants,
    free_port,
    kill_group,
    kill_pids,
    listening,
    of_temp_dir,
    port_answers,
    ray_env,
    ray_temp,
    read_tables,
    study_args,
    undisturbed,
    wait_for,
)

boto3 = pytest.importorskip("boto3")  # installed with moto
pytest.importorskip("moto")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("ray_session"),  # the undisturbed run
    pytest.mark.skipif(sys.platform != "linux", reason="reads processes and sockets (Linux)"),
    pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) is not installed"),
]
BUCKET, PREFIX = "nc-bucket", "nc-core/ray"
CHECKPOINT = re.compile(rf"^{PREFIX}/{STUDY}/(trial_[^/]+)/checkpoint_\d+/meta\.json$")


@dataclass(frozen=True)
class S3:
    endpoint: str  # http://127.0.0.1:PORT
    pid: int  # the server's

    def env(self) -> dict[str, str]:
        """What a process needs to reach this S3 as `s3://...` (pyarrow, Tune, boto3)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata lookups for credentials
        }

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def keys(self, prefix: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2")
        found = pages.paginate(Bucket=BUCKET, Prefix=prefix)
        return [obj["Key"] for page in found for obj in page.get("Contents", [])]


@pytest.fixture
def s3(tmp_path, monkeypatch):
    """moto's S3 server on 127.0.0.1 (a process of its own) with an empty bucket; this process
    reaches it through the same environment as the drivers."""
    port = free_port()
    with open(tmp_path / "s3.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: port_answers("127.0.0.1", port) or proc.poll() is not None, 60, "S3")
        assert proc.poll() is None, (tmp_path / "s3.log").read_text()
        server = S3(f"http://127.0.0.1:{port}", proc.pid)
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        server.client().create_bucket(Bucket=BUCKET)
        yield server
    finally:
        kill_group(proc)


def checkpointed_twice(s3: S3) -> bool:
    """Whether a trial has two checkpoints in the bucket (so Tune has recorded one)."""
    trials = [m.group(1) for k in s3.keys(f"{PREFIX}/{STUDY}/") if (m := CHECKPOINT.match(k))]
    return any(trials.count(t) >= 2 for t in trials)


def run(args: list[str], cwd: Path, env: dict, log: Path, timeout: float = 300) -> str:
    """Run the study to its end; its output. AssertionError on a non-zero exit."""
    driver = Driver(args, cwd, env, log)
    try:
        code = driver.wait(timeout)
    finally:
        driver.kill_all()
    assert code == 0, driver.tail()
    return log.read_text(errors="replace")


def test_study_on_s3_killed_resumed_exported_and_drawn_from_the_bucket(
    tmp_path, tmp_path_factory, s3, capsys
):
    started = time.monotonic()
    storage = f"s3://{BUCKET}/{PREFIX}"
    args = [*study_args(tmp_path, storage=storage), "--num-cpus", "2"]
    temp = ray_temp()
    env = ray_env(temp, **s3.env())
    try:
        driver = Driver(args, tmp_path, env, tmp_path / "driver-1.log")
        leftovers = set()
        try:
            wait_for(lambda: checkpointed_twice(s3) or not driver.alive(), 240, "checkpoints")
            assert driver.alive(), f"the study ended before it could be killed\n{driver.tail()}"
            ours = descendants([driver.pid, s3.pid])
            sockets = listening(ours)
            assert any(a.endswith(s3.endpoint.rsplit(":", 1)[1]) for a in sockets), sockets
            assert beyond_loopback(sockets) == [], sockets
            leftovers = descendants([driver.pid])
            driver.proc.kill()  # SIGKILL: the driver alone, as when its machine's process dies
            driver.proc.wait()
        finally:
            driver.kill_all()
            kill_pids(leftovers | of_temp_dir(temp))  # its local Ray, if Ray left any of it
        assert not (tmp_path / "results" / STUDY).exists()  # killed before writing tables
        assert f"{PREFIX}/{STUDY}/nc_study.json" in s3.keys(PREFIX)

        out = run(args, tmp_path, env, tmp_path / "driver-2.log")  # the same command again
        assert "resuming" in out
    finally:
        kill_pids(of_temp_dir(temp))
        shutil.rmtree(temp, ignore_errors=True)
    resumed = read_tables(tmp_path / "results")
    assert_each_row_once(*resumed)

    # the tables again, from the bucket alone, into another folder; then the figures
    exported = tmp_path / "exported" / "results"
    export = [*study_args(tmp_path / "exported", storage=storage), "--export-only"]
    assert eps_sweep.main(export) == 0
    again = read_tables(exported)
    for a, b in zip(again, resumed, strict=True):
        assert sorted(a.trial_id.unique()) == sorted(b.trial_id.unique())
    assert_same_tables(again, resumed)
    # the analysis reads a study file from a local folder: fetch it beside the tables
    study_file = exported / STUDY / "study.json"
    s3.client().download_file(BUCKET, f"{PREFIX}/{STUDY}/nc_study.json", str(study_file))
    figures = tmp_path / "figures"
    capsys.readouterr()
    assert draw(["--results", str(exported), "--study", STUDY, "--out", str(figures)]) == 0
    assert f"from its study file {study_file}" in capsys.readouterr().out
    assert list(figures.glob("*.png")) and (figures / "REPORT.md").is_file()
    print(f"S3: killed, resumed, exported, drawn: {time.monotonic() - started:.0f} s")

    assert_same_tables(resumed, undisturbed(tmp_path_factory.getbasetemp()))
