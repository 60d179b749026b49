"""The exported style model: a trained generator, the looks' own references, and its
model card.

Files (``to_files`` / ``from_files``): ``generator.safetensors`` (weights only, so loading
runs no code), ``model.json`` (style ids, version, generator config, feature network,
reference hashes, steps, metrics), ``style_stats.safetensors`` (what the quality gate
compares with) and ``references/<look>/<k>.jpg``: each look's reference images at up to
``REFERENCE_SIDE`` px, from which the background is synthesised
(``stylecore.transfer.synthesis``).

A *look* is anything the model can apply: the generator's trained ``style_ids`` (needed
for ``region: product|all`` and GAN harmonisation) and the looks that only have
references (registered without training, ``looks``). ``stylize`` runs the generator on one
whole photo.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from stylecore.config import build
from stylecore.io.modelfiles import pack, unpack
from stylecore.models.generator import Generator, GeneratorConfig, noise_for

FORMAT_VERSION = 1
KIND, WEIGHTS = "style-generator", "generator.safetensors"
STATS = "style_stats.safetensors"
REFERENCE_SIDE = 2048  # references are kept at up to this long side
REFERENCE_QUALITY = 95  # JPEG quality of the stored references


def reference_files(card: dict) -> list[str]:
    """The reference file names a model card lists (``references: {look: count}``)."""
    return [
        f"references/{sid}/{k}.jpg"
        for sid, n in sorted(card.get("references", {}).items())
        for k in range(int(n))
    ]


def encode_reference(rgb: np.ndarray) -> bytes:
    h, w = rgb.shape[:2]
    k = min(1.0, REFERENCE_SIDE / max(h, w))
    if k < 1:
        rgb = cv2.resize(rgb, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, REFERENCE_QUALITY]
    )
    if not ok:
        raise ValueError("reference image could not be encoded")
    return buf.tobytes()


def decode_reference(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("stored reference image does not decode")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@dataclass
class StyleModel:
    generator: Generator
    style_ids: list[str]
    version: str
    card: dict = field(default_factory=dict)
    # Per style id: the references' statistics in the quality judge network (see
    # stylecore.quality.gate); stored as style_stats.safetensors.
    stats: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    # Per look: its reference images, uint8 RGB at up to REFERENCE_SIDE px.
    references: dict[str, list[np.ndarray]] = field(default_factory=dict)

    @property
    def looks(self) -> list[str]:
        """Every look this model can apply: the trained styles, then looks that only have
        references."""
        return self.style_ids + sorted(set(self.references) - set(self.style_ids))

    def check_look(self, look: str) -> None:
        if look not in self.style_ids and look not in self.references:
            raise ValueError(f"style {look!r}: this model carries {self.looks}")

    def style_index(self, style: str | int) -> int:
        """The generator's index of a trained style (``region: product|all`` and
        harmonisation need one)."""
        if isinstance(style, int):
            if not 0 <= style < len(self.style_ids):
                raise ValueError(f"style index {style}: model has {len(self.style_ids)} styles")
            return style
        if style not in self.style_ids:
            if style in self.references:
                raise ValueError(
                    f"style {style!r} was registered from its references without training: "
                    "it restyles backgrounds (region: background) only; region product/all "
                    "and GAN harmonisation need a trained style (restyle add-style)"
                )
            raise ValueError(f"style {style!r}: this model carries {self.looks}")
        return self.style_ids.index(style)

    def to_files(self) -> dict[str, bytes]:
        meta = {
            "style_ids": self.style_ids,
            "version": self.version,
            "generator": asdict(self.generator.cfg),
            **self.card,
        }
        if self.references:
            meta["references"] = {sid: len(v) for sid, v in sorted(self.references.items())}
        files = pack(self.generator.state_dict(), meta, KIND, WEIGHTS, FORMAT_VERSION)
        for sid, imgs in self.references.items():
            for k, img in enumerate(imgs):
                files[f"references/{sid}/{k}.jpg"] = encode_reference(img)
        if self.stats:
            flat = {
                f"{sid}/{k}": v.contiguous() for sid, d in self.stats.items() for k, v in d.items()
            }
            files[STATS] = st_save(flat)
        return files

    @classmethod
    def from_files(cls, files: dict[str, bytes], device: str = "cpu") -> StyleModel:
        card, state = unpack(files, KIND, WEIGHTS, FORMAT_VERSION)
        g = Generator(build(GeneratorConfig, card.pop("generator")))
        g.load_state_dict(state)
        g.to(device).eval()
        stats: dict[str, dict[str, torch.Tensor]] = {}
        if STATS in files:
            for key, v in st_load(files[STATS]).items():
                sid, _, name = key.partition("/")
                stats.setdefault(sid, {})[name] = v
        refs: dict[str, list[np.ndarray]] = {}
        for name in reference_files(card):
            if name not in files:
                raise ValueError(f"style model {card.get('version')}: missing file {name}")
            ref = decode_reference(files[name])
            ref.flags.writeable = False  # shared by every photo; synthesis caches by it
            refs.setdefault(name.split("/")[1], []).append(ref)
        card.pop("references", None)
        ids, version = list(card.pop("style_ids")), str(card.pop("version"))
        return cls(g, ids, version, card, stats, refs)


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` -> ``(1, 3, H, W)`` float32 in [-1, 1]."""
    return torch.from_numpy(rgb.astype(np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0)


def to_image(t: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` in [-1, 1] -> uint8 ``(H, W, 3)``."""
    a = (t[0].detach().float().cpu().numpy().transpose(1, 2, 0) + 1.0) * 127.5
    return np.clip(a + 0.5, 0, 255).astype(np.uint8)


@torch.inference_mode()
def mask_tensor(
    mask: np.ndarray | None, size: tuple[int, int], device, pad: tuple[int, int] = (0, 0)
) -> torch.Tensor | None:
    """A product mask ``(H, W)`` (float in [0, 1] or uint8) as ``(1, 1, h, w)`` float at
    ``size`` = (h, w), replicate-padded by ``pad`` = (right, bottom). None stays None."""
    if mask is None:
        return None
    m = mask.astype(np.float32) / (255.0 if mask.dtype == np.uint8 else 1.0)
    h, w = size
    if m.shape != (h, w):
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_AREA)
    t = torch.from_numpy(np.ascontiguousarray(m))[None, None].to(device)
    if pad != (0, 0):
        t = F.pad(t, (0, pad[0], 0, pad[1]), mode="replicate")
    return t


def stylize(
    model: StyleModel,
    rgb: np.ndarray,
    style: str | int | torch.Tensor = 0,
    alpha: float = 1.0,
    noise_key: str = "",
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Run the generator on a whole ``(H, W, 3)`` uint8 photo at its own size (reflect-padded
    to the network's multiple, cropped back). ``style`` is an id, an index or a code
    ``(1, style_dim)``; ``noise_key`` (the image id) seeds the noise; ``mask`` ``(H, W)``
    in [0, 1] is the product, for models that take it (``cfg.mask_input``)."""
    g = model.generator
    dev = next(g.parameters()).device
    x = to_tensor(rgb).to(dev)
    h, w = x.shape[-2:]
    m = g.cfg.multiple
    ph, pw = (-h) % m + max(16 - h, 0), (-w) % m + max(16 - w, 0)
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    m_t = mask_tensor(mask, (h, w), dev, (pw, ph)) if g.cfg.mask_input else None
    noise = noise_for(noise_key, (1, g.cfg.noise_channels, *x.shape[-2:]), dev)
    if isinstance(style, torch.Tensor):
        s = style.to(dev)
    else:
        s = torch.tensor([model.style_index(style)], device=dev)
    y = g(x, noise, s, alpha=alpha, mask=m_t)[..., :h, :w]
    return to_image(y)
