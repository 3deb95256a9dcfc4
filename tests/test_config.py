"""Composing conf/, validating keys, and keeping params.yaml in step with conf/."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.config import compose, load_params, write_params
from core.errors import ConfigError
from tests.conftest import ROOT


def test_default_composition(project_cwd: Path) -> None:
    cfg = compose()
    assert cfg.data.name == "generated" and cfg.model.name == "sketch_cnn"
    assert cfg.data.source.num_sketches == 10000
    assert cfg.data.source.seed == cfg.seed  # interpolations are resolved
    assert cfg.trainer._target_ == "lightning.Trainer"


@pytest.mark.parametrize("overrides", [["experiment=tiny"], ["model=googlenet"], ["model=custom"], ["data=quickdraw"],
                                       ["data=bitmap"], ["debug=fast"], ["experiment=tiny", "debug=fast"]])
def test_every_option_composes_and_validates(project_cwd: Path, overrides: list[str]) -> None:
    compose(overrides)


def test_overrides_apply(project_cwd: Path) -> None:
    cfg = compose(["experiment=tiny", "trainer.max_epochs=5", "seed=3"])
    assert cfg.data.source.num_sketches == 1000
    assert cfg.trainer.max_epochs == 5
    assert cfg.data.source.seed == 3


def test_committed_params_yaml_is_the_default_composition(project_cwd: Path, tmp_path: Path) -> None:
    """The params.yaml in git is what `articulate configure` writes: no drift from conf/."""
    fresh = tmp_path / "params.yaml"
    write_params([], fresh)
    assert yaml.safe_load((ROOT / "params.yaml").read_text()) == yaml.safe_load(fresh.read_text())
    load_params(ROOT / "params.yaml")  # and it passes the stage's own check


def test_stale_params_yaml_is_refused(project_cwd: Path, tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    write_params(["experiment=tiny"], path)
    assert load_params(path).data.source.num_sketches == 1000
    record = yaml.safe_load(path.read_text())
    record["trainer"]["max_epochs"] = 99  # edited by hand, or conf/ changed since
    path.write_text(yaml.safe_dump(record))
    with pytest.raises(ConfigError, match=r"stale: 'trainer.max_epochs' is 99 there but 4 from conf/"):
        load_params(path)


def test_missing_params_yaml(project_cwd: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found; run `articulate configure"):
        load_params(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [(["trainer.max_epoch=3"], "max_epoch"), (["model=resnet9000"], "resnet9000"), (["+data.source.colour=red"], r"data.source.colour"),
     (["+bogus=1"], "unknown key 'bogus'"), (["trainer.max_epochs=[oops"], "trainer.max_epochs")],
)
def test_bad_overrides_name_the_key(project_cwd: Path, overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        compose(overrides)


def test_typo_in_a_config_file_is_caught(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    path = conf / "data" / "generated.yaml"
    path.write_text(path.read_text().replace("omit_prob:", "omit_probability:"))
    with pytest.raises(ConfigError, match=r"unknown key 'data.source.omit_probability' \(did you mean 'omit_prob'\?\)"):
        compose([], config_dir=conf)
    path.write_text(path.read_text().replace("omit_probability:", "omit_prob:").replace("batch_size:", "batchsize:"))
    with pytest.raises(ConfigError, match=r"unknown key 'data.batchsize' \(did you mean 'batch_size'\?\)"):
        compose([], config_dir=conf)


def test_conf_has_no_machine_paths_or_hydra_runtime_interpolations() -> None:
    for path in (ROOT / "conf").rglob("*.yaml"):
        text = path.read_text()
        assert "${hydra:" not in text, path
        assert not re.search(r"(^|[\s:'\"])/(work|home|root|tmp|usr|opt)/", text), path


def test_stage_reports_a_user_error_in_one_line(tmp_path: Path) -> None:
    completed = subprocess.run([sys.executable, "-m", "pipeline.stages.data", "data.source.num_sketchez=5"],
                               cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines()[-1].startswith("error: config:")
    assert "num_sketchez" in completed.stderr


def test_light_compositions_are_cached_until_conf_changes(tmp_path: Path) -> None:
    """The cached composition equals a fresh one; editing conf/ or changing the overrides composes afresh."""
    from omegaconf import OmegaConf

    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    first = compose(["seed=3"], conf, targets=False)
    entries = list((tmp_path / ".cache" / "compose").glob("*.yaml"))
    assert len(entries) == 1
    again = compose(["seed=3"], conf, targets=False)
    assert OmegaConf.to_container(again) == OmegaConf.to_container(first) and again.seed == 3
    with pytest.raises(Exception):
        again.no_such_key = 1  # read-only struct, as a fresh composition
    text = (conf / "evaluate" / "default.yaml").read_text().replace("threshold: 0.5", "threshold: 0.25")
    (conf / "evaluate" / "default.yaml").write_text(text)
    assert compose(["seed=3"], conf, targets=False).evaluate.threshold == 0.25
    assert compose(["seed=4"], conf, targets=False).seed == 4
    assert len(list((tmp_path / ".cache" / "compose").glob("*.yaml"))) == 3
    entries[0].write_text("{not yaml")  # a damaged entry is composed again
    (conf / "evaluate" / "default.yaml").write_text(text.replace("threshold: 0.25", "threshold: 0.5"))
    assert compose(["seed=3"], conf, targets=False).evaluate.threshold == 0.5


def test_user_code_is_imported_from_the_project_and_user_folders(project_cwd, tmp_path: Path) -> None:
    """A user's model module in a paths.user_code folder builds; an import that fails is one line saying where
    Articulate looked and what failed (no Hydra log, no traceback)."""
    from pipeline.config import build

    (tmp_path / "my_nets.py").write_text("from tests.user_nets import FlatNet as Net\n")
    (tmp_path / "broken_nets.py").write_text("import a_dependency_nobody_has\n")
    cfg = compose([f"paths.user_code=[{tmp_path}]", "model=custom", "model.net._target_=my_nets.Net",
                   "model.input.size=28"])
    assert type(build(cfg.model.net, "model.net", num_classes=3)).__name__ == "FlatNet"
    for target, words in [("nowhere_nets.Net", "no module named 'nowhere_nets'"),
                          ("broken_nets.Net", "importing broken_nets failed: No module named 'a_dependency_nobody_has'"),
                          ("my_nets.Missing", "my_nets has no 'Missing'")]:
        with pytest.raises(ConfigError) as info:
            compose([f"paths.user_code=[{tmp_path}]", f"model.net._target_={target}"])
        message = str(info.value)
        assert message.startswith(f"config key 'model.net._target_': cannot import '{target}' (") and words in message
        assert str(tmp_path) in message and str(ROOT) in message and "\n" not in message


def test_values_of_the_wrong_type_are_refused_with_their_key(project_cwd: Path) -> None:
    with pytest.raises(ConfigError, match=r"config key 'finetune.epochs': Value 'many'"):
        compose(["finetune.epochs=many"])
    with pytest.raises(ConfigError, match=r"config key 'finetune.spread': .*SpreadConfig"):
        compose(["finetune.spread=3"])
    assert compose(["finetune.lr=1"]).finetune.lr == 1.0  # an int where a float belongs is a float


def test_a_setting_conf_leaves_out_is_refused(tmp_path: Path) -> None:
    """Every default lives in conf/: the schema has none, so a key missing from its group's file is an error."""
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    path = conf / "finetune" / "default.yaml"
    path.write_text("\n".join(line for line in path.read_text().splitlines() if not line.startswith("examples:")))
    with pytest.raises(ConfigError, match=r"'finetune.examples' has no value; every setting lives in conf/"):
        compose([], config_dir=conf)


def test_code_reads_settings_only_as_conf_declares_them() -> None:
    """No module reads a setting with ``.get``: in struct mode that answers a key conf/ does not declare with a
    silent default instead of an error. (``_target_`` nodes are free mappings: their keys may be looked up; see
    pipeline.schema.TARGET_NODES.)"""
    import ast

    config_like = re.compile(r"(^|\.)(cfg|model_cfg|trainer_cfg)(\.|$)")
    found = []
    for folder in ("core", "pipeline", "labeling", "articulate", "conceptstore"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
                    receiver = ast.unparse(node.func.value)
                    key = ast.unparse(node.args[0]) if node.args else ""
                    target_node = receiver.endswith((".net", ".source", "trainer", "trainer_cfg"))  # free mappings
                    if config_like.search(receiver) and not target_node:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {receiver}.get({key})")
    assert not found, found


def test_compose_finds_the_project_from_a_subfolder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """As git finds its repository: from a subfolder the project's relative paths still mean its folders; from
    the project folder nothing is made absolute (params.yaml records no machine path); outside, one line."""
    at_root = compose(["data=bitmap"], targets=False)
    assert at_root.paths.dataset == "data/dataset" and at_root.mlflow.tracking_uri is None
    monkeypatch.chdir(ROOT / "tests")
    inside = compose(["data=bitmap", "model.checkpoint=weights/net.pth"], targets=False)
    assert inside.paths.dataset == str(ROOT / "data/dataset")
    assert inside.data.source.folder == str(ROOT / "../shared/data/quickdraw/bitmap")  # through the interpolation
    assert inside.model.checkpoint == str(ROOT / "weights/net.pth")
    assert inside.mlflow.tracking_uri == f"sqlite:///{(ROOT / 'mlflow.db').as_posix()}"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="no conf/config.yaml here or above"):
        compose([])


def test_stages_that_build_no_target_compose_without_importing_them(tmp_path: Path) -> None:
    """extract, atlas and evaluate read their model from model.pt: their composition leaves the _target_
    signatures (and Lightning's seconds of import) to `articulate configure` and DVC's check_config stage."""
    stages = {name: (ROOT / "pipeline" / "stages" / f"{name}.py").read_text() for name in
              ("data", "train_base", "finetune", "extract", "atlas", "evaluate")}
    for name, source in stages.items():
        light = "stage_main(run, targets=False)" in source
        assert light == (name in ("extract", "atlas", "evaluate")), name
    script = ("import sys; from pipeline.config import stage_config; import pipeline.stages.extract, "
              "pipeline.stages.atlas, pipeline.stages.evaluate; stage_config(['experiment=tiny'], targets=False); "
              "print(sorted(m for m in ('lightning', 'pytorch_lightning') if m in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip().splitlines()[-1] == "[]"
    # a bad key of a _target_ node is still refused where the targets are checked
    with pytest.raises(ConfigError, match="unknown key 'trainer.max_epoch'"):
        compose(["+trainer.max_epoch=3"])
