"""Composing, validating and recording the Hydra configuration.

``conf/`` is the single source of every setting. Stages compose it with Hydra (plus command-line
overrides); ``params.yaml`` is only a record of one composition, written by ``articulate configure`` so that
DVC can see which settings each stage depends on. It stores the overrides it was composed with, and a stage
run by DVC composes ``conf/`` again with those overrides and refuses to run when the two disagree: a stale
``params.yaml`` can never silently win.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import inspect
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from core.errors import ArticulateError, ConfigError
from core.io import atomic_write_text
from pipeline.schema import configured

T = TypeVar("T")

PARAMS_FILE = "params.yaml"
OVERRIDES_KEY = "overrides"
PARAMS_HEADER = (
    "# Written by `articulate configure` from conf/ (the single source of settings): do not edit by hand.\n"
    "# Change conf/ or pass overrides, e.g. `articulate configure experiment=tiny`, then `dvc repro`.\n"
)

def project_dir(start: str | Path | None = None) -> Path:
    """The project folder: the nearest folder holding ``conf/config.yaml``, from the working directory (or
    ``start``) upward, as git finds its repository.

    Raises:
        ConfigError: No such folder there or above.
    """
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "conf" / "config.yaml").is_file():
            return folder
    raise ConfigError(f"{here}: no conf/config.yaml here or above; run Articulate inside the project folder "
                      "(where dvc.yaml is)")


#: Settings that name a file or folder, relative to the project folder.
_PROJECT_RELATIVE = ("mlflow.artifact_location", "model.checkpoint", "model.classes")


def _anchor(cfg: DictConfig, root: Path) -> None:
    """Make the project-relative paths of ``cfg`` absolute, for a command run in a subfolder of the project:
    every ``paths.*`` (and what interpolates them), the MLflow store and artifacts, a model's files. From the
    project folder itself nothing changes, so ``params.yaml`` never records a machine path."""
    def rooted(value: Any) -> Any:
        if not isinstance(value, str) or not value or value.startswith("${") or Path(value).is_absolute():
            return value  # not a path (model.classes as a list), an interpolation, or absolute already
        return str(root / value)

    for key in cfg.paths:
        if key != "user_code":  # user_code_dirs reads those from the project folder already
            cfg.paths[key] = rooted(cfg.paths[key])
    for key in _PROJECT_RELATIVE:
        value = OmegaConf.select(cfg, key)
        if isinstance(value, str):
            OmegaConf.update(cfg, key, rooted(value), merge=False)
    if cfg.mlflow.tracking_uri is None:
        cfg.mlflow.tracking_uri = f"sqlite:///{(root / 'mlflow.db').as_posix()}"


_HYDRA_LOCK = threading.Lock()


def compose(overrides: Sequence[str] = (), config_dir: str | Path | None = None, *, targets: bool = True) -> DictConfig:
    """Compose ``conf/`` with Hydra overrides, resolve interpolations and validate every key.

    Args:
        overrides: Hydra override strings, e.g. ``["experiment=tiny", "trainer.max_epochs=3"]``.
        config_dir: The config folder; defaults to ``conf/`` of the project folder.
        targets: Also check the keys of ``_target_`` nodes against their targets' signatures. That imports
            the targets (torch, Lightning: seconds), so commands that build no model pass ``False``;
            ``articulate configure`` and every stage check them.

    Returns:
        The resolved configuration (read-only struct mode: unknown keys raise).

    Raises:
        ConfigError: An unknown group option or key, a malformed override, or a bad value.
    """
    root = project_dir() if config_dir is None else None
    folder = Path(config_dir) if config_dir is not None else root / "conf"
    # run from a subfolder of the project: its relative paths still mean the project's folders
    anchored = root if root is not None and root != Path.cwd().resolve() else None
    cached = _cache_file(folder, [*overrides, f"(in {anchored})"] if anchored else overrides) if not targets else None
    if cached is not None and cached.is_file():
        try:
            cfg = OmegaConf.load(cached)
        except (OSError, OmegaConfBaseException, yaml.YAMLError):
            cfg = None  # a damaged cache entry: compose again (and overwrite it)
        if isinstance(cfg, DictConfig):
            OmegaConf.set_struct(cfg, True)
            add_user_code(cfg, folder.resolve().parent)
            return cfg
    from hydra import compose as hydra_compose  # here: Hydra's import is a good part of a light command's start
    from hydra import initialize_config_dir
    from hydra.errors import HydraException

    from pipeline.schema import register

    register()
    try:
        # Hydra keeps one global state: two threads composing at once (the labeling server builds its coach on a
        # thread of its own) would find it "already initialized".
        with _HYDRA_LOCK, initialize_config_dir(config_dir=str(folder.resolve()), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
        if anchored is not None:
            _anchor(cfg, anchored)
        OmegaConf.resolve(cfg)
    except (HydraException, OmegaConfBaseException) as err:
        missing = re.match(r"Could not override '([^']+)'", _first_line(err))
        if missing:
            _explain_missing_key(missing.group(1), list(overrides), config_dir, targets)
        _explain_schema_error(err)
        raise ConfigError(f"config: {_first_line(err)} (overrides: {' '.join(overrides) or 'none'}; see conf/)") from None
    add_user_code(cfg, folder.resolve().parent)
    validate(cfg, targets=targets)
    unset = sorted(OmegaConf.missing_keys(cfg))
    if unset:
        raise ConfigError(f"config: '{unset[0]}' has no value{f' (and {len(unset) - 1} more)' if len(unset) > 1 else ''}; "
                          "every setting lives in conf/: set it in its group's file")
    if cached is not None:
        try:
            atomic_write_text(cached, OmegaConf.to_yaml(cfg))
        except OSError:  # a read-only project: compose every time, which is only slower
            pass
    OmegaConf.set_struct(cfg, True)
    return cfg


def user_code_dirs(cfg: DictConfig, root: Path) -> list[Path]:
    """Where Articulate imports a user's own modules from (models, readers): the project folder, then each
    folder of ``paths.user_code`` (relative to the project folder; ``user/`` by default)."""
    extra = cfg.paths.user_code or []
    if isinstance(extra, str):
        extra = [extra]
    return [root, *((root / str(d)) if not Path(str(d)).is_absolute() else Path(str(d)) for d in extra)]


def add_user_code(cfg: DictConfig, root: Path) -> None:
    """Put :func:`user_code_dirs` on the import path (once each), so a ``_target_`` may name a user's module."""
    for folder in user_code_dirs(cfg, root):
        text = str(folder)
        if text not in sys.path:
            sys.path.append(text)
        if folder not in _USER_DIRS:
            _USER_DIRS.append(folder)


#: The folders :func:`add_user_code` put on the import path in this process (named when an import fails).
_USER_DIRS: list[Path] = []


def import_target(target: str, key: str, where: Sequence[Path] = ()) -> Any:
    """The object a ``_target_`` names (``package.module.Name``), imported without Hydra's log noise.

    Raises:
        ConfigError: One line: what could not be imported and why, and where Articulate looked.
    """
    import importlib

    parts = str(target).split(".")
    looked = ", ".join(str(p) for p in where) or "the import path"
    problem = "not a dotted path such as package.module.Name"
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            found: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name is not None and (module_name == err.name or module_name.startswith(err.name + ".")):
                problem = f"no module named {parts[0]!r}" if cut == 1 else problem
                continue  # this prefix is not a module: try a shorter one
            problem = f"importing {_module_of(parts, cut)} failed: {err}"
            break
        except Exception as err:  # noqa: BLE001 - the user's module raised while it was imported
            problem = f"importing {_module_of(parts, cut)} failed: {type(err).__name__}: {_first_line(err)}"
            break
        try:
            for attribute in parts[cut:]:
                found = getattr(found, attribute)
        except AttributeError:
            problem = f"{module_name} has no {'.'.join(parts[cut:])!r}"
            break
        return found
    raise ConfigError(f"config key '{key}._target_': cannot import {target!r} ({problem}); Articulate imports your "
                      f"code from the project folder and paths.user_code ({looked}): put the module there or "
                      "install it")


def _module_of(parts: list[str], cut: int) -> str:
    """The module an import of ``parts[:cut]`` was after: a whole dotted target names a class in its module."""
    return ".".join(parts[:cut - 1] if cut == len(parts) and cut > 1 else parts[:cut])


def _cache_file(folder: Path, overrides: Sequence[str]) -> Path | None:
    """Where a composition of ``folder`` with ``overrides`` is kept: named by a hash of everything it depends on.

    Hydra's composition takes about half a second, most of a light command's start (``articulate concepts list``
    answers in a tenth of a second without it). The key covers every file under ``conf/`` (names and contents),
    the overrides, this module and the schema that validated it, so any change composes afresh; the entry lives
    in ``<project>/.cache/compose/`` (git-ignored). Compositions that check ``_target_`` signatures are not kept
    (they depend on the targets' code).
    """
    digest = hashlib.sha256()
    try:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
        digest.update(Path(__file__).read_bytes())
        digest.update((Path(__file__).parent / "schema.py").read_bytes())
    except OSError:
        return None
    digest.update("\0".join(overrides).encode())
    return folder.resolve().parent / ".cache" / "compose" / f"{digest.hexdigest()[:32]}.yaml"


def _explain_missing_key(key: str, overrides: list[str], config_dir: str | Path | None, targets: bool) -> None:
    """Hydra refuses to override a key that conf/ lacks; say which key is unknown and what was meant.

    Composing again with the key *added* (``+key=value``) lets :func:`validate` name the key, a close valid
    one and the valid keys. If adding it is valid (a free-form mapping), the user only forgot the ``+``.
    """
    added = [f"+{o}" if o.split("=", 1)[0] == key else o for o in overrides]
    compose(added, config_dir, targets=targets)
    raise ConfigError(f"config: '{key}' is not in conf/; to add a new key, write '+{key}=...' (overrides: {' '.join(overrides)})")


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def validate(cfg: DictConfig, *, targets: bool = True) -> None:
    """Check that every key of ``cfg`` is one Articulate knows.

    Composition already refuses a key that a file of ``conf/`` or an override sets but the schema
    (:mod:`pipeline.schema`) lacks; this catches what Hydra lets through: keys added with ``+`` (Hydra opens
    the config to add them) and keys of ``_target_`` nodes, checked against their targets' signatures.

    Args:
        cfg: The composed configuration.
        targets: Also check ``_target_`` nodes against their targets' signatures (imports the targets).

    Raises:
        ConfigError: Naming the unknown key, a close valid one and the valid keys.
    """
    _validate_node(cfg, "", targets)


def _validate_node(node: DictConfig, path: str, targets: bool) -> None:
    from pipeline.schema import TARGET_NODES

    if path in TARGET_NODES:
        if not isinstance(node, DictConfig):
            raise ConfigError(f"config key '{path}' must be a mapping with a _target_, got {node!r}")
        if targets:
            _validate_target(node, path)
        return
    shape = OmegaConf.get_type(node)
    if not dataclasses.is_dataclass(shape):
        return  # a free mapping (data.splits, model.class_map)
    fields = [f.name for f in dataclasses.fields(shape)]
    for key in node:
        if key not in fields:
            _unknown_key(path, str(key), fields)
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            _validate_node(child, f"{path}.{key}" if path else str(key), targets)


def _explain_schema_error(err: BaseException) -> None:
    """A composition error the schema raised, as one line naming the key: an unknown key (with the valid ones)
    or a value of the wrong type."""
    cause: BaseException | None = err
    while cause is not None:
        key = getattr(cause, "full_key", None)
        if key:
            message = _first_line(cause)
            unknown = re.match(r"Key '([^']+)' (?:is )?not in", message)
            if unknown:
                parent = key.rsplit(".", 1)[0] if "." in key else ""
                _unknown_key(parent, unknown.group(1), _schema_keys(parent))
            raise ConfigError(f"config key '{key}': {message}; fix it in conf/ or in the override") from None
        cause = cause.__cause__ or cause.__context__


def _schema_keys(path: str) -> list[str]:
    """The keys the schema allows at ``path`` (empty where it is not a structured node)."""
    from pipeline.schema import ArticulateConfig

    node = OmegaConf.select(OmegaConf.structured(ArticulateConfig), path) if path else \
        OmegaConf.structured(ArticulateConfig)
    shape = OmegaConf.get_type(node) if isinstance(node, DictConfig) else None
    return [f.name for f in dataclasses.fields(shape)] if dataclasses.is_dataclass(shape) else []


def _validate_target(node: DictConfig, path: str) -> None:
    target = node.get("_target_")
    if target is None:
        raise ConfigError(f"config key '{path}' needs a _target_ (the class or function that builds it)")
    factory = import_target(str(target), path, _USER_DIRS)
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    valid = [name for name, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL and not name.startswith("_")]
    for key in node:
        if not str(key).startswith("_") and key not in params:
            _unknown_key(path, str(key), valid)


def _unknown_key(path: str, key: str, valid: list[str]) -> None:
    full = f"{path}.{key}" if path else key
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConfigError(f"config: unknown key '{full}'{hint}; valid keys here: {', '.join(sorted(valid))}. Fix it in conf/ or in the override")


def build(node: DictConfig, key: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` that reports errors as a user would want them.

    Hydra wraps whatever the ``_target_`` raises; our own errors (a bad file, a bad value) come out as they
    are, anything else as a ConfigError naming the config key.

    Args:
        node: The config node with a ``_target_``.
        key: Its dotted config key, for messages (``"data.source"``).
        **kwargs: Extra keyword arguments for the target (``num_classes=...``).
    """
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    import_target(str(node.get("_target_")), key, _USER_DIRS)  # an import failure: one line saying where it looked
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, ArticulateError):
            raise cause from None
        raise ConfigError(f"{key}: cannot build {node.get('_target_')} ({cause or _first_line(err)})") from None


def to_container(cfg: DictConfig | ListConfig) -> Any:
    """A plain dict/list copy of ``cfg`` (resolved)."""
    return OmegaConf.to_container(cfg, resolve=True)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``: the form MLflow params take."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def write_params(overrides: Sequence[str] = (), path: str | Path = PARAMS_FILE) -> DictConfig:
    """Compose ``conf/`` with ``overrides`` and record it, with the overrides, in ``params.yaml`` (atomically)."""
    cfg = compose(overrides)
    record = {OVERRIDES_KEY: list(overrides), **to_container(cfg)}
    atomic_write_text(path, PARAMS_HEADER + yaml.safe_dump(record, sort_keys=False))
    return cfg


def load_params(path: str | Path = PARAMS_FILE, *, targets: bool = True) -> DictConfig:
    """Compose ``conf/`` again with the overrides recorded in ``params.yaml`` and check that both agree
    (``targets``: as :func:`compose`).

    Raises:
        ConfigError: ``params.yaml`` is missing, unreadable, or stale relative to ``conf/``.
    """
    path = Path(path)
    redo = "run `articulate configure [overrides]` (or `articulate repro [overrides]`) to write it from conf/"
    try:
        recorded = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found; {redo}") from None
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: unreadable ({_first_line(err)}); {redo}") from None
    if not isinstance(recorded, dict) or not isinstance(recorded.get(OVERRIDES_KEY), list):
        raise ConfigError(f"{path}: has no '{OVERRIDES_KEY}' list, so it was not written by articulate; {redo}")
    overrides = [str(o) for o in recorded[OVERRIDES_KEY]]
    cfg = compose(overrides, targets=targets)
    fresh = {OVERRIDES_KEY: overrides, **to_container(cfg)}
    difference = _first_difference(recorded, fresh)
    if difference:
        raise ConfigError(f"{path} is stale: {difference}. conf/ is the source of settings; {redo}")
    return cfg


def _first_difference(recorded: Any, fresh: Any, path: str = "") -> str | None:
    if isinstance(recorded, dict) and isinstance(fresh, dict):
        for key in list(fresh) + [k for k in recorded if k not in fresh]:
            where = f"{path}.{key}" if path else str(key)
            if key not in recorded:
                return f"'{where}' is missing from it"
            if key not in fresh:
                return f"'{where}' is in it but not in conf/"
            found = _first_difference(recorded[key], fresh[key], where)
            if found:
                return found
        return None
    if recorded != fresh:
        return f"'{path}' is {recorded!r} there but {fresh!r} from conf/"
    return None


def stage_config(argv: Sequence[str], *, targets: bool = True) -> DictConfig:
    """The configuration for a stage's command line (``targets``: as :func:`compose`).

    ``--params [FILE] [--round N]`` (how dvc.yaml runs stages) loads and checks ``params.yaml``; ``--round``
    sets the round DVC builds, which dvc.yaml takes from the concept store's ``next_round``. Anything else is
    a list of Hydra overrides applied to ``conf/`` (how a person runs one stage alone).
    """
    args = list(argv)
    if not args or args[0] != "--params":
        return compose(args, targets=targets)
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # one line, as every user error
            raise ConfigError(f"--params: {message} (e.g. --params params.yaml --round 1; overrides go into "
                              "`articulate configure` instead)")

    parser = _Parser(add_help=False)
    parser.add_argument("--params", nargs="?", const=PARAMS_FILE, default=PARAMS_FILE)
    parser.add_argument("--round", type=int, default=None)
    parsed = parser.parse_args(args)
    round_ = parsed.round
    if round_ is not None and round_ < 0:
        raise ConfigError(f"--round: expected a round number >= 0, got {round_}")
    cfg = load_params(parsed.params, targets=targets)
    if round_ is not None:
        cfg.round = round_
    return cfg


def check_params_main() -> int:
    """``python -m pipeline.config``: check that params.yaml matches conf/ (the DVC stage check_config)."""
    from pipeline.entry import guarded

    def check() -> None:
        load_params()
        print(f"{PARAMS_FILE} matches conf/")

    return guarded(check)


if __name__ == "__main__":
    raise SystemExit(check_params_main())


@cache
def default_config() -> Any:
    """The default composition of conf/ (no overrides), read once: what :func:`default` builds from."""
    return compose(targets=False)


def default(cls: type[T], /, **given: Any) -> T:
    """A configurable class as conf/'s default composition sets it, ``given`` changed: for a test or a program
    that builds one without a composed configuration (conf/ stays the one source of its values).

    Args:
        cls: A class with a ``CONF``.
        **given: Parameters that differ from conf/'s.
    """
    return configured(cls, default_config(), **given)
