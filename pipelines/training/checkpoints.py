"""Checkpoints of a distributed run: restore, report (rank 0's state plus every rank's data
position), the fault hook the tests use, and TensorBoard events."""

from __future__ import annotations

import io
import logging
import os
import tempfile

from pipelines import storage
from pipelines.training.config import DistConfig

log = logging.getLogger(__name__)


def fault_marker(config: dict) -> str:
    return storage.join(config["root"], "ray-train", f"{config['run_name']}.fault-injected")


def save_state(state: dict) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def maybe_fault(d: DistConfig, config: dict, next_step: int, rank: int, world: int) -> None:
    """The test hook: the last worker fails once, at ``fault_at_step``: it raises, or its
    process is SIGKILLed (``fault_kind``)."""
    if d.fault_at_step and next_step == d.fault_at_step and rank == world - 1:
        marker = fault_marker(config)
        if not storage.exists(marker):
            storage.write_bytes(marker, d.fault_kind.encode())
            if d.fault_kind == "sigkill":
                import signal

                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"injected fault at step {d.fault_at_step} (testing)")


def restore(config: dict, rank: int, world: int) -> tuple[dict | None, dict | None]:
    """``(state, this rank's own state)`` from Ray Train's latest checkpoint, if any. The
    rank's own state (its data position) is only used when the world size is unchanged."""
    import ray.train
    import torch

    ckpt = ray.train.get_checkpoint()
    if ckpt is None:
        # A restart can find no registered checkpoint although rank 0 uploaded one: a
        # worker killed right after the first report. Training starts over, so that
        # upload goes too.
        if rank == 0:
            drop_unregistered(config, 0)
        return None, None
    with ckpt.as_directory() as folder, open(os.path.join(folder, "state.pt"), "rb") as f:
        saved = torch.load(io.BytesIO(f.read()), weights_only=True)
    if rank == 0:
        drop_unregistered(config, int(saved["step"]))
    ranks = saved.get("ranks", [])
    return saved, (ranks[rank] if len(ranks) == world else None)


def drop_unregistered(config: dict, restored: int) -> None:
    """Delete checkpoint folders newer than the one Ray Train restored from.

    A worker killed right after a report (SIGKILL, OOM, a lost node) can leave a checkpoint
    that rank 0 uploaded but the Train controller never registered: Ray restarts from the
    previous one, and the steps in between are trained and checkpointed again. The
    unregistered folder would then stand beside its replacement, so every checkpoint step
    would no longer appear exactly once."""
    run = storage.join(config["root"], "ray-train", config["run_name"])
    dropped = []
    for name in storage.list_dirs(run):
        if not name.startswith("checkpoint_"):
            continue
        folder = storage.join(run, name)
        try:
            step = int(storage.read_bytes(storage.join(folder, "step.txt")))
        except (FileNotFoundError, ValueError):
            continue  # not one of ours, or still being written: leave it
        if step > restored:
            storage.delete(folder, recursive=True)
            dropped.append(step)
    if dropped:
        log.warning(
            "restarted from step %d: removed %d unregistered checkpoint(s) of an interrupted "
            "report (steps %s); those steps are trained again",
            restored, len(dropped), sorted(dropped),
        )  # fmt: skip


def report(rank: int, world: int, metrics: dict, state_fn, mine: dict, on_save=None) -> None:
    """Report ``metrics`` from every rank; rank 0 attaches a checkpoint holding
    ``state_fn()`` plus every rank's own state ``mine`` (gathered)."""
    import ray.train
    import torch.distributed as dist

    ranks = [None] * world
    if world > 1 and dist.is_initialized():
        dist.all_gather_object(ranks, mine)
    else:
        ranks = [mine]
    if rank != 0:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory() as folder:
        state = {**state_fn(), "ranks": ranks, "step": metrics["step"]}
        with open(os.path.join(folder, "state.pt"), "wb") as f:
            f.write(save_state(state))
        with open(os.path.join(folder, "step.txt"), "w") as f:
            f.write(str(metrics["step"]))
        if on_save is not None:
            on_save()
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))


def tensorboard(config: dict):
    from tensorboardX import SummaryWriter

    return SummaryWriter(_local_tb_dir(config))


def _local_tb_dir(config: dict) -> str:
    root = config["root"]
    if storage.is_local(root):
        return storage.join(storage.split_uri(root)[1], "tensorboard")
    return os.path.join(tempfile.gettempdir(), "restyle-tensorboard", config["run_name"])


def upload_tensorboard(config: dict) -> None:
    """Copy the event files next to the model when the models live in object storage."""
    if storage.is_local(config["root"]):
        return
    local = _local_tb_dir(config)
    for name in os.listdir(local):
        with open(os.path.join(local, name), "rb") as f:
            storage.write_bytes(storage.join(config["root"], "tensorboard", name), f.read())
