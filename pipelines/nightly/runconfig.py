"""Configuration of a nightly run: the typed config (YAML / ``--set`` / flags), the styles
file, and the resolved, picklable ``RunContext`` every stage receives.

The styles file (``--styles STYLES.yaml``)::

    default: wood                 # style for images with no style_id and no category rule
    categories:                   # optional: a style per catalogue category
      mug: watercolour
    styles:
      wood:
        model: models/style/multi # model folder (a LATEST file picks the version) or URI
        style: wood               # style id inside the model (default: this entry's name)
        region: background        # background | product | all
        scale: 1.0                # texture size: reference long side / photo long side
                                  # (default nightly.transfer.synth.scale = 1.0)
        seam: 0.3                 # softness of the quilting seams: their blur, as a
                                  # fraction of the patch (or band) overlap (default
                                  # nightly.transfer.synth.feather = 0.02). Soft for
                                  # organic grain (wood), low for hard-edged patterns
        alpha: 1.0
        preserve_colour: false
        quality:                  # thresholds, see stylecore.quality.checks.QualityConfig
          min_judge: 0.3

A catalogue table's ``style_id`` column wins over ``categories``, which wins over
``default``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

import yaml

from pipelines import storage
from pipelines.placement.resources import ResourceConfig
from stylecore.config import ConfigError, build
from stylecore.io.codec import DecodeLimits
from stylecore.quality.checks import QualityConfig
from stylecore.segmentation import SegmenterConfig
from stylecore.transfer.composite import Region
from stylecore.transfer.restyle import TransferConfig


@dataclass(frozen=True)
class StyleEntry:
    model: str = ""  # model folder or URI; "" = the committed demo model
    style: str = ""  # style id inside the model; "" = the entry's name
    region: Region = "background"
    scale: float = 0.0  # reference long side / photo long side; 0 = transfer.synth.scale
    seam: float = 0.0  # seam blur / patch overlap; 0 = transfer.synth.feather
    alpha: float = 1.0
    preserve_colour: bool = False
    quality: QualityConfig = field(default_factory=QualityConfig)

    def __post_init__(self) -> None:
        if not 0.0 <= self.seam <= 1.0:
            raise ValueError(f"seam={self.seam}: must be in [0, 1] (0 = the default)")


@dataclass(frozen=True)
class StylesFile:
    styles: dict[str, StyleEntry] = field(default_factory=dict)
    default: str = ""
    categories: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.styles:
            raise ValueError("styles: at least one style is needed")
        for name in self.styles:
            storage.safe_key(name)  # style ids become key segments
        for where, name in [("default", self.default), *self.categories.items()]:
            if name and name not in self.styles:
                raise ValueError(
                    f"{where}: style {name!r} is not defined; styles: {sorted(self.styles)}"
                )

    def style_for(self, style_id: str, category: str) -> str:
        return style_id or self.categories.get(category, "") or self.default


def read_yaml(uri: str, flag: str) -> dict:
    """A YAML mapping from ``uri`` (any storage location); errors name ``flag``. An empty
    file is an empty mapping."""
    try:
        data = yaml.safe_load(storage.read_bytes(uri).decode("utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"{flag} {uri}: file not found") from e
    except IsADirectoryError as e:
        raise ConfigError(f"{flag} {uri}: a folder, not a YAML file") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{flag} {uri}: not a text file") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{flag} {uri}: not valid YAML: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{flag} {uri}: expected a mapping of keys at the top")
    return data


def load_styles(uri: str) -> StylesFile:
    return build(StylesFile, read_yaml(uri, "--styles"))


@dataclass(frozen=True)
class OutputConfig:
    format: Literal["jpg", "png", "webp"] = "jpg"
    quality: int = 92


@dataclass(frozen=True)
class NightlyConfig:
    shards: int = 16
    max_failure_ratio: float = 0.02
    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)
    segmenter_model: str = ""  # "" = the committed demo U-Net
    transfer: TransferConfig = field(default_factory=TransferConfig)  # scales, tiles, ...
    limits: DecodeLimits = field(default_factory=DecodeLimits)
    output: OutputConfig = field(default_factory=OutputConfig)
    resources: ResourceConfig = field(default_factory=ResourceConfig)
    read_attempts: int = 4  # transient storage errors are retried with backoff
    report_samples: int = 12
    progress_every_s: float = 10.0

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= 100_000:
            raise ValueError(f"shards={self.shards}: must be between 1 and 100000")
        if not 0.0 <= self.max_failure_ratio <= 1.0:
            raise ValueError(f"max_failure_ratio={self.max_failure_ratio}: must be in [0, 1]")


@dataclass(frozen=True)
class ResolvedStyle:
    """One style of a run, with its model pinned to a version folder."""

    name: str
    model_uri: str  # the version folder
    model_version: str
    transfer: TransferConfig
    quality: QualityConfig
    config_hash: str


@dataclass(frozen=True)
class RunContext:
    """Everything a stage needs, resolved by the driver and shipped to the workers."""

    run_id: str
    out: str
    styles: dict[str, ResolvedStyle]
    segmenter: SegmenterConfig
    segmenter_model: str
    limits: DecodeLimits
    output: OutputConfig
    read_attempts: int = 4
    device: str = "cpu"  # "cuda" on GPU actors
    torch_threads: int = 1

    @classmethod
    def create(cls, run_id: str, out: str, styles: StylesFile, cfg: NightlyConfig) -> RunContext:
        """A new run's context: every style resolved (model pinned to its version)."""
        return cls(
            run_id=run_id,
            out=out,
            styles={n: resolve_style(n, e, cfg) for n, e in styles.styles.items()},
            segmenter=cfg.segmenter,
            segmenter_model=cfg.segmenter_model,
            limits=cfg.limits,
            output=cfg.output,
            read_attempts=cfg.read_attempts,
        )

    def with_device(self, device: str, threads: int) -> RunContext:
        return dataclasses.replace(self, device=device, torch_threads=threads)


def _hash(obj) -> str:
    blob = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def resolve_style(name: str, entry: StyleEntry, cfg: NightlyConfig) -> ResolvedStyle:
    """Pin ``entry``'s model to a version folder and fold the entry into a TransferConfig.
    The config hash covers everything that changes the output bytes."""
    from pipelines.models import DEFAULT_STYLE_MODEL, resolve_model_version

    model_uri, version = resolve_model_version(entry.model or DEFAULT_STYLE_MODEL)
    transfer = dataclasses.replace(
        cfg.transfer,
        style=entry.style or name,
        alpha=entry.alpha,
        preserve_colour=entry.preserve_colour,
        composite=dataclasses.replace(cfg.transfer.composite, region=entry.region),
        synth=dataclasses.replace(
            cfg.transfer.synth,
            scale=entry.scale or cfg.transfer.synth.scale,
            feather=entry.seam or cfg.transfer.synth.feather,
        ),
    )
    h = _hash(
        {
            "transfer": dataclasses.asdict(transfer),
            "quality": dataclasses.asdict(entry.quality),
            "segmenter": dataclasses.asdict(cfg.segmenter),
            "segmenter_model": cfg.segmenter_model,
            "limits": dataclasses.asdict(cfg.limits),
            "output": dataclasses.asdict(cfg.output),
        }
    )
    return ResolvedStyle(name, model_uri, version, transfer, entry.quality, h)


def context_to_json(ctx: RunContext) -> dict:
    return dataclasses.asdict(ctx)


def context_from_json(data: dict) -> RunContext:
    """The inverse of ``context_to_json`` (for re-runs: the run's own recorded context)."""
    styles = {
        k: ResolvedStyle(
            name=v["name"],
            model_uri=v["model_uri"],
            model_version=v["model_version"],
            transfer=build(TransferConfig, v["transfer"]),
            quality=build(QualityConfig, v["quality"]),
            config_hash=v["config_hash"],
        )
        for k, v in data["styles"].items()
    }
    return RunContext(
        run_id=data["run_id"],
        out=data["out"],
        styles=styles,
        segmenter=build(SegmenterConfig, data["segmenter"]),
        segmenter_model=data["segmenter_model"],
        limits=build(DecodeLimits, data["limits"]),
        output=build(OutputConfig, data["output"]),
        read_attempts=data.get("read_attempts", 4),
    )
