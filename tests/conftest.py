"""Shared fixtures. Heavy services (Ray, the S3 server) start once per session, on demand."""

from __future__ import annotations

import pytest

from pipelines.sample_catalogue import SampleCatalogueConfig, write_sample_catalogue


@pytest.fixture(scope="session")
def small_catalogue(tmp_path_factory) -> str:
    """A 14-photo sample catalogue (two of each category), seed 7, shared by tests."""
    out = str(tmp_path_factory.mktemp("catalogue"))
    write_sample_catalogue(out, SampleCatalogueConfig(count=14, seed=7, contact_sheet=False))
    return out


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Credentials the S3 tests run with: unique strings, so a test can prove they never reach
# logs, manifests, summaries or reports.
TEST_KEY_ID = "RESTYLETESTKEYID0042"
TEST_SECRET = "restyle-test-secret-Zq81-must-never-leak"


@pytest.fixture(scope="session")
def s3_proxy():
    """A real S3-compatible server (moto_server) on 127.0.0.1 at a free port, behind the
    fault-injecting proxy (``tests/faultproxy.py``, no faults unless a test sets them), with
    the AWS environment pointing at the proxy, for the whole session. Stopped at the end."""
    import os
    import shutil
    import subprocess
    import sys
    import time
    import urllib.request

    exe = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or shutil.which(
        "moto_server"
    )
    if exe is None:
        pytest.fail("moto_server not found: install the dev extras (pip install -e .[dev])")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).read()
            break
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"moto_server did not start on {url}")
            time.sleep(0.1)
    from tests.faultproxy import FaultProxy

    proxy = FaultProxy(url).start()
    env = {
        "AWS_ENDPOINT_URL": proxy.url,
        "AWS_ACCESS_KEY_ID": TEST_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": TEST_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield proxy
    proxy.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def s3_endpoint(s3_proxy) -> str:
    """The S3 endpoint every test and Ray worker uses: the proxy in front of moto."""
    return s3_proxy.url


@pytest.fixture
def s3_faults(s3_proxy):
    """The session's fault proxy, for a test that injects faults; turned off afterwards."""
    s3_proxy.set_faults()
    s3_proxy.deny = None
    yield s3_proxy
    s3_proxy.set_faults()
    s3_proxy.deny = None


@pytest.fixture
def s3_bucket(s3_endpoint, request) -> str:
    """A fresh bucket per test: ``s3://<name>``."""
    import re
    import uuid

    import s3fs

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    name = f"{name}-{uuid.uuid4().hex[:6]}"
    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)
    fs.mkdir(name)
    return f"s3://{name}"


@pytest.fixture(scope="session")
def ray_local(s3_endpoint):
    """One local Ray for the session, 2 CPUs, started after the S3 environment is set so
    that workers inherit it. Actor pools are sized by the job to leave CPUs for reads."""
    import os

    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
