"""The TOML -> dataclass loader: types checked, unknown keys rejected, overrides applied."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from medprefs.config import apply_overrides, from_dict, parse_override, read_toml
from medprefs.errors import MedprefsError, require


@dataclass
class Inner:
    rank: int = 8
    modules: list[str] = field(default_factory=lambda: ["q_proj"])


@dataclass
class Outer:
    name: str = "x"
    lr: float = 1e-4
    mode: Literal["plain", "explain"] = "plain"
    inner: Inner = field(default_factory=Inner)
    note: str | None = None

    def __post_init__(self) -> None:
        require(self.lr > 0, "lr must be > 0")


def test_nested_dataclass_is_built_and_ints_become_floats():
    config = from_dict(Outer, {"name": "a", "lr": 1, "inner": {"rank": 16}})
    assert config.inner == Inner(rank=16, modules=["q_proj"])
    assert isinstance(config.lr, float) and config.lr == 1.0


def test_unknown_key_is_rejected_with_its_path():
    with pytest.raises(MedprefsError, match=r"cfg\.inner: unknown key\(s\) rnak"):
        from_dict(Outer, {"inner": {"rnak": 16}}, "cfg")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"lr": "fast"}, "cfg.lr: expected float"),
        ({"mode": "chatty"}, "cfg.mode: 'chatty' is not one of"),
        ({"inner": {"rank": True}}, "cfg.inner.rank: expected int"),
        ({"inner": {"modules": "q_proj"}}, "cfg.inner.modules: expected a list"),
        ({"lr": -1.0}, "cfg: lr must be > 0"),
    ],
)
def test_bad_values_name_the_field(data, message):
    with pytest.raises(MedprefsError, match=message.replace(".", r"\.").replace("(", r"\(")):
        from_dict(Outer, data, "cfg")


def test_overrides_parse_toml_values_and_create_tables():
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("a=hello") == (["a"], "hello")
    data = apply_overrides({"inner": {"rank": 8}}, ["inner.rank=32", "lr=0.5", 'inner.modules=["k_proj"]'])
    assert data == {"inner": {"rank": 32, "modules": ["k_proj"]}, "lr": 0.5}
    assert from_dict(Outer, data).inner.rank == 32


def test_read_toml_reports_the_file(tmp_path):
    with pytest.raises(MedprefsError, match="not found"):
        read_toml(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("a = [", encoding="utf-8")
    with pytest.raises(MedprefsError, match=r"bad\.toml: invalid TOML"):
        read_toml(bad)


def test_a_refusal_that_names_its_section_is_not_prefixed_with_it_again():
    from medprefs.sampling import SampleConfig

    with pytest.raises(MedprefsError) as refused:
        from_dict(SampleConfig, {"n": 0}, "sample")
    assert str(refused.value) == "sample.n must be a positive integer, got 0"
    with pytest.raises(MedprefsError, match=r"^demo\.toml: sample\.n must be"):
        from_dict(SampleConfig, {"n": 0}, "demo.toml.sample")


def test_atomically_written_files_get_the_usual_permissions_not_mkstemps_private_ones(tmp_path):
    import os
    import stat

    from medprefs.manifest import atomic_write_bytes

    umask = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "out" / "shard.parquet", b"data")
    finally:
        os.umask(umask)
    path = tmp_path / "out" / "shard.parquet"
    assert path.read_bytes() == b"data" and stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not list(path.parent.glob(".*.tmp"))
