"""No silent hangs: a progress beacon rank 0 beats, and a driver-side watchdog that stops a run
that stopped moving."""

from __future__ import annotations

import contextlib
import logging
import os
import time

log = logging.getLogger(__name__)


class TrainingStalledError(RuntimeError):
    """No training step was reported for ``no_progress_timeout_s``."""


BEACON_PREFIX = "restyle-progress-"


def _beacon_class():
    import ray

    @ray.remote(num_cpus=0)
    class ProgressBeacon:
        """Rank 0 reports each logged step here; the driver's watchdog reads it."""

        def __init__(self) -> None:
            self.step, self.at = -1, time.time()

        def beat(self, step: int) -> None:
            self.step, self.at = step, time.time()

        def last(self) -> tuple[int, float]:
            return self.step, self.at

    return ProgressBeacon


def beat(config: dict, step: int) -> None:
    """Tell the driver's watchdog that training reached ``step`` (fire and forget)."""
    import ray

    name = config.get("beacon")
    if not name:
        return
    with contextlib.suppress(ValueError):  # the driver is gone: nothing to tell
        ray.get_actor(name).beat.remote(step)


class Watchdog:
    """Stops ``trainer.fit()`` in the main thread when no step is reported for ``timeout``
    seconds (from the start, until the first step: loading data and starting workers
    count). ``fired`` says whether it did."""

    def __init__(self, timeout: float, what: str) -> None:
        import threading

        import ray

        self.timeout, self.what, self.fired = timeout, what, ""
        self.name = f"{BEACON_PREFIX}{os.getpid()}-{time.time_ns()}"
        self.actor = _beacon_class().options(name=self.name).remote() if timeout > 0 else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._ray = ray

    def __enter__(self) -> Watchdog:
        import signal
        import threading

        # Ray Train's fit() installs its own SIGINT handler (a graceful abort) and leaves
        # it behind; the handler in place now is put back on exit, so a later watchdog in
        # this process still interrupts the main thread as intended.
        self._sigint = None
        if threading.current_thread() is threading.main_thread():
            self._sigint = signal.getsignal(signal.SIGINT)
        if self.actor is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        import signal

        self._stop.set()
        if self.actor is not None:
            self._ray.kill(self.actor)
        if self._sigint is not None:
            signal.signal(signal.SIGINT, self._sigint)

    def _watch(self) -> None:
        import _thread

        while not self._stop.wait(min(10.0, self.timeout / 4)):
            try:
                step, at = self._ray.get(self.actor.last.remote(), timeout=30)
            except Exception:
                continue
            idle = time.time() - at
            if idle > self.timeout and not self._stop.is_set():
                where = "before the first step" if step < 0 else f"after step {step}"
                self.fired = (
                    f"{self.what}: no progress for {idle:.0f} s {where} "
                    f"(dist.no_progress_timeout_s={self.timeout:g}). Likely causes: the "
                    "workers or the data-loading tasks cannot get the resources they ask "
                    "for (see `ray status`), or a worker is wedged. Stopped."
                )
                log.error("%s", self.fired)
                _thread.interrupt_main()
                return
