from dataclasses import dataclass, field
from typing import Literal

import pytest

from jobs.config import load_config
from stylecore.config import ConfigError, build, config_hash


@dataclass(frozen=True)
class Inner:
    width: int = 8
    mode: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    ratio: float = 0.5
    sizes: tuple[int, ...] = (1, 2)
    inner: Inner = field(default_factory=Inner)
    flag: bool = False

    def __post_init__(self):
        if not 0 <= self.ratio <= 1:
            raise ValueError(f"ratio={self.ratio}: must be in [0, 1]")


def test_defaults_and_nested_values():
    cfg = build(Outer, {"ratio": 1, "sizes": [3, 4, 5], "inner": {"mode": "b"}})
    assert cfg.ratio == 1.0 and isinstance(cfg.ratio, float)
    assert cfg.sizes == (3, 4, 5)
    assert cfg.inner == Inner(8, "b")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"nmae": "y"}, "unknown key nmae"),
        ({"inner": {"widht": 3}}, "unknown key inner.widht"),
        ({"inner": {"mode": "c"}}, "inner.mode: 'c' is not one of"),
        ({"ratio": "high"}, "ratio: expected a number"),
        ({"flag": "yes"}, "flag: expected true or false"),
        ({"sizes": [1, "two"]}, r"sizes\[1\]: expected an integer"),
        ({"ratio": 3}, "ratio=3.0: must be in"),
    ],
)
def test_errors_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        build(Outer, data)


def test_yaml_then_set_then_flags(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: fromfile\nratio: 0.1\ninner:\n  width: 16\n")
    cfg = load_config(Outer, str(p), ["inner.mode=b", "ratio=0.2"], {"ratio": 0.3, "name": None})
    assert cfg.name == "fromfile"  # a flag left at None does not override
    assert cfg.ratio == 0.3
    assert cfg.inner == Inner(16, "b")


def test_bad_yaml_file_is_a_config_error(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("- a list\n- not a mapping\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(Outer, str(p))
    with pytest.raises(ConfigError, match="file not found"):
        load_config(Outer, str(tmp_path / "missing.yaml"))


def test_config_hash_is_stable_and_sensitive():
    assert config_hash(Outer()) == config_hash(Outer())
    assert config_hash(Outer()) != config_hash(Outer(ratio=0.6))


def test_a_styles_seam_sets_its_quilting_blur_and_is_checked(tmp_path):
    from pipelines.nightly.runconfig import NightlyConfig, load_styles, resolve_style

    path = tmp_path / "styles.yaml"
    path.write_text("default: wood\nstyles:\n  wood: {seam: 0.3}\n  geometric: {}\n")
    styles = load_styles(str(path))
    cfg = NightlyConfig()
    wood = resolve_style("wood", styles.styles["wood"], cfg)
    geometric = resolve_style("geometric", styles.styles["geometric"], cfg)
    assert wood.transfer.synth.feather == 0.3
    assert geometric.transfer.synth.feather == cfg.transfer.synth.feather == 0.02
    assert wood.config_hash != resolve_style("wood", styles.styles["geometric"], cfg).config_hash
    path.write_text("styles:\n  wood: {seam: 2}\n")
    with pytest.raises(ConfigError, match="seam"):
        load_styles(str(path))
