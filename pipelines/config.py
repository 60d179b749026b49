"""One configuration mechanism for every job: an optional YAML file, then command-line
values.

Precedence, lowest first: the dataclass defaults, ``--config FILE.yaml``, ``--set KEY=VALUE``
(dotted keys reach nested sections, values parse as YAML scalars), then the job's own
flags. Unknown keys and bad values raise ``ConfigError`` naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import yaml

from pipelines.nightly.runconfig import read_yaml
from stylecore.config import ConfigError, build

T = TypeVar("T")


def _merge(into: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = into
    for p in parts[:-1]:
        child = node.setdefault(p, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{key}: {p} is not a section")
        node = child
    node[parts[-1]] = value


def _scalar(value: Any) -> Any:
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; a user typing ``--set lr_g=1e-4``
    means the number."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def load_config(
    cls: type[T],
    config_path: str | None = None,
    sets: list[str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> T:
    """Build ``cls`` from defaults, a YAML file, ``--set`` pairs and explicit flags.

    ``flags`` maps (dotted) keys to values; ``None`` values mean "flag not given".
    """
    data: dict = read_yaml(config_path, "--config") if config_path else {}
    for item in sets or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        _merge(data, key.strip(), _scalar(yaml.safe_load(raw)))
    for key, value in (flags or {}).items():
        if value is not None:
            _merge(data, key, value)
    return build(cls, data)


def is_set(key: str, config_path: str | None, sets: list[str] | None, flag: Any = None) -> bool:
    """Did the user set the dotted ``key`` (by its flag, ``--set`` or the YAML file), as
    opposed to leaving the default?"""
    if flag is not None or any(s.partition("=")[0].strip() == key for s in sets or []):
        return True
    node: Any = read_yaml(config_path, "--config") if config_path else {}
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
