"""Reliability under real faults: the nightly reads and writes through the fault-injecting
S3 proxy (``tests/faultproxy.py``) and must lose, duplicate and corrupt nothing.

Each faulty run is compared with a fault-free run of the same catalogue: the same rows,
the same statuses, byte-identical published images (the manifest's sha256 and a re-read
of every object), and ``restyle verify`` passing."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from jobs.cli import main
from pipelines import storage
from tests.test_nightly import (  # noqa: F401  (styles_file is a fixture)
    check_exactly_once,
    nightly,
    styles_file,
    write_catalogue,
)

pytestmark = pytest.mark.usefixtures("ray_local")


def _published(rows: dict[str, dict]) -> dict[str, str]:
    return {i: r["output_sha256"] for i, r in rows.items() if r["status"] == "ok"}


@pytest.mark.slow
def test_nightly_through_a_faulty_store_loses_and_corrupts_nothing(
    s3_bucket,
    s3_faults,
    styles_file,  # noqa: F811
    capsys,
):
    cat = f"{s3_bucket}/catalogue"
    write_catalogue(cat, 12)
    t0 = time.perf_counter()
    assert nightly(cat, styles_file, f"{s3_bucket}/clean", "clean", "--shards", "4") == 0
    clean_wall = time.perf_counter() - t0
    clean = check_exactly_once(f"{s3_bucket}/clean", "clean")
    assert _published(clean), "the fault-free run published nothing to compare with"
    report = []
    for seed in (1,):  # more seeds: bench/bench_chaos.py
        out, run_id = f"{s3_bucket}/faulty{seed}", f"faulty{seed}"
        s3_faults.set_faults(total=0.05, seed=seed)
        t0 = time.perf_counter()
        code = nightly(cat, styles_file, out, run_id, "--shards", "4")
        wall = time.perf_counter() - t0
        injected = dict(s3_faults.counts)
        requests = s3_faults.requests
        s3_faults.set_faults()  # off: the checks below read through a clean store
        assert code == 0, injected
        assert sum(injected.values()) > 0, "no fault was injected"
        got = check_exactly_once(out, run_id)
        assert {i: r["status"] for i, r in got.items()} == {
            i: r["status"] for i, r in clean.items()
        }
        assert _published(got) == _published(clean)  # byte-identical, by the manifest
        for r in got.values():
            if r["status"] == "ok":  # and by the objects themselves
                data = storage.read_bytes(r["output_uri"])
                assert hashlib.sha256(data).hexdigest() == r["output_sha256"]
        capsys.readouterr()
        assert main(["-q", "verify", "--out", out, "--run-id", run_id]) == 0
        res = json.loads(capsys.readouterr().out)
        report.append(
            {**res, "seed": seed, "requests": requests, "injected": injected, "wall_s": wall}
        )
    with capsys.disabled():
        print(f"\nfault-free wall {clean_wall:.1f} s")
        for r in report:
            print(
                f"seed {r['seed']}: {r['requests']} requests, faults {r['injected']}, wall "
                f"{r['wall_s']:.1f} s ({r['wall_s'] / clean_wall:.2f}x), problems {r['problems']}"
            )


def test_a_forbidden_output_prefix_fails_the_run_loudly(
    s3_bucket,
    s3_faults,
    styles_file,  # noqa: F811
    capsys,
):
    """Every PUT under the images prefix is refused (403 AccessDenied, as a bucket policy or
    an exhausted quota would): exit 5, a clear message, no row claiming ok."""
    cat, out = f"{s3_bucket}/catalogue", f"{s3_bucket}/out"
    write_catalogue(cat, 6)
    s3_faults.deny = ("PUT", f"/{s3_bucket[len('s3://') :]}/out/images/")
    code = nightly(cat, styles_file, out, "denied")
    denied = s3_faults.counts["deny"]
    s3_faults.deny = None
    assert code == 5 and denied > 0
    err = capsys.readouterr().err
    assert "could not be written" in err
    got = check_exactly_once(out, "denied")
    assert not [r for r in got.values() if r["status"] == "ok"]
    failed = [r for r in got.values() if r["status"] == "failed"]
    assert failed and all(r["error_message"].startswith("write:") for r in failed)
    assert main(["-q", "verify", "--out", out, "--run-id", "denied"]) == 0
