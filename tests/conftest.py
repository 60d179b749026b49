"""Shared fixtures. Heavy services (Ray, the S3 server) start once per session, on demand."""

from __future__ import annotations

import pytest

from jobs.sample_catalogue import SampleCatalogueConfig, write_sample_catalogue


@pytest.fixture(scope="session")
def small_catalogue(tmp_path_factory) -> str:
    """A 14-photo sample catalogue (two of each category), seed 7, shared by tests."""
    out = str(tmp_path_factory.mktemp("catalogue"))
    write_sample_catalogue(out, SampleCatalogueConfig(count=14, seed=7, contact_sheet=False))
    return out
