"""One way for a command to get its Ray: connect to ``--address`` (or ``RAY_ADDRESS``), or
start a local Ray, and stop again only the Ray it started.

    with ray_session(args.address) as local:
        ...  # `local`: this process started a Ray on this machine (plan on it alone)
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
from collections.abc import Iterator

import stylecore  # noqa: F401  (sets OMP_WAIT_POLICY)

log = logging.getLogger(__name__)


@contextlib.contextmanager
def ray_session(address: str | None = None) -> Iterator[bool]:
    """Ray for the block; yields whether this call started it (a local Ray). A Ray this
    process already has (tests, notebooks) is used as it is and left running."""
    started = init_ray(address)
    try:
        yield started
    finally:
        if started:
            import ray

            if ray.is_initialized():
                ray.shutdown()


def init_ray(address: str | None) -> bool:
    """Connect to ``address`` (or ``RAY_ADDRESS``), else start a local Ray. Returns whether
    this call started Ray (and so should stop it). A Ray already initialised in this
    process (tests, notebooks) is used as it is."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        log.info("connecting to the Ray cluster at %s", address)
    else:
        log.info("no --address or RAY_ADDRESS: starting a local Ray")
    # Under `restyle -q` (root logger at WARNING or above) Ray's own INFO/WARNING start-up
    # lines (token auth, "Started a local Ray instance", Ray Data's plan and progress
    # notes) stay in its log files.
    quiet = logging.getLogger().getEffectiveLevel() >= logging.WARNING
    if quiet:
        _quiet_ray_data()
    ray.init(
        # "local", not None: with None Ray attaches to the last `ray start` cluster on this
        # machine (/tmp/ray/ray_current_cluster), which this command would then plan on
        # as its own and shut down. A fresh-clone CI run saw `restyle serve` join another
        # run's cluster that way.
        address=address or "local",
        # Workers on other nodes do not inherit this process's environment: carry the
        # OpenMP wait policy stylecore sets (see stylecore/__init__.py) to every one.
        runtime_env={"env_vars": {"OMP_WAIT_POLICY": os.environ["OMP_WAIT_POLICY"]}},
        include_dashboard=False,
        log_to_driver=True,
        logging_level=logging.ERROR if quiet else logging.INFO,
    )
    if quiet:
        logging.getLogger("ray").setLevel(logging.ERROR)
        logging.getLogger("ray.data").setLevel(logging.ERROR)
    return True


def _quiet_ray_data() -> None:
    """Ray Data's console lines (the plan, 'execution finished', the progress-bar notice)
    at ERROR, its log files as they are: Ray Data re-reads its logging config from
    RAY_DATA_LOGGING_CONFIG at every execution. A config the user set is left alone."""
    import copy
    import tempfile

    import yaml

    if os.environ.get("RAY_DATA_LOGGING_CONFIG"):
        return
    try:  # Ray Data's default config (pinned ray: see pyproject.toml)
        from ray.data._internal.logging import DEFAULT_CONFIG
    except ImportError:
        return
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    if "console" not in cfg.get("handlers", {}):
        return
    cfg["handlers"]["console"]["level"] = "ERROR"
    fd, path = tempfile.mkstemp(prefix="restyle-ray-data-logging-", suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(cfg, f)
    os.environ["RAY_DATA_LOGGING_CONFIG"] = path
    atexit.register(lambda: os.path.exists(path) and os.unlink(path))
