"""Procedural part-annotated sketches: the embedded default dataset.

Each class is drawn from named parts (head, ear, eye, wheel, window, ...), several of which are shared
across classes, so that a model trained on whole drawings has reusable parts to discover, and the
generator's per-stroke part names give the ground truth to measure that discovery against.

Variation comes from the pose (facing left or right, rotation, proportions), per-part jitter of position
and size, a smooth wobble along every stroke, omitted optional parts, reversed strokes and shuffled stroke
order; each drawing records what it got of these as its attributes (:data:`ATTRIBUTES`, ``Sketch.attributes``):
ideas that are not parts. Output uses the Quick, Draw! "simplified" layout: integer coordinates in 0..255,
aligned to the top-left and scaled so the longer side spans 255.

``classes: null`` draws the ten default classes (:data:`DEFAULT_CLASSES`). Nine more, of which Quick, Draw! has
real drawings (apple, sun, umbrella, cup, mushroom, snowman, candle, cactus, clock), are opt-in through
``data.source.classes``; with ``flower`` they make a set whose model can be tested on real drawings
(``bench/bench_real.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from simplification.cutil import simplify_coords
from tqdm.auto import tqdm

from core.ndjson import ReadResult
from core.sketch import CANVAS_MAX, Sketch
from core.errors import ConfigError
from pipeline.schema import Conf

Points = np.ndarray  # (2, n) float: x row, y row, template units (y down)


def ellipse(cx: float, cy: float, rx: float, ry: float, start: float = 0.0, extent: float = 360.0,
            rotation: float = 0.0, closed: bool = True) -> Points:
    """Points along an elliptical arc; angles in degrees, 0 pointing right, 90 pointing down."""
    n = max(6, int(abs(extent) / 15) + 1)
    t = np.radians(start + np.linspace(0.0, extent, n))
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
    pts = np.stack([cx + c * x - s * y, cy + s * x + c * y])
    if closed and abs(extent) >= 360:
        pts[:, -1] = pts[:, 0]
    return pts


def polyline(*xy: tuple[float, float]) -> Points:
    """Points through the given (x, y) corners."""
    return np.asarray(xy, dtype=float).T


def on_circle(cx: float, cy: float, r: float, angle: float) -> tuple[float, float]:
    """The point at ``angle`` degrees on a circle (0 right, 90 down)."""
    a = math.radians(angle)
    return cx + r * math.cos(a), cy + r * math.sin(a)


class _Pen:
    """Collects the strokes of one drawing and draws the random numbers its template needs."""

    def __init__(self, rng: np.random.Generator, jitter: float) -> None:
        self.rng = rng
        self.jitter = jitter
        self.strokes: list[tuple[str, Points]] = []

    def u(self, low: float, high: float) -> float:
        """A uniform draw: pose and proportion choices."""
        return float(self.rng.uniform(low, high))

    def j(self, value: float, spread: float = 0.1) -> float:
        """``value`` scaled by a random factor around 1: per-part size jitter."""
        return value * (1.0 + self.jitter * spread * float(self.rng.standard_normal()))

    def d(self, scale: float = 1.5) -> float:
        """A random offset: per-part position jitter in template units."""
        return self.jitter * scale * float(self.rng.standard_normal())

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def draw(self, part: str, *strokes: Points) -> None:
        for pts in strokes:
            self.strokes.append((part, pts))


# --- class templates -------------------------------------------------------------------------------
# Template space: roughly 0..110 on each axis, y pointing down, facing right; the pose (mirror, rotation,
# aspect) is applied afterwards. A template draws parts in the order a person typically would.


def _animal_head_and_body(p: _Pen, head_r: float) -> tuple[float, float, float, float, float, float, float]:
    body_cx, body_cy = 50 + p.d(), 62 + p.d()
    body_rx, body_ry = p.j(26), p.j(14)
    head_cx = body_cx + body_rx * p.u(0.75, 1.0) + p.d()
    head_cy = body_cy - body_ry - head_r * p.u(0.2, 0.7) + p.d()
    return body_cx, body_cy, body_rx, body_ry, head_cx, head_cy, head_r


def _legs(p: _Pen, body_cx: float, body_cy: float, body_rx: float, body_ry: float, count: int,
          length: float, feet: bool = False) -> None:
    xs = np.linspace(body_cx - body_rx * 0.65, body_cx + body_rx * 0.65, count)
    legs = []
    for x in xs:
        x0 = x + p.d(1.0)
        top = body_cy + body_ry * math.sqrt(max(0.0, 1 - ((x0 - body_cx) / body_rx) ** 2)) - 1
        bottom = top + p.j(length, 0.15)
        lean = p.d(2.0)
        if feet:
            legs.append(polyline((x0, top), (x0 + lean, bottom), (x0 + lean + 4, bottom + 1)))
        else:
            legs.append(polyline((x0, top), (x0 + lean, bottom)))
    p.draw("leg", *legs)


def _eyes(p: _Pen, cx: float, cy: float, spacing: float, r: float, count: int = 2) -> None:
    offsets = [-spacing / 2, spacing / 2] if count == 2 else [0.0]
    p.draw("eye", *[ellipse(cx + dx + p.d(0.5), cy + p.d(0.5), p.j(r, 0.2), p.j(r, 0.2)) for dx in offsets])


def draw_cat(p: _Pen) -> None:
    bx, by, brx, bry, hx, hy, hr = _animal_head_and_body(p, p.j(13))
    p.draw("head", ellipse(hx, hy, hr, hr * p.u(0.85, 1.0)))
    ears = []
    for base in (-125.0, -55.0):
        a = on_circle(hx, hy, hr, base - 18)
        b = on_circle(hx, hy, hr, base + 18)
        tip = on_circle(hx, hy, hr * p.u(1.6, 1.9), base + p.d(4))
        ears.append(polyline(a, tip, b))
    p.draw("ear", *ears)
    _eyes(p, hx + hr * 0.1, hy - hr * 0.15, hr * 0.8, hr * 0.14)
    whiskers = []
    for side in (-1, 1):
        for k in (-1, 0, 1):
            x0 = hx + side * hr * 0.25
            y0 = hy + hr * 0.35 + k * 2
            whiskers.append(polyline((x0, y0), (x0 + side * hr * p.u(0.9, 1.2), y0 + k * p.u(2, 4))))
    p.draw("whisker", *whiskers)
    p.draw("body", ellipse(bx, by, brx, bry))
    _legs(p, bx, by, brx, bry, 4, 16)
    tx, ty = bx - brx, by - bry * 0.2
    curl = p.u(0.6, 1.0)
    p.draw("tail", polyline((tx, ty), (tx - 8, ty - 10 * curl), (tx - 9, ty - 22 * curl),
                            (tx - 4, ty - 30 * curl), (tx + 1, ty - 28 * curl)))


def draw_dog(p: _Pen) -> None:
    bx, by, brx, bry, hx, hy, hr = _animal_head_and_body(p, p.j(12))
    p.draw("head", ellipse(hx, hy, hr * p.u(1.15, 1.35), hr, rotation=p.u(5, 20)))
    # Floppy ears hang from the top of the head down its back, unlike the cat's pointed ones.
    ears = [ellipse(hx - hr * 0.75 + p.d(0.5), hy + hr * 0.1, hr * 0.32, hr * p.u(0.75, 0.95), rotation=p.u(15, 35))]
    if p.chance(0.5):
        ears.append(ellipse(hx - hr * 0.35 + p.d(0.5), hy + hr * 0.05, hr * 0.28, hr * p.u(0.7, 0.85), rotation=p.u(5, 20)))
    p.draw("ear", *ears)
    _eyes(p, hx + hr * 0.35, hy - hr * 0.25, hr * 0.45, hr * 0.13)
    p.draw("nose", ellipse(hx + hr * 1.25 + p.d(0.5), hy + hr * 0.05, p.j(2.8), p.j(2.0)))
    p.draw("body", ellipse(bx, by, brx, bry * p.u(0.9, 1.1)))
    _legs(p, bx, by, brx, bry, 4, 18)
    tx, ty = bx - brx + 1, by - bry * 0.4
    angle = math.radians(p.u(200, 240))
    length = p.j(14)
    p.draw("tail", polyline((tx, ty), (tx + length * math.cos(angle) * 0.6, ty + length * math.sin(angle) * 0.6 - 2),
                            (tx + length * math.cos(angle), ty + length * math.sin(angle))))


def draw_bird(p: _Pen) -> None:
    bx, by = 50 + p.d(), 58 + p.d()
    brx, bry = p.j(22), p.j(15)
    tilt = p.u(-20, 0)
    hr = p.j(9)
    hx, hy = bx + brx * 0.85 + p.d(), by - bry * 1.05 + p.d()
    p.draw("head", ellipse(hx, hy, hr, hr))
    beak_len = p.j(10, 0.15)
    a, b = on_circle(hx, hy, hr, -25), on_circle(hx, hy, hr, 20)
    p.draw("beak", polyline(a, (hx + hr + beak_len, hy + p.d(1)), b))
    _eyes(p, hx + hr * 0.3, hy - hr * 0.2, 0, hr * 0.18, count=1)
    p.draw("body", ellipse(bx, by, brx, bry, rotation=tilt))
    wx, wy = bx - 2 + p.d(), by - 2 + p.d()
    p.draw("wing", polyline((wx + 10, wy - 4), (wx - 2, wy - 6), (wx - 14, wy + 2), (wx - 2, wy + 5), (wx + 10, wy - 4)))
    _legs(p, bx, by, brx * 0.5, bry, 2, 16, feet=True)
    tx, ty = bx - brx * 0.95, by - bry * 0.1
    spread = p.u(6, 10)
    p.draw("tail", polyline((tx, ty - 3), (tx - 16, ty - spread), (tx - 14, ty), (tx - 16, ty + spread), (tx, ty + 3)))


def draw_fish(p: _Pen) -> None:
    cx, cy = 50 + p.d(), 55 + p.d()
    length, height = p.j(32), p.j(15)
    top = ellipse(cx, cy, length, height, start=180, extent=180, closed=False)
    bottom = ellipse(cx, cy, length, height, start=0, extent=180, closed=False)
    p.draw("body", np.concatenate([top, bottom[:, 1:]], axis=1))
    tx = cx - length
    flare = p.j(14)
    p.draw("tail", polyline((tx + 2, cy), (tx - 14, cy - flare), (tx - 11, cy), (tx - 14, cy + flare), (tx + 2, cy)))
    _eyes(p, cx + length * 0.55, cy - height * 0.3, 0, p.j(2.5), count=1)
    p.draw("mouth", polyline((cx + length - 1, cy - 2), (cx + length - 6, cy + 1), (cx + length - 1, cy + 3)))
    fx = cx + p.d(2)
    fins = [polyline((fx - 8, cy - height + 1), (fx - 2, cy - height - p.j(10)), (fx + 8, cy - height + 1))]
    if p.chance(0.5):
        fins.append(polyline((fx + 2, cy + 3), (fx - 6, cy + 9), (fx + 6, cy + 6)))
    p.draw("fin", *fins)


def draw_car(p: _Pen) -> None:
    x0, x1 = 10 + p.d(), 100 + p.d()
    ybot, ymid = 70 + p.d(1), 52 + p.d(1)
    cab0, cab1 = x0 + p.u(18, 26), x1 - p.u(22, 30)
    ytop = ymid - p.j(18)
    p.draw("chassis", polyline((x0, ybot), (x0, ymid), (cab0, ymid), (cab0 + 8, ytop), (cab1 - 6, ytop), (cab1, ymid),
                               (x1, ymid + 2), (x1, ybot), (x0, ybot)))
    mid = (cab0 + cab1) / 2
    p.draw("window", polyline((cab0 + 10, ymid - 3), (cab0 + 12, ytop + 3), (mid - 2, ytop + 3), (mid - 2, ymid - 3), (cab0 + 10, ymid - 3)),
           polyline((mid + 2, ymid - 3), (mid + 2, ytop + 3), (cab1 - 8, ytop + 3), (cab1 - 4, ymid - 3), (mid + 2, ymid - 3)))
    wr = p.j(10)
    p.draw("wheel", ellipse(x0 + 20 + p.d(), ybot, wr, wr), ellipse(x1 - 20 + p.d(), ybot, wr, wr))
    p.draw("door", polyline((mid + p.d(), ymid + 1), (mid + p.d(), ybot - 3)))
    p.draw("headlight", ellipse(x1 - 4, ymid + 7, p.j(3), p.j(2.2)))


def draw_bicycle(p: _Pen) -> None:
    r = p.j(19, 0.08)
    rear, front = (28 + p.d(), 70 + p.d(1)), (88 + p.d(), 70 + p.d(1))
    p.draw("wheel", ellipse(*rear, r, r), ellipse(*front, r * p.u(0.95, 1.05), r))
    crank = (55 + p.d(), 72 + p.d())
    seat_j = (48 + p.d(), 42 + p.d())
    head = (82 + p.d(), 42 + p.d())
    p.draw("frame", polyline(rear, seat_j, crank, rear), polyline(seat_j, head, crank), polyline(head, front))
    p.draw("handlebar", polyline((head[0] - 2, head[1]), (head[0] + 1, head[1] - 9), (head[0] + 9, head[1] - 10)))
    p.draw("seat", polyline((seat_j[0], seat_j[1]), (seat_j[0] - 1, seat_j[1] - 6)),
           polyline((seat_j[0] - 8, seat_j[1] - 7), (seat_j[0] + 6, seat_j[1] - 7)))
    p.draw("pedal", polyline((crank[0] - 6, crank[1] + 5), (crank[0] + 6, crank[1] - 5)))


def draw_house(p: _Pen) -> None:
    x0, x1 = 20 + p.d(), 90 + p.d()
    y0, y1 = 50 + p.d(), 100 + p.d()
    p.draw("wall", polyline((x0, y1), (x0, y0), (x1, y0), (x1, y1), (x0, y1)))
    apex = ((x0 + x1) / 2 + p.d(3), y0 - p.j(32))
    p.draw("roof", polyline((x0 - 6, y0 + 1), apex, (x1 + 6, y0 + 1)))
    dx = (x0 + x1) / 2 + p.u(-12, 12)
    dw, dh = p.j(7), p.j(22)
    p.draw("door", polyline((dx - dw, y1), (dx - dw, y1 - dh), (dx + dw, y1 - dh), (dx + dw, y1)))
    windows = []
    for wx in (x0 + 12, x1 - 12):
        if abs(wx - dx) < dw + 10:
            continue
        s = p.j(7)
        wy = y0 + 14 + p.d(1)
        windows.append(polyline((wx - s, wy - s), (wx + s, wy - s), (wx + s, wy + s), (wx - s, wy + s), (wx - s, wy - s)))
        windows.append(polyline((wx, wy - s), (wx, wy + s)))
    p.draw("window", *windows)
    side = 1 if p.chance(0.5) else -1
    cx = (x0 + x1) / 2 + side * (x1 - x0) * 0.28
    roof_y = y0 - (y0 - apex[1]) * (1 - abs(cx - apex[0]) / ((x1 - x0) / 2 + 6))
    p.draw("chimney", polyline((cx - 4, roof_y + 1), (cx - 4, roof_y - 12), (cx + 4, roof_y - 12), (cx + 4, roof_y - 3)))


def draw_tree(p: _Pen) -> None:
    cx = 55 + p.d()
    base, top = 105 + p.d(), 62 + p.d()
    w = p.j(6)
    p.draw("trunk", polyline((cx - w, base), (cx - w * 0.8, top)), polyline((cx + w, base), (cx + w * 0.8, top)))
    r = p.j(30)
    ccx, ccy = cx + p.d(), top - r * 0.75
    bumps = int(p.u(6, 10))
    t = np.radians(np.linspace(0, 360, 8 * bumps + 1))
    radius = r * (1 + 0.12 * np.abs(np.sin(bumps * t / 2)))
    p.draw("crown", np.stack([ccx + radius * np.cos(t), ccy + radius * 0.85 * np.sin(t)]))
    p.draw("branch", polyline((cx, top + 6), (cx - p.u(8, 14), top - p.u(8, 14))),
           polyline((cx, top + 2), (cx + p.u(8, 14), top - p.u(10, 16))))


def draw_flower(p: _Pen) -> None:
    cx, cy = 55 + p.d(), 35 + p.d()
    cr = p.j(7)
    p.draw("center", ellipse(cx, cy, cr, cr))
    count = int(p.u(5, 9))
    length = p.j(12)
    offset = p.u(0, 360)
    petals = []
    for k in range(count):
        a = offset + 360 * k / count
        px, py = on_circle(cx, cy, cr + length * 0.55, a)
        petals.append(ellipse(px, py, length * 0.6, length * 0.3, rotation=a))
    p.draw("petal", *petals)
    sway = p.d(4)
    p.draw("stem", polyline((cx, cy + cr + length), (cx + sway, cy + 45), (cx + sway * 0.5, cy + 75)))
    leaves = []
    for side in (-1, 1):
        ly = cy + p.u(45, 62)
        lx = cx + sway * 0.7
        tip = (lx + side * p.j(16), ly - p.j(8))
        mid1 = (lx + side * 7, ly - 9)
        mid2 = (lx + side * 9, ly + 1)
        leaves.append(polyline((lx, ly), mid1, tip, mid2, (lx, ly)))
    p.draw("leaf", *leaves)


def draw_face(p: _Pen) -> None:
    cx, cy = 55 + p.d(), 58 + p.d()
    rx, ry = p.j(30), p.j(38)
    p.draw("head", ellipse(cx, cy, rx, ry))
    _eyes(p, cx, cy - ry * 0.2, rx * 0.75, p.j(4.5, 0.2))
    p.draw("nose", polyline((cx + p.d(1), cy - 3), (cx - 3, cy + 8), (cx + 3, cy + 9)))
    width = p.j(13)
    smile = p.u(-10, 30)
    p.draw("mouth", ellipse(cx, cy + ry * 0.45 - smile * 0.15, width, max(2.0, smile * 0.3), start=0, extent=180, closed=False)
           if smile > 0 else polyline((cx - width, cy + ry * 0.5), (cx + width, cy + ry * 0.5)))
    p.draw("ear", ellipse(cx - rx, cy - 2, 6, 10, start=90, extent=180, closed=False),
           ellipse(cx + rx, cy - 2, 6, 10, start=-90, extent=180, closed=False))
    n = int(p.u(4, 8))
    xs = np.linspace(cx - rx * 0.8, cx + rx * 0.8, 2 * n + 1)
    ys = np.where(np.arange(2 * n + 1) % 2 == 0, cy - ry * 0.8, cy - ry - p.j(8))
    p.draw("hair", np.stack([xs, ys]))


# --- classes drawn the way people draw them -------------------------------------------------------------
# What is true of human drawings of any class, seen in Quick, Draw!: a round outline is one lumpy stroke with a
# few straight sides, begun anywhere and ended a little short of or past its start; an object's silhouette is
# often one open stroke (three sides of a cup, the dome of an umbrella); detail (spots, ribs, ticks, a face) is
# the exception, not the rule. These templates draw that way; the ten default classes above are left as they
# are, so that the default data stays the same.


def hand_loop(p: _Pen, cx: float, cy: float, rx: float, ry: float, corners: int | None = None,
              start: float | None = None, lumps: float = 0.06) -> Points:
    """A closed outline as a person draws it in one stroke.

    Args:
        p: The pen (its random numbers).
        cx, cy, rx, ry: Centre and radii of the ellipse the outline follows.
        corners: Points along it, joined by straight segments (None: 8 to 17, from nearly round to polygonal).
        start: Angle (degrees, 0 right, 90 down) where the stroke begins (None: anywhere).
        lumps: Relative size of the outline's slow bulges.

    Returns:
        (2, n) points, ending between 20 degrees short of the start and 25 degrees past it.
    """
    n = corners if corners is not None else int(p.u(8, 18))
    begin = p.u(0, 360) if start is None else start
    t = np.radians(begin + np.linspace(0.0, 360.0 + p.u(-20, 25), n + 1))
    radius = 1.0 + lumps * (np.sin(2 * t + p.u(0, 2 * np.pi)) + 0.7 * np.sin(3 * t + p.u(0, 2 * np.pi)))
    return np.stack([cx + rx * radius * np.cos(t), cy + ry * radius * np.sin(t)])


def _dots(p: _Pen, centres: Sequence[tuple[float, float]], r: float) -> list[Points]:
    """Small round marks (eyes, buttons, spots): tiny loops of a few corners."""
    return [hand_loop(p, x + p.d(0.5), y + p.d(0.5), p.j(r, 0.2), p.j(r, 0.2), corners=6, lumps=0.0)
            for x, y in centres]


def _leaf(p: _Pen, base: tuple[float, float], side: float, length: float) -> Points:
    """A pointed leaf from ``base`` toward ``side`` (+1 right, -1 left), up and out, in one closed stroke."""
    x, y = base
    angle = math.radians(p.u(20, 45))  # above the horizontal
    dx, dy = side * math.cos(angle), -math.sin(angle)
    t = np.linspace(0.0, 1.0, 6)
    bulge = length * 0.22 * np.sin(np.pi * t)  # two arcs meeting at the base and at the tip: a lens
    along = np.concatenate([t, t[::-1][1:]]) * length
    across = np.concatenate([bulge, -bulge[::-1][1:]])
    return np.stack([x + along * dx - across * dy, y + along * dy + across * dx])


def draw_apple(p: _Pen) -> None:
    cx, cy = 55 + p.d(), 62 + p.d()
    rx, ry = p.j(34), p.j(31)
    # Begun at the dip on top, where the stem goes, as most people start an apple.
    body = hand_loop(p, cx, cy, rx, ry, corners=int(p.u(12, 24)), start=-90 + p.d(3), lumps=0.04)
    depth = p.j(7, 0.3)
    body[1] += np.where(body[1] < cy, depth * np.exp(-(((body[0] - cx) / (0.3 * rx)) ** 2)), 0.0)
    if p.chance(0.25):  # two halves, left and right, meeting at the bottom
        low = int(np.argmax(body[1]))
        p.draw("body", body[:, :low + 1], body[:, low:])
    else:
        p.draw("body", body)
    dip = (cx + p.d(1), cy - ry + depth)
    height = p.j(15, 0.25)
    top = (dip[0] + p.u(-2, 7), dip[1] - height)
    p.draw("stem", polyline(dip, (dip[0] + p.d(1), dip[1] - height * 0.5), top))
    if p.chance(0.45):
        p.draw("leaf", _leaf(p, (dip[0] + (top[0] - dip[0]) * 0.6, dip[1] - height * 0.6), 1.0, p.j(14, 0.2)))


def draw_sun(p: _Pen) -> None:
    cx, cy = 55 + p.d(), 55 + p.d()
    r = p.j(22)
    p.draw("disc", hand_loop(p, cx, cy, r, r * p.u(0.85, 1.1)))
    if p.chance(0.15):  # a smiling sun, now and then
        _eyes(p, cx, cy - r * 0.25, r * 0.7, r * 0.08)
        p.draw("mouth", ellipse(cx, cy + r * 0.15, r * 0.45, r * 0.3, start=20, extent=140, closed=False))
    count = int(p.u(6, 15))
    offset = p.u(0, 360)
    inner, length = r * p.u(1.1, 1.4), r * p.u(0.35, 0.9)
    rays = []
    for k in range(count):
        a = offset + 360 * k / count + p.d(3)
        rays.append(polyline(on_circle(cx, cy, inner + p.d(1), a), on_circle(cx, cy, inner + p.j(length, 0.25), a + p.d(2))))
    p.draw("ray", *rays)


def draw_umbrella(p: _Pen) -> None:
    cx, edge = 55 + p.d(), 45 + p.d()
    w, h = p.j(45), p.j(28, 0.2)
    if p.chance(0.25):  # a peaked canopy rather than a dome
        dome = polyline((cx - w, edge), (cx + p.d(2), edge - h), (cx + w, edge))
    else:
        dome = ellipse(cx, edge, w, h, start=180, extent=180, closed=False)
    canopy = [dome]
    style = p.u(0, 1)
    if style < 0.45:  # a scalloped edge: arcs curving up between the ribs' ends
        count = int(p.u(3, 6))
        half = w / count
        canopy.append(np.concatenate([ellipse(cx - w + half * (2 * k + 1), edge, half, half * p.u(0.3, 0.6), start=180,
                                              extent=180, closed=False)[:, int(k > 0):] for k in range(count)], axis=1))
    elif style < 0.8:
        canopy.append(polyline((cx + w, edge), (cx - w, edge + p.d(1))))
    p.draw("canopy", *canopy)
    if p.chance(0.3):
        p.draw("rib", *[polyline((cx, edge - h), (cx + f * w * p.u(0.3, 0.6), edge)) for f in (-1, 1)])
    length = p.j(48, 0.15)
    hook = p.j(7, 0.25)
    start_y = edge - h if p.chance(0.3) else edge
    shaft = polyline((cx, start_y), (cx + p.d(1), edge + length))
    curl = ellipse(cx - hook, edge + length, hook, hook * p.u(0.6, 1.0), start=0, extent=p.u(140, 200), closed=False)
    p.draw("handle", np.concatenate([shaft, curl[:, 1:]], axis=1))


def draw_cup(p: _Pen) -> None:
    x0, x1 = 30 + p.d(), 80 + p.d()
    top = 25 + p.d()
    bottom = top + p.j(60, 0.15)
    taper = p.u(0, 9)
    if p.chance(0.4):  # a rounded bottom
        arc = ellipse((x0 + x1) / 2, bottom - 12, (x1 - x0) / 2 - taper, 12, start=180, extent=-180, closed=False)
        body = np.concatenate([polyline((x0, top)), arc, polyline((x1, top))], axis=1)
    else:
        body = polyline((x0, top), (x0 + taper, bottom), (x1 - taper, bottom + p.d(1)), (x1, top))
    p.draw("body", body)
    rim = p.u(0, 1)
    if rim < 0.45:
        p.draw("rim", hand_loop(p, (x0 + x1) / 2, top, (x1 - x0) / 2, p.j(4, 0.3), corners=int(p.u(8, 14)), start=180))
    elif rim < 0.85:
        p.draw("rim", polyline((x0, top), (x1, top + p.d(1))))
    if p.chance(0.6):
        hr = p.j(14, 0.2)
        mid = (top + bottom) / 2 + p.d(2)
        p.draw("handle", ellipse(x1 - taper / 2 - 1, mid, hr, hr * p.u(1.0, 1.4), start=-90, extent=180, closed=False))
    if p.chance(0.2):
        ly = top + p.j(9)
        xs = np.linspace(x0 + 2, x1 - 2, 9)
        p.draw("liquid", np.stack([xs, ly + 2 * np.sin(np.linspace(0, 4 * np.pi, 9) + p.u(0, 6))]))


def draw_mushroom(p: _Pen) -> None:
    cx, edge = 55 + p.d(), 45 + p.d()
    w, h = p.j(42), p.j(30, 0.15)
    dome = ellipse(cx, edge, w, h, start=180, extent=180, closed=False)
    under = ellipse(cx, edge, w, h * p.u(0.05, 0.25), start=0, extent=180, closed=False)
    if p.chance(0.5):  # the cap in one stroke, dome and underside
        p.draw("cap", np.concatenate([dome, under[:, 1:]], axis=1))
    elif p.chance(0.6):
        p.draw("cap", dome, under)
    else:
        p.draw("cap", dome)
    sw, length = p.j(9, 0.25), p.j(38, 0.2)
    flare = p.u(0.9, 1.3)
    left, right = (cx - sw, edge + 2), (cx + sw, edge + 2)
    foot_l, foot_r = (cx - sw * flare + p.d(1), edge + length), (cx + sw * flare + p.d(1), edge + length)
    if p.chance(0.7):
        p.draw("stem", polyline(left, foot_l, foot_r, right))
    else:
        p.draw("stem", polyline(left, foot_l), polyline(right, foot_r))
    if p.chance(0.2):
        spots = []
        for _ in range(int(p.u(3, 6))):  # inside the dome: below its top at that x
            dx = p.u(-0.65, 0.65)
            spots.append((cx + w * dx, edge - h * math.sqrt(1 - dx * dx) * p.u(0.25, 0.7)))
        p.draw("spot", *_dots(p, spots, 4.5))


def draw_snowman(p: _Pen) -> None:
    cx = 55 + p.d()
    radii = [p.j(13), p.j(19), p.j(26)] if p.chance(0.6) else [p.j(16), p.j(26)]
    centres, y = [], 8.0
    for r in radii:  # stacked top down, each ball resting a little inside the one below
        y += r
        centres.append((cx + p.d(1.5), y))
        y += r * p.u(0.75, 0.95)
    (hx, hy), hr = centres[0], radii[0]
    p.draw("head", hand_loop(p, hx, hy, hr, hr * p.u(0.9, 1.1)))
    p.draw("body", *[hand_loop(p, x, yy, r, r * p.u(0.8, 1.0)) for (x, yy), r in zip(centres[1:], radii[1:])])
    if p.chance(0.55):
        p.draw("eye", *_dots(p, [(hx - hr * 0.35, hy - hr * 0.25), (hx + hr * 0.35, hy - hr * 0.25)], 1.3))
    if p.chance(0.45):
        p.draw("nose", polyline((hx, hy), (hx + p.j(10, 0.2), hy + 1.5), (hx, hy + 3)))
    if p.chance(0.5):
        (mx, my), mr = centres[1], radii[1]
        arms = []
        for side in (-1, 1):
            root = (mx + side * mr * 0.9, my - mr * 0.2)
            end = (root[0] + side * p.j(18, 0.2), root[1] - p.u(4, 14))
            arms.append(polyline(root, end))
            if p.chance(0.4):  # twig fingers, as on the tree's branches
                arms.append(polyline((end[0] - side * 3, end[1]), (end[0] + side * 2, end[1] - 6)))
        p.draw("arm", *arms)
    if p.chance(0.3):
        (mx, my), mr = centres[1], radii[1]
        p.draw("button", *_dots(p, [(mx, my - mr * 0.4), (mx, my), (mx, my + mr * 0.4)], 1.3))
    if p.chance(0.2):
        hw = hr * p.u(0.6, 0.8)
        crown = hy - hr - p.j(14)
        p.draw("hat", polyline((hx - hw, hy - hr + 2), (hx - hw, crown), (hx + hw, crown), (hx + hw, hy - hr + 2)),
               polyline((hx - hw * 1.6, hy - hr + 2), (hx + hw * 1.6, hy - hr + 2)))


def draw_candle(p: _Pen) -> None:
    cx, top = 55 + p.d(), 40 + p.d()
    w, bottom = p.j(11, 0.2), top + p.j(62, 0.15)
    sides = p.u(0, 1)
    if sides < 0.3:  # two lines, no bottom
        p.draw("body", polyline((cx - w, top), (cx - w + p.d(1), bottom)), polyline((cx + w, top), (cx + w + p.d(1), bottom)))
    elif sides < 0.75:
        p.draw("body", polyline((cx - w, top), (cx - w, bottom), (cx + w, bottom + p.d(1)), (cx + w, top)))
    else:
        p.draw("body", polyline((cx - w, top), (cx - w, bottom), (cx + w, bottom), (cx + w, top), (cx - w, top)))
    wick = p.j(6, 0.3) if p.chance(0.6) else 0.0
    if wick:
        p.draw("wick", polyline((cx, top), (cx + p.d(0.5), top - wick)))
    fw, fh = p.j(6, 0.2), p.j(16, 0.2)
    base = top - wick - 1 - fw * 0.6
    bulb = ellipse(cx, base, fw, fw * 0.6, start=0, extent=180, closed=False)
    tip = (cx + p.d(2), base - fh)
    p.draw("flame", np.concatenate([polyline(tip), bulb, polyline(tip)], axis=1))
    if p.chance(0.25):
        p.draw("holder", polyline((cx - w * 2.2, bottom), (cx + w * 2.2, bottom + p.d(1)), (cx + w * 1.8, bottom + 5),
                                  (cx - w * 1.8, bottom + 5), (cx - w * 2.2, bottom)))


def draw_cactus(p: _Pen) -> None:
    cx, top, bottom = 55 + p.d(), 12 + p.d(), 105 + p.d()
    w = p.j(12, 0.2)
    dome = ellipse(cx, top + w, w, w * p.u(0.8, 1.2), start=180, extent=180, closed=False)
    p.draw("trunk", np.concatenate([polyline((cx - w + p.d(1), bottom)), dome, polyline((cx + w + p.d(1), bottom))], axis=1))
    arms = []
    for side in ((-1, 1) if p.chance(0.7) else (1 if p.chance(0.5) else -1,)):
        y = top + p.u(30, 55)
        out, up, aw = p.j(14, 0.25), p.j(22, 0.25), p.j(6, 0.2)
        x_root, x_out = cx + side * w, cx + side * (w + out)
        arms.append(polyline((x_root, y + aw), (x_out + side * aw, y + aw), (x_out + side * aw, y - up),
                             (x_out, y - up - aw * 0.8), (x_out - side * aw, y - up), (x_out - side * aw, y - aw),
                             (x_root, y - aw)))
    p.draw("arm", *arms)
    if p.chance(0.35):
        spines = []
        for _ in range(int(p.u(3, 8))):
            side = 1 if p.chance(0.5) else -1
            y = p.u(top + w, bottom - 5)
            spines.append(polyline((cx + side * w, y), (cx + side * (w + p.j(5)), y - p.u(0, 3))))
        p.draw("spine", *spines)
    if p.chance(0.15):
        pw = w * p.u(1.8, 2.4)
        p.draw("pot", polyline((cx - pw, bottom), (cx - pw * 0.8, bottom + p.j(18)), (cx + pw * 0.8, bottom + 18),
                               (cx + pw, bottom), (cx - pw, bottom)))


def draw_clock(p: _Pen) -> None:
    cx, cy = 55 + p.d(), 55 + p.d()
    r = p.j(40)
    p.draw("rim", hand_loop(p, cx, cy, r, r * p.u(0.88, 1.05), corners=int(p.u(10, 20))))
    centre = (cx + p.d(2), cy + p.d(2))
    hour, minute = p.u(0, 360), p.u(0, 360)
    short, long = on_circle(*centre, r * p.u(0.35, 0.55), hour), on_circle(*centre, r * p.u(0.6, 0.85), minute)
    if p.chance(0.6):  # both hands in one stroke, the usual "L"
        p.draw("hand", polyline(long, centre, short))
    else:
        p.draw("hand", polyline(centre, short), polyline(centre, long))
    if p.chance(0.3):
        count = 12 if p.chance(0.4) else 4
        p.draw("tick", *[polyline(on_circle(cx, cy, r * 0.78, a), on_circle(cx, cy, r * 0.92, a))
                         for a in np.arange(count) * 360 / count - 90])


@dataclass(frozen=True)
class SketchClass:
    """A class of the generator: its template and the parts a drawing of it always keeps."""

    draw: Callable[[_Pen], None]
    essential: frozenset[str]
    mirror: bool = True  # side views may face either way; a face may not
    # People draw short strokes straight: the wobble grows with a stroke's length up to STEADY_LENGTH. The opt-in
    # classes' templates are drawn that way; the generator's ``steady`` draws every class so.
    steady: bool = False


CLASSES: dict[str, SketchClass] = {
    "cat": SketchClass(draw_cat, frozenset({"head", "ear", "body"})),
    "dog": SketchClass(draw_dog, frozenset({"head", "ear", "body"})),
    "bird": SketchClass(draw_bird, frozenset({"beak", "body"})),
    "fish": SketchClass(draw_fish, frozenset({"body", "tail"})),
    "car": SketchClass(draw_car, frozenset({"chassis", "wheel"})),
    "bicycle": SketchClass(draw_bicycle, frozenset({"wheel", "frame"})),
    "house": SketchClass(draw_house, frozenset({"wall", "roof"})),
    "tree": SketchClass(draw_tree, frozenset({"trunk", "crown"})),
    "flower": SketchClass(draw_flower, frozenset({"center", "petal"})),
    "face": SketchClass(draw_face, frozenset({"head", "eye", "mouth"}), mirror=False),
    # Opt-in (data.source.classes): classes that Quick, Draw! has real drawings of, to measure generated-to-real.
    "apple": SketchClass(draw_apple, frozenset({"body"}), steady=True),
    "sun": SketchClass(draw_sun, frozenset({"disc", "ray"}), steady=True),
    "umbrella": SketchClass(draw_umbrella, frozenset({"canopy", "handle"}), steady=True),
    "cup": SketchClass(draw_cup, frozenset({"body"}), steady=True),
    "mushroom": SketchClass(draw_mushroom, frozenset({"cap", "stem"}), steady=True),
    "snowman": SketchClass(draw_snowman, frozenset({"head", "body"}), steady=True),
    "candle": SketchClass(draw_candle, frozenset({"body", "flame"}), steady=True),
    "cactus": SketchClass(draw_cactus, frozenset({"trunk"}), steady=True),
    "clock": SketchClass(draw_clock, frozenset({"rim", "hand"}), steady=True),
}
#: What ``classes: null`` draws: the embedded default dataset (the classes above the opt-in ones).
DEFAULT_CLASSES: tuple[str, ...] = ("cat", "dog", "bird", "fish", "car", "bicycle", "house", "tree", "flower", "face")


# --- stroke post-processing ------------------------------------------------------------------------


#: Seeds :meth:`SketchGenerator.part_names` draws each template with: enough that a part drawn one time in ten
#: is found (missed with probability 0.9 ** 64, about 1 in 1000).
_PART_SEEDS = 64
#: Template units: in a steady class (or with ``steady``), strokes this long or longer wobble fully.
STEADY_LENGTH = 40.0
_HARMONICS = np.array([[1.0], [2.0], [3.0]])  # wobble frequencies along a stroke, shape (3, 1)


def resample(pts: Points, spacing: float) -> Points:
    """Points spaced evenly along the polyline, so that wobble bends long straight segments too."""
    seg = np.hypot(*np.diff(pts, axis=1))
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    if arc[-1] == 0:
        return pts[:, :1]
    n = max(2, int(math.ceil(arc[-1] / spacing)) + 1)
    # Keep the corners (arc) too: they make triangles look like triangles rather than blobs.
    t = np.sort(np.concatenate([np.arange(n) * (arc[-1] / (n - 1)), arc[1:-1]]))
    return np.stack([np.interp(t, arc, pts[0]), np.interp(t, arc, pts[1])])


def wobble(pts: Points, rng: np.random.Generator, amplitude: float) -> Points:
    """A smooth hand tremor: a few low-frequency sines along the stroke, plus a little point noise."""
    n = pts.shape[1]
    if amplitude <= 0 or n < 2:
        return pts
    t = np.arange(n) / (n - 1)
    phase = rng.uniform(0, 2 * np.pi, size=(2, 3, 1))
    weight = rng.standard_normal((2, 3, 1)) * (amplitude / _HARMONICS)
    noise = (weight * np.sin(2 * np.pi * _HARMONICS * t + phase)).sum(axis=1)
    return pts + noise + 0.15 * amplitude * rng.standard_normal(pts.shape)


def _is_closed(pts: Points) -> bool:
    """Whether a stroke ends where it began (a full outline)."""
    return pts.shape[1] > 3 and bool(np.allclose(pts[:, 0], pts[:, -1]))


def open_loop(pts: Points, rng: np.random.Generator, gap: float) -> Points:
    """A closed outline as a hand draws it: begun anywhere, ended short of or past its start.

    Args:
        pts: (2, n) evenly spaced points of a closed stroke (the last equals the first).
        rng: Random numbers.
        gap: The largest share of the outline left open (ended short) or drawn twice (ended past the start).

    Returns:
        The outline from a random start, with up to ``gap`` of its length cut off the end or added to it.
    """
    ring = pts[:, :-1]
    n = ring.shape[1]
    ring = np.roll(ring, -int(rng.integers(0, n)), axis=1)
    extra = int(round(rng.uniform(-gap, gap) * n))
    if extra >= 0:
        return np.concatenate([ring, ring[:, : extra + 1]], axis=1)
    return ring[:, : max(2, n + 1 + extra)]


def smooth_warp(xy: Points, rng: np.random.Generator, amount: float) -> Points:
    """Bend a whole drawing by a smooth random field: lumpy outlines and uneven proportions, as people draw.

    Two plane waves of random direction, about one cycle across the drawing, displace every point along x and y.

    Args:
        xy: (2, n) points of the whole drawing, from 0 on each axis.
        rng: Random numbers.
        amount: Largest displacement of a wave, as a share of the drawing's longer side.

    Returns:
        The displaced points.
    """
    extent = max(float(xy.max()), 1e-6)
    unit = xy / extent
    angles = rng.uniform(0.0, 2 * np.pi, size=(2, 2))
    cycles = rng.uniform(0.5, 1.25, size=(2, 2, 1))
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=-1)  # (axis, wave, 2)
    phase = (directions @ unit) * cycles * 2 * np.pi + rng.uniform(0, 2 * np.pi, size=(2, 2, 1))
    weights = rng.uniform(-amount, amount, size=(2, 2, 1))
    return xy + extent * (weights * np.sin(phase)).sum(axis=1)


def _order_parts(parts: list[str], rng: np.random.Generator, shuffle_prob: float) -> list[str]:
    """Drawing order of parts: the template's usual order, fully shuffled sometimes, else a neighbour swap."""
    order = list(parts)
    if rng.random() < shuffle_prob:
        rng.shuffle(order)
    elif len(order) > 1 and rng.random() < 0.5:
        i = int(rng.integers(0, len(order) - 1))
        order[i], order[i + 1] = order[i + 1], order[i]
    return order


# --- attributes: what a drawing is like as a whole ------------------------------------------------

#: The attributes every generated drawing records (``Sketch.attributes``), with the values they take:
#:
#: - ``facing``: ``left`` (mirrored) or ``right`` (as the template faces); only classes that may face either way.
#: - ``rotation``: ``left-tilt``, ``upright`` or ``right-tilt``: which way the drawing's top leans, by thirds of
#:   ``data.source.rotation``.
#: - ``proportions``: ``tall``, ``even`` or ``wide``: the stretch along x over the stretch along y, by about thirds
#:   of what ``data.source.aspect`` allows. The drawing's size does not vary: every drawing is scaled so that its
#:   longer side spans the canvas, as Quick, Draw! stored them; what a stretch changes is its proportions.
#: - ``wobble``: ``low``, ``medium`` or ``high``: how far the strokes' wobble moved their points (root mean square
#:   over the drawing's points, by thirds of the default generator's drawings), ``none`` without wobble.
#: - ``order``: ``template`` (the parts in the order a person usually draws them), ``swapped`` (two neighbours
#:   swapped) or ``shuffled``.
#: - ``reversed``: ``none`` or ``some``: whether any stroke is drawn backwards.
#: - ``omitted``: ``none`` or the optional parts left out, sorted and joined by ``+`` (``leg+tail``).
ATTRIBUTES: tuple[str, ...] = ("facing", "rotation", "proportions", "wobble", "order", "reversed", "omitted")
#: The ``proportions`` bins: a stretch ratio beyond 1 +- this share of ``aspect`` is wide or tall. The ratio of two
#: stretches drawn from 1 +- aspect is about 1 plus a triangular difference, whose thirds lie at +-0.37 aspect.
_PROPORTION_THIRD = 0.37
#: The ``wobble`` bins: the wobble's root mean square displacement over its amplitude (template units), at the
#: thirds of the default generator's drawings.
_WOBBLE_THIRDS = (0.74, 0.82)


@dataclass
class _Pose:
    """What :meth:`SketchGenerator._pose` drew: mirrored (None: the class is never mirrored), the rotation in
    degrees (positive turns the drawing clockwise on the canvas: its top leans right) and the x over y stretch."""

    mirrored: bool | None
    degrees: float
    stretch: float


@dataclass
class _Choices:
    """The random choices of one drawing that its attributes record."""

    tremor: list[float] = field(default_factory=list)
    reversed: int = 0
    omitted: list[str] = field(default_factory=list)
    order: str = "template"
    pose: _Pose | None = None


def _order_kind(kept: list[str], order: list[str]) -> str:
    """How the drawing order of the parts differs from the template's: template, swapped or shuffled."""
    moved = [i for i, (a, b) in enumerate(zip(kept, order, strict=True)) if a != b]
    if not moved:
        return "template"
    if len(moved) == 2 and moved[1] == moved[0] + 1:
        return "swapped"
    return "shuffled"


def _third(value: float, low: float, high: float, names: tuple[str, str, str]) -> str:
    """``names[0]`` below ``low``, ``names[2]`` above ``high``, else ``names[1]``."""
    return names[0] if value < low else names[2] if value > high else names[1]


def _attributes_of(choices: _Choices, generator: SketchGenerator) -> dict[str, str]:
    """A drawing's attributes (:data:`ATTRIBUTES`) from the choices that made it.

    Args:
        choices: What was drawn for it.
        generator: The generator's settings (the ranges the choices were drawn from).

    Returns:
        Attribute name -> value; ``facing`` only for classes that may be mirrored.
    """
    pose = choices.pose
    assert pose is not None, "the pose is drawn before the attributes are recorded"
    attributes = {} if pose.mirrored is None else {"facing": "left" if pose.mirrored else "right"}
    tilt = generator.rotation / 3
    attributes["rotation"] = _third(pose.degrees, -tilt, tilt, ("left-tilt", "upright", "right-tilt"))
    stretch = 1.0 + _PROPORTION_THIRD * generator.aspect
    attributes["proportions"] = _third(pose.stretch, 1 / stretch, stretch, ("tall", "even", "wide"))
    if generator.wobble > 0:
        tremor = float(np.mean(choices.tremor)) / generator.wobble
        attributes["wobble"] = _third(tremor, *_WOBBLE_THIRDS, ("low", "medium", "high"))
    else:
        attributes["wobble"] = "none"
    attributes["order"] = choices.order
    attributes["reversed"] = "some" if choices.reversed else "none"
    attributes["omitted"] = "+".join(sorted(choices.omitted)) or "none"
    return attributes


@dataclass
class SketchGenerator:
    """Generates part-annotated sketches, deterministically for a seed.

    Sketch ``i`` depends only on ``(seed, i)``, so asking for more sketches keeps the first ones as they were.
    Classes are balanced (sketch ``i`` is of class ``i mod len(classes)``).

    Args:
        num_sketches: How many drawings :meth:`load` returns.
        classes: Which classes to draw (None: the ten default classes, cat dog bird fish car bicycle house tree
            flower face; apple sun umbrella cup mushroom snowman candle cactus clock are opt-in).
        seed: Random seed.
        omit_prob: Probability that each optional part is left out of a drawing.
        jitter: Scale of per-part position and size jitter (0 draws the template as it is).
        wobble: Amplitude of the stroke wobble, in template units (0 draws clean strokes).
        rotation: Largest rotation of a whole drawing, in degrees.
        aspect: Largest relative stretch of a whole drawing along x or y.
        shuffle_prob: Probability of a fully shuffled part order.
        reverse_prob: Probability that a stroke is drawn backwards.
        spacing: Distance between points along a stroke, in template units.
        steady: Every class draws short strokes straighter: the wobble grows with a stroke's length up to
            :data:`STEADY_LENGTH` (False: only the classes whose templates are drawn so, the opt-in ones).
        loop_gap: A closed outline begins anywhere and ends up to this share of its length short of or past its
            start (0 closes it exactly where the template begins it).
        warp: A smooth random bend of the whole drawing, its largest displacement as a share of the drawing's
            size (lumpy outlines, uneven proportions; 0 keeps the template's geometry).
        simplify: Ramer-Douglas-Peucker tolerance on the 0..255 canvas, as Quick, Draw!'s simplified files were
            made (0 keeps every point).
        progress: Show a progress bar.
    """

    CONF: ClassVar[Conf] = Conf("data.source")

    num_sketches: int
    classes: Sequence[str] | None
    seed: int
    omit_prob: float
    jitter: float
    wobble: float
    rotation: float
    aspect: float
    shuffle_prob: float
    reverse_prob: float
    spacing: float
    steady: bool
    loop_gap: float
    warp: float
    simplify: float
    progress: bool
    _classes: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        chosen = DEFAULT_CLASSES if self.classes is None else tuple(self.classes)
        unknown = [c for c in chosen if c not in CLASSES]
        if unknown:
            raise ConfigError(f"data.source.classes: unknown class {unknown[0]!r}; the generator draws {', '.join(CLASSES)}")
        if len(set(chosen)) != len(chosen) or not chosen:
            raise ConfigError("data.source.classes: give a non-empty list of distinct class names")
        self._classes = chosen
        checks = {
            "num_sketches": self.num_sketches >= 1,
            "omit_prob": 0.0 <= self.omit_prob < 1.0,
            "jitter": self.jitter >= 0.0,
            "wobble": self.wobble >= 0.0,
            "rotation": 0.0 <= self.rotation <= 180.0,
            "aspect": 0.0 <= self.aspect < 1.0,
            "shuffle_prob": 0.0 <= self.shuffle_prob <= 1.0,
            "reverse_prob": 0.0 <= self.reverse_prob <= 1.0,
            "spacing": self.spacing > 0.0,
            "loop_gap": 0.0 <= self.loop_gap < 1.0,
            "warp": 0.0 <= self.warp <= 0.5,
            "simplify": 0.0 <= self.simplify <= 20.0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"data.source.{name}={getattr(self, name)!r} is out of range; see conf/data/generated.yaml")

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._classes

    def part_names(self) -> list[str]:
        """Every part name the chosen classes can draw, sorted."""
        parts: set[str] = set()
        for i in range(len(self._classes)):
            parts.update(self.sketch(i).parts or ())
        # Optional parts may be missing from one drawing, and some templates draw a part only now and then: ask
        # each template with a few seeds.
        for name in self._classes:
            for seed in range(_PART_SEEDS):
                pen = _Pen(np.random.default_rng(seed), 0.0)
                CLASSES[name].draw(pen)
                parts.update(part for part, _ in pen.strokes)
        return sorted(parts)

    def sketch(self, index: int) -> Sketch:
        """The drawing number ``index``, with the attributes its random choices gave it (:func:`_attributes_of`)."""
        rng = np.random.default_rng([self.seed, index])
        word = self._classes[index % len(self._classes)]
        spec = CLASSES[word]
        pen = _Pen(rng, self.jitter)
        spec.draw(pen)

        parts_in_order = list(dict.fromkeys(part for part, _ in pen.strokes))
        kept = [part for part in parts_in_order if part in spec.essential or rng.random() >= self.omit_prob]
        order = _order_parts(kept, rng, self.shuffle_prob)
        strokes, record = self._strokes(pen, order, rng, spec)
        record.omitted = [part for part in parts_in_order if part not in kept]
        record.order = _order_kind(kept, order)

        xy, record.pose = self._pose(np.concatenate([pts for _, pts in strokes], axis=1), rng, spec.mirror)
        sizes = np.cumsum([pts.shape[1] for _, pts in strokes])[:-1]
        arrays = tuple(self._simplify(a) for a in np.split(xy, sizes, axis=1))
        return Sketch(
            key_id=f"gen{self.seed}-{index:07d}",
            word=word,
            strokes=arrays,
            parts=tuple(part for part, _ in strokes),
            attributes=_attributes_of(record, self),
        )

    def _strokes(self, pen: _Pen, order: list[str], rng: np.random.Generator,
                 spec: SketchClass) -> tuple[list[tuple[str, Points]], _Choices]:
        """The template's strokes of the kept parts in drawing order, resampled, wobbled and some reversed.

        Returns:
            The (part, points) strokes in template units, and what was chosen for them (the wobble drawn, the
            strokes reversed); recording it draws no random number, so the drawings are as they always were.
        """
        record = _Choices()
        strokes: list[tuple[str, Points]] = []
        for part in order:
            for name, pts in pen.strokes:
                if name != part:
                    continue
                amplitude = self.wobble
                if self.steady or spec.steady:
                    amplitude *= min(1.0, float(np.hypot(*np.diff(pts, axis=1)).sum()) / STEADY_LENGTH)
                pts = resample(pts, self.spacing)
                if self.loop_gap > 0 and _is_closed(pts):
                    pts = open_loop(pts, rng, self.loop_gap)
                drawn = wobble(pts, rng, amplitude)
                record.tremor.append(float(np.sqrt(np.mean((drawn - pts) ** 2))))
                pts = drawn
                if rng.random() < self.reverse_prob:
                    pts = pts[:, ::-1]
                    record.reversed += 1
                strokes.append((part, pts))
        return strokes, record

    def _pose(self, xy: Points, rng: np.random.Generator, mirror: bool) -> tuple[Points, _Pose]:
        """Mirror, rotate and stretch a whole drawing, then fit it to 0..255 as Quick, Draw! does.

        Returns:
            The points on the canvas, and the pose drawn.
        """
        mirrored = None
        if mirror:
            mirrored = bool(rng.random() < 0.5)
            if mirrored:
                xy = xy * np.array([[-1.0], [1.0]])
        degrees = rng.uniform(-self.rotation, self.rotation)
        angle = math.radians(degrees)
        c, s = math.cos(angle), math.sin(angle)
        stretch = 1.0 + rng.uniform(-self.aspect, self.aspect, size=(2, 1))
        xy = (np.array([[c, -s], [s, c]]) @ xy) * stretch
        xy = xy - xy.min(axis=1, keepdims=True)
        if self.warp > 0:
            xy = smooth_warp(xy, rng, self.warp)
            xy = xy - xy.min(axis=1, keepdims=True)
        xy = xy * (CANVAS_MAX / max(float(xy.max()), 1e-6))
        return np.rint(xy), _Pose(mirrored, float(degrees), float(stretch[0, 0] / stretch[1, 0]))

    def _simplify(self, stroke: Points) -> np.ndarray:
        """One stroke as Quick, Draw!'s simplified files keep it: Ramer-Douglas-Peucker at ``simplify`` canvas units."""
        if self.simplify > 0 and stroke.shape[1] > 2:
            stroke = simplify_coords(np.ascontiguousarray(stroke.T), self.simplify).T
        return np.ascontiguousarray(stroke, dtype=np.float32)

    def __iter__(self) -> Iterator[Sketch]:
        indices = range(self.num_sketches)
        bar = tqdm(indices, desc="generating sketches", unit="sketch", disable=not self.progress, mininterval=1.0)
        for i in bar:
            yield self.sketch(i)

    def load(self) -> ReadResult:
        """All ``num_sketches`` drawings, as the file readers return theirs (none is ever skipped)."""
        return ReadResult(sketches=list(self))
