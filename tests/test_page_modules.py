"""The pages' floor plan (labeling/static/js): no circle among the ES modules, no view importing another view, no
page importing another page's folder; ``shared/`` imports no page; every imported name is exported; each page's
state lives in one store (shared/store.js) and changes only through its update. Read from the page modules' text
(their ``import ... from '...'`` lines, their writes), with no browser."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from tests.test_architecture import cycles

ROOT = Path(__file__).resolve().parents[1]
JS = ROOT / "labeling" / "static" / "js"
SHARED = "shared"
#: Each page's modules that are not views: its state (the store and its setters), what talks to the server for
#: it, pure helpers. Every other module of a page's folder but main.js (the wiring) is a view.
NOT_VIEWS = {
    "atlas": {"state.js", "actions.js"},
    "draw": {"state.js", "geometry.js", "feedback.js", "replay.js"},
    "sketch": {"state.js", "heat.js"},
}
#: `import ... from '...'`, `export ... from '...'` and `import '...'` (no module loads another dynamically).
IMPORT = re.compile(r"^\s*(?:import|export)\s+(?:([^;'\"]*?)\s+from\s+)?['\"]([^'\"]+)['\"]", re.M | re.S)
EXPORTED = re.compile(r"^export\s+(?:async\s+)?(?:function\*?|const|let|var|class)\s+([\w$]+)", re.M)
EXPORTED_LIST = re.compile(r"^export\s+(?:const|let)?\s*\{([^}]*)\}", re.M)
#: Each page's state object, as its state.js exports it (the store's get()).
STATE_NAMES = {"atlas": "S", "draw": "D", "sketch": "K"}
#: What changes an object in place, besides assigning to one of its members.
MUTATORS = ("add", "delete", "clear", "push", "pop", "shift", "unshift", "splice", "set", "sort", "reverse", "fill")


def js_modules() -> dict[str, Path]:
    """Every page module, by its path under labeling/static/js ("atlas/main.js")."""
    return {path.relative_to(JS).as_posix(): path for path in sorted(JS.rglob("*.js"))}


def js_imports(name: str, text: str) -> dict[str, set[str]]:
    """The modules ``name`` imports (resolved to their path under js/), each with the names it takes."""
    out: dict[str, set[str]] = {}
    for clause, target in IMPORT.findall(text):
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        names = out.setdefault(resolved, set())
        braces = re.search(r"\{([^}]*)\}", clause or "")
        if braces:
            names.update(part.split(" as ")[0].strip() for part in braces.group(1).split(",") if part.strip())
    return out


def js_exports(text: str) -> set[str]:
    """The names a module exports."""
    names = set(EXPORTED.findall(text))
    for group in EXPORTED_LIST.findall(text):
        names.update(part.split(" as ")[-1].strip() for part in group.split(",") if part.strip())
    return names


def js_graph() -> dict[str, set[str]]:
    modules = js_modules()
    return {name: set(js_imports(name, path.read_text())) for name, path in modules.items()}


def role(name: str) -> str:
    """'shared', 'main', 'model' (a page's non-view module), 'view', or 'stray' (outside shared/ and the pages)."""
    folder, _, file = name.partition("/")
    if folder == SHARED and "/" not in file:
        return "shared"
    if folder not in NOT_VIEWS or "/" in file:
        return "stray"
    return "main" if file == "main.js" else "model" if file in NOT_VIEWS[folder] else "view"


def broken_rules(graph: dict[str, set[str]]) -> list[str]:
    """Each import that breaks the plan, in words (none: the plan holds).

    Args:
        graph: module -> the modules it imports, paths under js/.

    Returns:
        One line per broken rule.
    """
    broken = [f"{name}: a module outside shared/ and the page folders {sorted(NOT_VIEWS)}"
              for name in graph if role(name) == "stray"]
    for name, targets in sorted(graph.items()):
        page = name.partition("/")[0]
        for target in sorted(targets):
            if target not in graph:
                broken.append(f"{name} imports {target}, which does not exist")
                continue
            other = target.partition("/")[0]
            if role(name) == "shared" and role(target) != "shared":
                broken.append(f"{name} (shared) imports the page module {target}")
            elif role(name) != "shared" and other != SHARED and other != page:
                broken.append(f"{name} imports {target}: a page imports only its own folder and shared/")
            elif role(target) == "main":
                broken.append(f"{name} imports {target}: a page's main.js is its entry, imported by none")
            elif role(target) == "view" and role(name) == "view":
                broken.append(f"{name} imports {target}: a view never imports another view (main.js subscribes both "
                              "to the store)")
            elif role(target) == "view" and role(name) != "main":
                broken.append(f"{name} imports the view {target}: only main.js imports views")
    return broken


def test_the_page_modules_have_no_circle() -> None:
    graph = js_graph()
    assert len(graph) > 30 and {"atlas/main.js", "draw/main.js", "sketch/main.js"} <= set(graph)  # the walk found them
    assert cycles(graph) == []


def test_views_pages_and_shared_keep_their_lanes() -> None:
    graph = js_graph()
    for page, models in NOT_VIEWS.items():
        assert {f"{page}/{m}" for m in models} <= set(graph), f"{page}: a listed module is gone; update NOT_VIEWS"
    assert broken_rules(graph) == []


def test_the_rules_catch_a_circle_a_view_importing_a_view_and_a_page_importing_another() -> None:
    """The checks themselves: each kind of broken import is reported."""
    plan = {"shared/api.js": set(), "atlas/main.js": {"atlas/map.js", "atlas/state.js"}, "atlas/state.js": set(),
            "atlas/map.js": {"atlas/state.js", "shared/api.js"}, "draw/main.js": set()}
    assert broken_rules(plan) == [] and cycles(plan) == []
    assert cycles({**plan, "atlas/state.js": {"atlas/map.js"}}) == [["atlas/map.js", "atlas/state.js"]]
    view_to_view = {**plan, "atlas/concepts.js": {"atlas/map.js"}}
    assert broken_rules(view_to_view) == ["atlas/concepts.js imports atlas/map.js: a view never imports another "
                                          "view (main.js subscribes both to the store)"]
    assert broken_rules({**plan, "draw/main.js": {"atlas/state.js"}}) == [
        "draw/main.js imports atlas/state.js: a page imports only its own folder and shared/"]
    assert broken_rules({**plan, "shared/api.js": {"atlas/state.js"}}) == [
        "shared/api.js (shared) imports the page module atlas/state.js"]
    assert broken_rules({**plan, "atlas/state.js": {"atlas/map.js"}}) == [
        "atlas/state.js imports the view atlas/map.js: only main.js imports views"]
    assert broken_rules({**plan, "state.js": set()}) == [
        "state.js: a module outside shared/ and the page folders ['atlas', 'draw', 'sketch']"]


def test_the_import_lines_are_read_as_the_browser_reads_them() -> None:
    text = ("import { a, b as c } from './x.js';\nimport {\n  d,\n  e,\n} from '../shared/y.js';\n"
            "import './z.js';\nexport { f } from './w.js';\n// import { no } from './comment.js' mid-line is ignored\n")
    assert js_imports("atlas/v.js", text) == {"atlas/x.js": {"a", "b"}, "shared/y.js": {"d", "e"}, "atlas/z.js": set(),
                                              "atlas/w.js": {"f"}}
    assert js_exports("export const { get, update } = s;\nexport async function g() {}\nexport let h = 1;\n"
                      "export { i as j };\n") == {"get", "update", "g", "h", "j"}


def test_every_imported_name_is_exported() -> None:
    modules = js_modules()
    missing = []
    for name, path in modules.items():
        for target, names in js_imports(name, path.read_text()).items():
            if target in modules:
                missing += [f"{name} imports {n} from {target}" for n in sorted(names - js_exports(modules[target]
                                                                                                 .read_text()))]
    assert missing == []


def direct_writes(page: str, modules: dict[str, str]) -> list[str]:
    """The lines of a page's modules that change its state object other than through the store's update.

    Args:
        page: The page's folder (a key of STATE_NAMES).
        modules: Each module's file name and text.

    Returns:
        ``file:line: text`` for each assignment to the state's members (``D.answer = ...``, ``D.store.version =
        ...``, ``K.pending += 1``, ``D.current[0] = ...``) and each in-place change of its lists and maps
        (``K.stack.push(...)``, ``K.cells.set(...)``).
    """
    member = rf"\b{STATE_NAMES[page]}\.[\w$]+(?:\.[\w$]+|\[[^\]]*\])*"
    write = re.compile(rf"{member}\s*(?:[-+*/%]?=(?!=)|\+\+|--)|{member}\.(?:{'|'.join(MUTATORS)})\(")
    return [f"{name}:{n}: {line.strip()}" for name, text in sorted(modules.items())
            for n, line in enumerate(text.splitlines(), 1) if write.search(line)]


def page_texts(page: str) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted((JS / page).glob("*.js"))}


def test_the_atlas_page_changes_its_state_only_through_the_store() -> None:
    """No module assigns to the atlas page's state object (S) or mutates its collections in place: every change
    goes through the store's update, so every view that shows it hears of it."""
    assert direct_writes("atlas", page_texts("atlas")) == []


def test_every_page_changes_its_state_only_through_its_store() -> None:
    """Each page's state.js makes the page's store (shared/store.js) and exports its state object and update; no
    module of the drawing or the sketch page writes that object but through update."""
    for page, name in STATE_NAMES.items():
        state = (JS / page / "state.js").read_text()
        assert "shared/store.js" in js_imports(f"{page}/state.js", state) and "createStore(" in state, page
        assert {name, "update", "subscribe"} <= js_exports(state), page
        assert direct_writes(page, page_texts(page)) == [], page


def test_direct_writes_are_caught() -> None:
    """The check itself: assignments and in-place changes of the state are reported, reads and updates are not."""
    bad = ("D.answer = answer;\nD.store.version = v;\nK.pending += 1;\nK.pending--;\nD.current[0] = xs;\n"
           "K.stack.push(edit);\nK.cells.set(key, 'paint');\nD.history = D.history.filter(keep);\n")
    good = ("if (K.open === null || D.mode !== 'talk' || K.stack.length >= 3) update({ answer });\n"
            "const cells = new Map(K.cells);\ncells.set(key, 'paint');\nconst n = D.strokes.map((s) => s.length);\n")
    found = direct_writes("sketch", {"bad.js": bad.replace("D.", "K."), "good.js": good})
    assert found == [f"bad.js:{n}: {line}" for n, line in enumerate(bad.replace("D.", "K.").splitlines(), 1)]
    assert direct_writes("draw", {"good.js": good.replace("K.", "D.")}) == []


def test_each_page_loads_its_own_main() -> None:
    for html, page in (("index.html", "atlas"), ("draw.html", "draw"), ("sketch.html", "sketch")):
        scripts = re.findall(r'<script type="module" src="/static/js/([^"]+)"', (JS.parent / html).read_text())
        assert scripts == [f"{page}/main.js"], html
