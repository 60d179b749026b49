"""Per-actor torch setup: thread count on CPU, TF32 / cuDNN autotuning on GPU."""

from __future__ import annotations

import contextlib

from pipelines.nightly.runconfig import RunContext


def setup_torch(ctx: RunContext) -> None:
    import torch

    if ctx.device == "cpu":
        torch.set_num_threads(max(1, ctx.torch_threads))
    else:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def autocast(ctx: RunContext):
    """bf16 autocast on GPU, nothing on CPU (CPU bf16 is not faster for these nets here)."""
    import torch

    if ctx.device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
