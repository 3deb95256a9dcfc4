"""A setting is declared once: conf/ holds every value, the configurable classes only read it.

Every class with a ``CONF`` (:class:`pipeline.schema.Conf`) is found by walking the project's packages; none may
carry a default for a key conf/ holds (it would shadow conf/ wherever the class is built without a config), and
every one of them builds from every option of every config group.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from pipeline.config import compose
from pipeline.config import default_config
from pipeline.schema import Conf, arguments, configured

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "conceptstore", "pipeline", "labeling")
#: Modules that need what a test machine may lack (Ray) or start something when imported.
SKIPPED_MODULES = ("pipeline.stages.__main__",)


def _configurable() -> list[type]:
    """Every class of the project's packages that declares where its settings are (a ``CONF``)."""
    found: dict[str, type] = {}
    for package in PACKAGES:
        for module in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            if module.name in SKIPPED_MODULES or module.name.endswith("__main__"):
                continue
            loaded = importlib.import_module(module.name)
            for value in vars(loaded).values():
                if inspect.isclass(value) and value.__module__ == loaded.__name__ \
                        and isinstance(vars(value).get("CONF"), Conf):
                    found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


CONFIGURABLE = _configurable()
MISSING = object()


def _options() -> list[str]:
    """One override per option of every config group (``conf/<group>/<option>.yaml``)."""
    return sorted(f"{path.parent.name}={path.stem}" for path in (ROOT / "conf").glob("*/*.yaml"))


def test_the_walk_finds_the_configurable_classes() -> None:
    names = {cls.__name__ for cls in CONFIGURABLE}
    assert {"SimulatedArtist", "PositionSampler", "AtlasGrid", "SketchGenerator", "Timeouts", "RequestLimits",
            "ProbeSettings", "ReviewSettings", "SuggestionSettings", "CanonSettings", "UnsureSettings",
            "RaySettings", "AppSettings", "Guides", "AtlasParams", "TargetWeights", "EventRules", "Limits", "Coach",
            "ConceptFinetuner"} <= names


def _shadowed(cls: type) -> list[str]:
    """The defaulted parameters of ``cls`` whose default is not what conf/'s default composition holds there."""
    cfg, conf = default_config(), cls.CONF
    shadowed = []
    for name, parameter in inspect.signature(cls).parameters.items():
        if parameter.default is inspect.Parameter.empty or name in conf.runtime:
            continue
        value = OmegaConf.select(cfg, conf.key(name), default=MISSING)
        if value is not MISSING and parameter.default != value:
            shadowed.append(f"{name}={parameter.default!r} (conf/: {conf.key(name)}={value!r})")
    return shadowed


@pytest.mark.parametrize("cls", CONFIGURABLE, ids=lambda cls: cls.__name__)
def test_no_default_shadows_conf(cls: type) -> None:
    """A defaulted parameter must be one conf/ does not hold (or hold exactly its composed default value)."""
    assert not _shadowed(cls), f"{cls.__name__}: a Python default differs from conf/: {', '.join(_shadowed(cls))}"


def test_a_shadowing_default_is_caught() -> None:
    """The check above can fail: a class whose default differs from conf/ is reported, one that agrees is not."""

    class Shadowing:
        CONF = Conf("atlas.grid")

        def __init__(self, size: int = 20, min_count: int = 5, verbose: bool = False) -> None:
            self.size, self.min_count, self.verbose = size, min_count, verbose

    assert _shadowed(Shadowing) == ["size=20 (conf/: atlas.grid.size=14)"]


def _builds(cls: type, cfg: object) -> bool:
    """Whether ``cls`` is built from this composition: a ``_target_`` node builds the class it names only."""
    target = OmegaConf.select(cfg, f"{cls.CONF.node}._target_", default=None)
    return target is None or target == f"{cls.__module__}.{cls.__qualname__}"


@pytest.mark.parametrize("option", _options())
def test_every_option_builds_every_configurable_object(option: str) -> None:
    cfg = compose([option], targets=False)
    built = [cls for cls in CONFIGURABLE if _builds(cls, cfg)]
    assert len(built) >= len(CONFIGURABLE) - 1  # only the generator depends on the data option
    for cls in built:
        made = _made(cls, cfg)
        for name in set(inspect.signature(cls).parameters) - set(cls.CONF.runtime):
            value = OmegaConf.select(cfg, cls.CONF.key(name), default=MISSING)
            if value is not MISSING and not OmegaConf.is_config(value):
                assert getattr(made, name) == value, f"{cls.__name__}.{name} under {option}"


def _made(cls: type, cfg: object) -> object:
    """``cls`` built from this composition; for a class with parameters made at run time (a model, a scorer), its
    arguments as conf/ gives them (its configurable parameters built), which must be all it needs but those."""
    runtime = [name for name in cls.CONF.runtime
               if inspect.signature(cls).parameters[name].default is inspect.Parameter.empty]
    if not runtime:
        return configured(cls, cfg)
    given = arguments(cls, cfg)
    inspect.signature(cls).bind(**given, **dict.fromkeys(runtime))  # TypeError: conf/ lacks what it needs
    return SimpleNamespace(**given)


def test_tied_values_are_one_value() -> None:
    """labeling.patch_scale is the atlas's exemplar patch scale: changing one changes both."""
    cfg = compose(["atlas.exemplars.patch_scale=6"], targets=False)
    assert cfg.labeling.patch_scale == 6
