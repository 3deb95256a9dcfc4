"""The documentation: the site builds strictly, the README stays a short front page, the configuration reference
matches the schema and ``conf/``, and the product never cites its tracker's numbers."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Where the product's text lives: every file under these is searched for an issue number.
PRODUCT = ("README.md", "docs", "conf", "core", "pipeline", "labeling", "conceptstore", "articulate", "bench", "tests",
           "tools", "mkdocs.yml", "Makefile", "dvc.yaml", "pyproject.toml")
TEXT_SUFFIXES = {".md", ".py", ".yaml", ".yml", ".toml", ".js", ".html", ".css", ".txt", ""}
#: "issue" or "issues" and a number, with or without "#": a number from a tracker the reader cannot see.
ISSUE_NUMBER = re.compile(r"\bissues? #?\d+", re.IGNORECASE)
TWO_COMMANDS = ["```bash",
                "make run     # set up (first time only), build the next round with DVC (round 0 first), open the "
                "labeling app",
                "make test    # set up (first time only) and run the test suite",
                "```"]


def _mkdocs(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], cwd=config.parent, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


def _reference_tool() -> ModuleType:
    """tools/config_reference.py, imported from its file (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("config_reference", ROOT / "tools" / "config_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    done = _mkdocs(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "WARNING" not in done.stderr, done.stderr[-3000:]
    for page in ("index.html", "getting-started/index.html", "reference/configuration/index.html",
                 "reference/http-api/index.html", "benchmarks/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    # offline: the built pages fetch no web font (theme.font: false)
    assert "fonts.googleapis" not in (tmp_path / "site" / "index.html").read_text()


def test_a_broken_link_or_a_page_outside_the_nav_fails_the_build(tmp_path: Path) -> None:
    """The strict build is what keeps the site whole: a link to a missing page, or a page no menu reaches,
    stops it."""
    for name in ("mkdocs.yml", "docs"):
        (shutil.copytree if name == "docs" else shutil.copy)(ROOT / name, tmp_path / name)
    (tmp_path / "docs" / "orphan.md").write_text("# Orphan\n\nNo menu leads here.\n")
    orphan = _mkdocs(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert orphan.returncode != 0 and "orphan.md" in orphan.stderr
    (tmp_path / "docs" / "orphan.md").unlink()
    with (tmp_path / "docs" / "index.md").open("a") as page:
        page.write("\nSee [nothing](no-such-page.md).\n")
    broken = _mkdocs(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert broken.returncode != 0 and "no-such-page.md" in broken.stderr


def test_the_readme_is_a_short_front_page_that_starts_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; move detail into docs/"
    body = [line for line in lines[1:] if line.strip()]  # under the title
    assert lines[0].startswith("# ") and body[:4] == TWO_COMMANDS
    # its links into the docs work on GitHub: relative, to pages that exist
    links = re.findall(r"\]\((docs/[^)#]+)", "\n".join(lines))
    assert links and all((ROOT / link).is_file() for link in links), links


def test_the_configuration_reference_is_up_to_date() -> None:
    tool = _reference_tool()
    committed = tool.PAGE.read_text()
    assert tool.render() == committed, "run .venv/bin/python tools/config_reference.py and commit the page"
    # every key of the default composition is in it, with its value from conf/
    for key, value in (("atlas.grid.size", "`14`"), ("finetune.spread.strokes.similarity", "`0.5`"),
                       ("trainer.max_epochs", "`6`"), ("data.source.num_sketches", "`10000`")):
        row = next(line for line in committed.splitlines() if line.startswith(f"| `{key}` |"))
        assert f"| {value} |" in row, row
    # and every group's other options, with what they change
    for option in ("data=quickdraw", "data=bitmap", "model=googlenet", "model=custom", "experiment=tiny",
                   "experiment=imagenet", "debug=fast"):
        assert f"`{option}`" in committed, option


def test_a_key_without_a_meaning_is_refused() -> None:
    """The reference never lists a key silently: a schema field its dataclass does not describe is an error
    naming it."""
    tool = _reference_tool()
    from core.errors import ConfigError

    @dataclasses.dataclass
    class Undocumented:
        """A group.

        Attributes:
            size: Described.
        """

        size: int = 1
        colour: str = "red"

    with pytest.raises(ConfigError, match=r"group\.colour.*'colour'"):
        list(tool._schema_sections(Undocumented, "group", {"size": 1, "colour": "red"}))


def _product_files() -> list[Path]:
    files: list[Path] = []
    for name in PRODUCT:
        path = ROOT / name
        found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        files += [p for p in found if p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts
                  and "node_modules" not in p.parts and "vendor" not in p.parts]
    return files


def test_no_product_file_cites_an_issue_number() -> None:
    files = _product_files()
    assert any(p.name == "schema.py" for p in files) and any(p.suffix == ".md" for p in files)  # the walk works
    cited = [f"{p.relative_to(ROOT)}:{n}: {line.strip()[:100]}" for p in files
             for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if ISSUE_NUMBER.search(line)]
    assert cited == [], "say what the aim is, not which issue asked for it:\n" + "\n".join(cited)


def test_the_issue_pattern_finds_what_it_should() -> None:
    number = 10  # spelled apart, so this file cites none itself
    assert ISSUE_NUMBER.search(f"the aims of issue {number}") and ISSUE_NUMBER.search(f"Issues {number} and 5")
    assert ISSUE_NUMBER.search(f"(issue #{number})")
    assert not ISSUE_NUMBER.search("an issue with the layout") and not ISSUE_NUMBER.search("tissue 3")


def test_pointers_into_the_docs_lead_to_pages_that_exist() -> None:
    """Code, config and pages that send the reader to a docs page (``docs/...md``) name one that exists; the HTTP
    API's description lives there only."""
    pointed = {(p.relative_to(ROOT), link) for p in _product_files() if p.name != "test_docs.py"
               for link in re.findall(r"\bdocs/[\w./-]+\.md", p.read_text(errors="replace"))}
    assert pointed  # conf/ and the code do point into the docs
    missing = sorted(f"{where}: {link}" for where, link in pointed if not (ROOT / link).is_file())
    assert missing == []
    stale = [str(p.relative_to(ROOT)) for p in _product_files()
             if p.name != "test_docs.py" and "labeling/API.md" in p.read_text(errors="replace")]
    assert stale == [], "the HTTP API is described in docs/reference/http-api.md"
    outside = [str(p.relative_to(ROOT)) for p in _product_files()
               if p.name != "test_docs.py" and re.search(r"\bDESIGN\.md|\.\./shared/DESIGN", p.read_text(errors="replace"))]
    assert outside == [], "the design is docs/design.md: nothing sends the reader outside the repository"
