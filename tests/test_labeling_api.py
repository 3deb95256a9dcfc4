"""The labeling app's HTTP API against a real uvicorn server on a real (small) round-0 atlas.

Each test gets an empty concept store; every write is checked in the store itself, not only in the answer.
"""

from __future__ import annotations

import http.client
import io
import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from labeling.app import create_app
from tests.defaults import AppSettings
from labeling.selections import Selections
from conceptstore.store import ConceptStore
from tests.conftest import ROOT, RunningServer


@pytest.fixture
def api(labeling_server) -> httpx.Client:
    with httpx.Client(base_url=labeling_server.url, timeout=30) as client:
        yield client


def _version(api: httpx.Client) -> int:
    return api.get("/api/concepts").json()["version"]


def _promote(api: httpx.Client, name: str, cluster: int = 0, untick: int = 0) -> dict:
    chosen = api.post("/api/selection", json={"cluster": cluster}).json()
    unticked = [e["point"] for e in chosen["exemplars"][:untick]]
    answer = api.post("/api/concepts", json={"name": name, "points": chosen["points"], "unticked": unticked,
                                             "source": {"kind": "cluster", "cluster": cluster},
                                             "expected_version": _version(api)})
    assert answer.status_code == 201, answer.text
    return answer.json()


# --- reading ------------------------------------------------------------------------------------------------

def test_atlas_points_and_files(api: httpx.Client, labeling_project) -> None:
    atlas = api.get("/api/atlas").json()
    points = api.get("/api/points").json()
    document = json.loads((labeling_project.folder / "atlases/round_0/atlas.json").read_text())
    assert atlas["round"] == 0 and atlas["layer"] == "features.block3"
    assert len(points["x"]) == document["metrics"]["n_points"] == len(points["key_id"])
    assert len(atlas["cells"]) == document["metrics"]["n_cells"] and len(atlas["clusters"]) == 8
    assert atlas["parts"] and max(points["part"]) < len(atlas["parts"]) and min(points["part"]) >= -1
    icon = api.get(atlas["cells"][0]["icon"])
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(icon.content)).size[0] >= 32
    for url in atlas["images"].values():
        assert api.get(url).status_code == 200
    page = api.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    bundle = api.get("/static/vendor/plotly-articulate.min.js")
    assert bundle.status_code == 200 and bundle.headers["content-type"].startswith("text/javascript")
    assert bundle.text.startswith("/* plotly.js v") and len(bundle.content) < 2_500_000  # the partial bundle


def test_the_plotly_bundle_has_every_trace_the_pages_draw() -> None:
    """The partial bundle (tools/plotly_bundle) registers each plotly.js trace type a page script names."""
    import re

    from labeling.routes.files import PLOTLY, STATIC

    registered = set(re.findall(r'moduleType:"trace",name:"(\w+)"', PLOTLY.read_text()))
    assert {"scatter", "scattergl", "heatmap"} <= registered
    plotly_traces = {"bar", "box", "contour", "heatmap", "histogram", "histogram2d", "image", "pie", "scatter",
                     "scattergl", "scatter3d", "scatterpolar", "splom", "surface", "violin", "parcoords"}
    scripts = " ".join(path.read_text() for path in STATIC.rglob("*.js") if "vendor" not in path.parts)
    # a trace's `type: '...'`, or the map's (S.mapType = webglAvailable() ? 'scattergl' : 'scatter')
    chosen = " ".join(re.findall(r"mapType = [^;]*;", scripts))
    named = {t for t in plotly_traces if re.search(rf"type: *'{t}'", scripts) or f"'{t}'" in chosen}
    assert {"scatter", "scattergl", "heatmap"} <= named
    assert named and named <= registered, f"traces the pages draw but the bundle lacks: {named - registered}"


def test_select_a_cluster_a_cell_a_lasso_and_their_exemplars(api: httpx.Client, labeling_project) -> None:
    atlas = api.get("/api/atlas").json()
    points = api.get("/api/points").json()
    cluster = atlas["clusters"][0]
    chosen = api.post("/api/selection", json={"cluster": cluster["cluster"]}).json()
    assert chosen["kind"] == "cluster" and chosen["size"] == cluster["size"]
    assert chosen["size"] == sum(c == cluster["cluster"] for c in points["cluster"])
    assert chosen["purity"] == pytest.approx(cluster["purity"]) and chosen["majority_part"] == cluster["majority_part"]
    assert sum(chosen["classes"].values()) == chosen["size"] and 0 < chosen["sketches"] <= chosen["size"]
    assert 0 < len(chosen["exemplars"]) <= atlas["exemplars"]
    patch = api.get(chosen["exemplars"][0]["patch"])
    assert Image.open(io.BytesIO(patch.content)).size == (18 * 4, 18 * 4)  # receptive field x patch scale
    sketch = api.get(f"/api/sketch/{chosen['exemplars'][0]['point']}.png")
    assert Image.open(io.BytesIO(sketch.content)).size == (64 * 4, 64 * 4)

    cell = atlas["cells"][0]
    by_cell = api.post("/api/selection", json={"cell": cell["cell"]}).json()
    assert by_cell["size"] == cell["count"] and by_cell["icon"] == cell["icon"]

    lasso = api.post("/api/selection", json={"points": [5, 3, 3, 9], "exemplars": 2}).json()
    assert lasso["kind"] == "lasso" and lasso["points"] == [3, 5, 9] and len(lasso["exemplars"]) == 2

    # Exemplars of a lasso are the points nearest to its mean activation.
    view = labeling_project.view
    ids = np.array(by_cell["points"])
    vectors = view.vectors()[ids]
    nearest = ids[np.argsort(np.linalg.norm(vectors - vectors.mean(0), axis=1), kind="stable")][:3]
    lasso = api.post("/api/selection", json={"points": by_cell["points"], "exemplars": 3}).json()
    assert [e["point"] for e in lasso["exemplars"]] == nearest.tolist()


def test_a_selection_cut_into_sub_clusters(api: httpx.Client, labeling_project) -> None:
    """The Sub-clusters button: a cluster's points in k groups of alike activations, each with what it is made of;
    selecting a group's points selects exactly that group."""
    atlas = api.get("/api/atlas").json()
    cluster = max(atlas["clusters"], key=lambda c: c["size"])
    answer = api.post("/api/selection/subclusters", json={"cluster": cluster["cluster"], "k": 3}).json()
    assert answer["k"] == 3 and answer["of"] == {"kind": "cluster", "key": cluster["cluster"], "size": cluster["size"]}
    pieces = answer["pieces"]
    assert len(pieces) == 3 and [p["size"] for p in pieces] == sorted((p["size"] for p in pieces), reverse=True)
    everything = sorted(i for p in pieces for i in p["points"])
    assert everything == api.post("/api/selection", json={"cluster": cluster["cluster"]}).json()["points"]
    view = labeling_project.view
    vectors = view.vectors()
    centres = [vectors[p["points"]].mean(0) for p in pieces]
    for k, piece in enumerate(pieces):  # k-means groups: each point nearest its own group's centre
        assert piece["size"] == len(piece["points"]) == sum(piece["classes"].values())
        nearest = np.argmin([np.linalg.norm(vectors[piece["points"]] - c, axis=1) for c in centres], axis=0)
        assert (nearest == k).mean() > 0.9
        assert piece["majority_part"] in piece["parts"] and 0 < piece["purity"] <= 1
        chosen = api.post("/api/selection", json={"points": piece["points"]}).json()
        assert chosen["kind"] == "lasso" and chosen["majority_part"] == piece["majority_part"]
    default = api.post("/api/selection/subclusters", json={"cluster": cluster["cluster"]}).json()
    assert default["k"] == 2 and len(default["pieces"]) == 2  # labeling.split_k
    for body, status, words in (({"points": [1, 2], "k": 3}, 400, "cannot split a selection of 2 points into 3"),
                                ({"cluster": cluster["cluster"], "k": 1}, 400, "k"),
                                ({"cluster": 999, "k": 3}, 404, "no cluster 999")):
        answer = api.post("/api/selection/subclusters", json=body)
        assert answer.status_code == status and words in answer.json()["error"], answer.text


@pytest.mark.parametrize("body, status, words", [
    ({"cluster": 999}, 404, "no cluster 999"),
    ({"cell": 10_000}, 404, "no points in cell"),
    ({"points": []}, 400, "empty"),
    ({"points": [10**9]}, 404, "not in the round 0 atlas"),
    ({"cluster": 1, "cell": 2}, 400, "exactly one"),
    ({"points": "all"}, 400, "points"),
    ({"concept": "nope"}, 404, "nope"),
    ({"clusters": 1}, 400, "clusters"),
])
def test_bad_selections_get_one_clear_error(api: httpx.Client, body: dict, status: int, words: str) -> None:
    answer = api.post("/api/selection", json=body)
    assert answer.status_code == status and words in answer.json()["error"]


# --- writes -------------------------------------------------------------------------------------------------

def test_promote_untick_add_rename_notes_and_undo(api: httpx.Client, labeling_server) -> None:
    store = labeling_server.store
    answer = _promote(api, "wall", cluster=0, untick=2)
    state = store.state()
    assert state.version == answer["version"] == 1 and [c.name for c in state.concepts] == ["wall"]
    concept = state.concepts[0]
    chosen = api.post("/api/selection", json={"cluster": 0}).json()
    assert len(concept.negatives) == 2 and len(concept.positives) == chosen["size"] - 2
    assert concept.source["kind"] == "cluster" and concept.source["cluster"] == 0 and concept.born_round == 0
    listed = answer["concepts"][0]
    assert listed["n_positives"] == len(concept.positives) and len(listed["points"]) == chosen["size"] - 2
    # the classes of the sketches its positions are on, most first, adding up to its positions
    points = labeling_server.project.view.points
    word_of = dict(zip(points["key_id"].astype(str), points["word"].astype(str)))
    assert listed["classes"] == dict(Counter(word_of[p[0]] for p in concept.positives).most_common())
    assert answer["changed"] == [concept.id]

    more = api.post("/api/selection", json={"cluster": 1}).json()
    shown = [e["point"] for e in more["exemplars"]]
    added = api.post(f"/api/concepts/{concept.id}/add", json={"points": more["points"], "unticked": [],
                                                              "seen": shown, "source": {"kind": "cluster", "cluster": 1},
                                                              "expected_version": 1})
    assert added.status_code == 200
    assert len(store.state().concepts[0].positives) == len(concept.positives) + more["size"]
    assert len(store.state().concepts[0].verified) == len(concept.verified) + len(shown), "the exemplars shown and kept"

    assert api.post(f"/api/concepts/{concept.id}/rename", json={"name": "brick wall", "expected_version": 2}).status_code == 200
    assert store.state().concepts[0].name == "brick wall"
    assert api.post(f"/api/concepts/{concept.id}/notes", json={"notes": "the straight ones", "expected_version": 3}).status_code == 200
    assert store.state().concepts[0].notes == "the straight ones"

    for expected_name, expected_size in (("brick wall", None), ("wall", None), ("wall", len(concept.positives))):
        undone = api.post("/api/undo", json={"expected_version": _version(api)})
        assert undone.status_code == 200, undone.text
        now = store.state().concepts[0]
        assert now.name == expected_name
        if expected_size is not None:
            assert len(now.positives) == expected_size
    events = api.get("/api/events?limit=3").json()["events"]
    assert events[0]["op"] == "undo" and "undid" in events[0]["summary"]


def test_merge_split_and_delete(api: httpx.Client, labeling_server) -> None:
    store = labeling_server.store
    _promote(api, "one", cluster=0)
    _promote(api, "two", cluster=1)
    a, b = store.state().concepts
    merged = api.post("/api/concepts/merge", json={"ids": [a.id, b.id], "name": "both", "expected_version": 2})
    assert merged.status_code == 200, merged.text
    (both,) = store.state().concepts
    assert both.id == a.id and both.name == "both" and set(both.positives) == set(a.positives) | set(b.positives)

    lasso = merged.json()["concepts"][0]["points"][:10]
    split = api.post(f"/api/concepts/{both.id}/split", json={"points": lasso, "name": "ten", "expected_version": 3})
    assert split.status_code == 200, split.text
    state = store.state()
    assert [c.name for c in state.concepts] == ["both", "ten"] and len(state.concepts[1].positives) == 10
    assert len(state.concepts[0].positives) == len(both.positives) - 10

    by_k = api.post(f"/api/concepts/{both.id}/split", json={"k": 3, "expected_version": 4})
    assert by_k.status_code == 200, by_k.text
    names = [c.name for c in store.state().concepts]
    assert names[:1] == ["both"] and {"both (2)", "both (3)"} <= set(names)
    total = sum(len(c.positives) for c in store.state().concepts)
    assert total == len(both.positives)  # a split moves positions, never loses them

    doomed = store.state().get("ten")
    gone = api.delete(f"/api/concepts/{doomed.id}", params={"expected_version": 5})
    assert gone.status_code == 200 and "ten" not in [c.name for c in store.state().concepts]
    assert api.delete("/api/concepts/c99", params={"expected_version": 6}).status_code == 404


def test_conflicts_and_names(api: httpx.Client, labeling_server) -> None:
    store = labeling_server.store
    _promote(api, "ear", cluster=0)
    concept = store.state().concepts[0]
    store.rename(concept.id, "cat ear")  # someone else, behind the page's back
    stale = api.post(f"/api/concepts/{concept.id}/rename", json={"name": "dog ear", "expected_version": 1})
    assert stale.status_code == 409 and stale.json()["version"] == 2 and "changed" in stale.json()["error"]
    assert store.state().concepts[0].name == "cat ear" and store.state().version == 2

    chosen = api.post("/api/selection", json={"cluster": 1}).json()
    for name, words in (("", "needs a name"), ("   ", "needs a name"), ("CAT EAR", "already"), ("x" * 200, "80"),
                        ("a\u0007b", "control"), ("c7", "concept ids")):
        answer = api.post("/api/concepts", json={"name": name, "points": chosen["points"], "expected_version": 2})
        assert answer.status_code == 400 and words in answer.json()["error"], (name, answer.text)
    markup = "<img src=x onerror=alert(1)>"
    answer = api.post("/api/concepts", json={"name": markup, "points": chosen["points"], "expected_version": 2})
    assert answer.status_code == 201 and answer.json()["concepts"][1]["name"] == markup
    assert store.state().concepts[1].name == markup
    assert api.post("/api/concepts", json={"name": "x", "points": chosen["points"], "unticked": chosen["points"],
                                           "expected_version": 3}).status_code == 400
    assert api.post("/api/concepts", json={"name": "x", "points": [1], "bogus": 1}).status_code == 400
    assert api.post("/api/concepts", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    assert store.state().version == 3


# --- the open doors: host names, origins, versions, sources -------------------------------------------------

def test_only_the_host_names_it_was_started_for(api: httpx.Client, labeling_server) -> None:
    port = labeling_server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST", f"[::1]:{port}"):
        assert api.get("/api/atlas", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}", ""):
        answer = api.get("/api/atlas", headers={"Host": host})  # a page elsewhere, by DNS rebinding
        assert answer.status_code == 400, host
        assert "answers only to 127.0.0.1" in answer.json()["error"] and "localhost" in answer.json()["error"]
    assert api.post("/api/concepts", json={"name": "x", "points": [1], "expected_version": 0},
                    headers={"Host": "evil.example"}).status_code == 400
    assert labeling_server.store.state().version == 0


def test_allowed_hosts() -> None:
    from labeling.settings import allowed_hosts

    assert allowed_hosts("127.0.0.1") == {"127.0.0.1", "localhost", "::1"}
    assert allowed_hosts("192.168.1.7") == {"127.0.0.1", "localhost", "::1", "192.168.1.7"}
    assert allowed_hosts("Studio.local") >= {"studio.local"}
    assert allowed_hosts("0.0.0.0") is None and allowed_hosts("::") is None  # every interface: the token guards


def test_writes_only_from_the_servers_own_page(api: httpx.Client, labeling_server) -> None:
    store = labeling_server.store
    chosen = api.post("/api/selection", json={"cluster": 0}).json()
    body = {"name": "wall", "points": chosen["points"], "expected_version": 0}
    for origin in ("http://evil.example", f"http://evil.example:{labeling_server.port}", "null",
                   f"http://127.0.0.1:{labeling_server.port + 1}", f"http://localhost:{labeling_server.port}"):
        answer = api.post("/api/concepts", json=body, headers={"Origin": origin})
        assert answer.status_code == 403, origin
        assert "only from this server's own page" in answer.json()["error"] and origin in answer.json()["error"]
    assert store.state().version == 0
    own = api.post("/api/concepts", json=body, headers={"Origin": labeling_server.url})
    assert own.status_code == 201 and store.state().version == 1
    concept = store.state().concepts[0].id
    refused = api.delete(f"/api/concepts/{concept}", params={"expected_version": 1},
                         headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403 and store.state().version == 1
    assert api.get("/api/concepts", headers={"Origin": "http://evil.example"}).status_code == 200  # a read


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/api/concepts", {"name": "wall", "points": [1, 2]}),
    ("POST", "/api/concepts/c1/add", {"points": [3]}),
    ("POST", "/api/concepts/c1/rename", {"name": "brick"}),
    ("POST", "/api/concepts/c1/notes", {"notes": "x"}),
    ("POST", "/api/concepts/merge", {"ids": ["c1", "c1"]}),
    ("POST", "/api/concepts/c1/split", {"k": 2}),
    ("POST", "/api/undo", {}),
    ("POST", "/api/undo", None),
    ("DELETE", "/api/concepts/c1", None),
])
def test_every_write_needs_expected_version(api: httpx.Client, labeling_server, method: str, path: str,
                                            body: dict | None) -> None:
    _promote(api, "ear", cluster=0)
    answer = api.request(method, path, json=body)
    assert answer.status_code == 400, answer.text
    assert "every write needs expected_version" in answer.json()["error"]
    assert labeling_server.store.state().version == 1 and len(labeling_server.store.events()) == 1


@pytest.mark.parametrize("source, status, words", [
    ({"kind": "cluster", "cluster": 999}, 404, "no cluster 999 in the round 0 atlas (clusters 0..7)"),
    ({"kind": "cluster", "cluster": -1}, 404, "clusters 0..7"),
    ({"kind": "cell", "cell": 10_000}, 404, "no points in cell 10000 of the round 0 atlas (cells 0.."),
    ({"kind": "cluster"}, 400, "a cluster source needs its number"),
    ({"kind": "cell"}, 400, "a cell source needs its number"),
    ({"kind": "pencil"}, 400, "source kind"),
])
def test_a_source_must_be_in_the_atlas(api: httpx.Client, labeling_server, source: dict, status: int,
                                       words: str) -> None:
    chosen = api.post("/api/selection", json={"cluster": 0}).json()
    answer = api.post("/api/concepts", json={"name": "wall", "points": chosen["points"], "source": source,
                                             "expected_version": 0})
    assert answer.status_code == status and words in answer.json()["error"], answer.text
    _promote(api, "ear", cluster=0)
    added = api.post("/api/concepts/c1/add", json={"points": chosen["points"][:3], "source": source,
                                                   "expected_version": 1})
    assert added.status_code == status and words in added.json()["error"], added.text
    assert labeling_server.store.state().version == 1


def test_head_of_the_page(api: httpx.Client) -> None:
    answer = api.head("/")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert answer.content == b"" and int(answer.headers["content-length"]) > 100


def _raw_get(url: str, path: str) -> int:
    """GET a path exactly as written (no client-side normalisation of '..')."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", path)
    status = connection.getresponse().status
    connection.close()
    return status


def test_files_only_from_the_atlas_folder(labeling_server) -> None:
    url = labeling_server.url
    assert _raw_get(url, "/atlas/atlas.png") == 200
    for path in ("/atlas/../../../etc/passwd", "/atlas/..%2f..%2f..%2fetc%2fpasswd", "/atlas/%2e%2e/%2e%2e/model.pt",
                 "/atlas/../models/round_0/model.pt", "/static/../app.py", "/static/..%2fapp.py",
                 "/atlas//etc/passwd", "/atlas/nothing.png", "/api/patch/999999.png"):
        assert _raw_get(url, path) == 404, path


def test_request_size_limit(labeling_project, tmp_path: Path) -> None:
    store = ConceptStore(tmp_path / "c.yaml")
    server = RunningServer(create_app(labeling_project.view, store, AppSettings(port=0, max_request_bytes=4096)),
                           labeling_project, store)
    try:
        big = {"name": "big", "points": list(range(3000)), "expected_version": 0}
        with httpx.Client(base_url=server.url) as client:
            assert client.post("/api/concepts", json=big).status_code == 413
            chunked = client.post("/api/concepts", content=iter([json.dumps(big).encode()[i:i + 1000]
                                                                 for i in range(0, 20_000, 1000)]))
            assert chunked.status_code == 413 and "too large" in chunked.json()["error"]
            assert client.post("/api/selection", json={"cluster": 0}).status_code == 200
        assert store.state().version == 0
    finally:
        server.stop()


def test_a_token_guards_every_request(labeling_project, tmp_path: Path) -> None:
    store = ConceptStore(tmp_path / "c.yaml")
    with pytest.raises(Exception, match="token"):
        AppSettings(host="0.0.0.0")
    settings = AppSettings(host="0.0.0.0", port=0, token="s3cret-s3cret-s3cret")
    server = RunningServer(create_app(labeling_project.view, store, settings), labeling_project, store)
    try:
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/api/atlas").status_code == 401
            assert client.get("/api/atlas", headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert client.get("/api/atlas", headers={"Authorization": "Bearer s3cret-s3cret-s3cret"}).status_code == 200
            assert client.get("/", params={"token": "s3cret-s3cret-s3cret"}).status_code == 200  # sets the cookie
            assert client.get("/api/concepts").status_code == 200
    finally:
        server.stop()


# --- the page -----------------------------------------------------------------------------------------------

def _lab(colour: str) -> np.ndarray:
    """CIELAB (D65) of an sRGB hex colour."""
    rgb = np.array([int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    f = np.cbrt(np.maximum(xyz / np.array([0.95047, 1.0, 1.08883]), (6 / 29) ** 3))
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_the_map_has_a_distinct_colour_for_each_of_24_clusters() -> None:
    script = (ROOT / "labeling" / "static" / "js" / "shared" / "palette.js").read_text()
    palette = re.findall(r"'(#[0-9a-f]{6})'", re.search(r"const PALETTE = \[(.*?)\];", script, re.S).group(1))
    assert len(palette) >= 24 and len(set(palette)) == len(palette)
    lab = np.stack([_lab(c) for c in palette])
    distance = np.linalg.norm(lab[:, None] - lab[None], axis=-1) + np.eye(len(lab)) * 1e9
    assert distance.min() > 15, [(palette[i], palette[j]) for i, j in zip(*np.nonzero(distance <= 15))]
    assert (lab[:, 0] < 90).all()  # none too pale to see on white
    from pipeline.atlas.figure import CLUSTER_PALETTE, cluster_colours

    assert list(CLUSTER_PALETTE) == palette, "map.png and the page colour clusters alike"
    colours = cluster_colours(30)
    assert colours.shape == (30, 4) and len({tuple(c) for c in colours}) == 30


# --- the commands -------------------------------------------------------------------------------------------

def test_every_operation_is_a_command(labeling_project, capsys: pytest.CaptureFixture, monkeypatch) -> None:
    from articulate.cli import main

    project = labeling_project
    concepts = project.folder / "cli" / "concepts.yaml"
    overrides = [a for o in [*project.overrides, f"paths.concepts={concepts}"] for a in ("-o", o)]
    store = ConceptStore(concepts)

    def run(*args: str) -> tuple[int, str, str]:
        status = main(["concepts", *overrides, *args])
        out, err = capsys.readouterr()
        return status, out, err

    def ok(*args: str) -> str:
        status, out, err = run(*args)
        assert status == 0, err
        return out

    first = Selections(project.view).describe(project.view.select(cluster=0))["exemplars"][0]["point"]
    assert "promoted 'wall'" in ok("promote", "wall", "--cluster", "0", "--untick", str(first))
    assert store.state().concepts[0].negatives == tuple(project.view.positions([first]))
    assert ok("list").startswith("1 concept (store version 1)")
    ok("promote", "corner", "--points", "1-20")
    ok("add", "corner", "--cell", str(project.view.document["cells"][0]["cell"]))
    ok("rename", "wall", "Wall!")
    ok("notes", "Wall!", "seen in houses")
    assert store.state().get("Wall!").notes == "seen in houses"
    ok("merge", "Wall!", "corner", "--name", "walls")
    ok("split", "walls", "--k", "2")
    assert [c.name for c in store.state().concepts] == ["walls", "walls (2)"]
    ok("delete", "walls (2)")
    ok("undo")
    assert "walls (2)" in ok("list")
    assert "negatives" in ok("show", "walls")
    assert "undid" in ok("log")
    assert "matches" in ok("verify")
    concepts.write_text(concepts.read_text().replace("name: walls", "name: hand-edited"))
    assert "rewritten" in ok("replay") and store.state().concepts[0].name == "walls"

    for args, words in ((("rename", "nothing-here", "x"), "nothing-here"),
                        (("promote", "x", "--cluster", "77"), "no cluster 77"),
                        (("promote", "x", "--points", "1-z"), "1-z"),
                        (("split", "walls", "--k", "100000"), "cannot split")):
        status, out, err = run(*args)
        assert status == 2 and err.startswith("error:") and words in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1


def test_label_command_serves_and_prints_the_address(labeling_project) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "articulate.cli", "label", "--port", str(port),
                                *labeling_project.overrides], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 120
        while f"127.0.0.1:{port}" not in line and time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line or process.poll() is None, "the server exited"
        assert f"open http://127.0.0.1:{port}/" in line
        for _ in range(100):
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/atlas", timeout=5)
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert answer.status_code == 200 and answer.json()["round"] == 0
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
