"""Synthetic chest radiographs (frontal PA and lateral) whose anatomy shows the findings.

Drawn with numpy on a [0, 1] intensity grid where bright = dense (bone, heart, fluid) and dark
= air, as on a radiograph: a soft-tissue body, two lung fields with vessel markings, the heart
and mediastinum, diaphragm domes, ribs and spine. Each finding has a sign a small CNN can see at
64 px: a wider heart (Cardiomegaly), a wider upper mediastinum, soft focal or dense lobar
opacities, a round nodule, bilateral perihilar haze (Edema), fluid filling a costophrenic angle
with a meniscus, a linear band (Atelectasis), a lung edge without markings and a pleural line
(Pneumothorax), a thick lateral pleural stripe, a broken rib, and very bright lines and a
generator box (devices). Anatomy, exposure and noise vary per study.
"""

from __future__ import annotations

import numpy as np

from mtlbench.data.synthetic.findings import Finding

Grid = tuple[np.ndarray, np.ndarray]


def _grid(size: int) -> Grid:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    return y, x


def _ellipse(g: Grid, cy: float, cx: float, ry: float, rx: float, soft: float = 0.02) -> np.ndarray:
    y, x = g
    d = np.sqrt(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2)
    return np.clip((1.0 - d) / max(soft / min(ry, rx), 1e-3), 0.0, 1.0)


def _blob(g: Grid, cy: float, cx: float, r: float) -> np.ndarray:
    y, x = g
    return np.exp(-(((y - cy) ** 2 + (x - cx) ** 2) / (2 * r**2)))


def _line(g: Grid, y0: float, x0: float, y1: float, x1: float, width: float) -> np.ndarray:
    y, x = g
    dy, dx = y1 - y0, x1 - x0
    t = np.clip(((y - y0) * dy + (x - x0) * dx) / (dy * dy + dx * dx + 1e-9), 0, 1)
    d = np.sqrt((y - (y0 + t * dy)) ** 2 + (x - (x0 + t * dx)) ** 2)
    return np.clip(1.0 - d / width, 0.0, 1.0)


def frontal(findings: tuple[Finding, ...], rng: np.random.Generator, size: int) -> np.ndarray:
    """The PA view as uint8 [size, size]. The patient's right is on the image's left."""
    g = _grid(size)
    y, x = g
    by = {f.name: f for f in findings}
    shift_x, shift_y = rng.uniform(-0.03, 0.03, size=2)
    cx = 0.5 + shift_x
    width = rng.uniform(0.36, 0.42)
    image = 0.08 + 0.35 * _ellipse(g, 0.55 + shift_y, cx, 0.55, width + 0.08, soft=0.1)
    lung_top, lung_bottom = 0.18 + shift_y, 0.78 + shift_y
    lungs = {}
    for side, sign in (("right", -1), ("left", 1)):
        lcx = cx + sign * width * 0.5
        lung = _ellipse(g, (lung_top + lung_bottom) / 2, lcx, (lung_bottom - lung_top) / 2, width * 0.36, soft=0.04)
        lungs[side] = lung
        image -= 0.28 * lung
    lung_mask = np.maximum(lungs["right"], lungs["left"])
    # vessel markings: fine texture fading towards the periphery
    texture = rng.normal(0, 1, size=(size // 4, size // 4)).repeat(4, 0).repeat(4, 1)
    hilum = _blob(g, 0.45 + shift_y, cx, 0.22)
    image += 0.05 * lung_mask * hilum * (0.5 + 0.5 * np.tanh(texture))
    # ribs: bright arcs across each lung
    for k in range(7):
        ry = lung_top + 0.06 + k * 0.085
        for side, sign in (("right", -1), ("left", 1)):
            arc = np.exp(-(((y - ry - 0.10 * (x - cx) ** 2 * 4) / 0.012) ** 2)) * (sign * (x - cx) > 0.04)
            broken = by.get("Fracture")
            if broken and broken.side == side and k == 2 + int(broken.position * 3):
                gap_x = cx + sign * width * 0.55
                arc = arc * (np.abs(x - gap_x) > 0.03 * (0.5 + broken.severity))
            image += 0.07 * arc * lungs[side]
    # spine and mediastinum
    image += 0.25 * _ellipse(g, 0.55 + shift_y, cx, 0.6, 0.05, soft=0.2)
    mediastinum = 0.06 + (
        0.05 * by["Enlarged Cardiomediastinum"].severity + 0.03 if "Enlarged Cardiomediastinum" in by else 0.0
    )
    image += 0.3 * _ellipse(g, 0.32 + shift_y, cx, 0.16, mediastinum, soft=0.3)
    # heart: cardiothoracic ratio about 0.45, 0.55 .. 0.65 when enlarged
    ctr = 0.44 + rng.uniform(-0.03, 0.03)
    if "Cardiomegaly" in by:
        ctr += 0.08 + 0.1 * by["Cardiomegaly"].severity
    heart_rx = ctr * width
    image += 0.3 * _ellipse(g, 0.6 + shift_y, cx + 0.2 * heart_rx, 0.14, heart_rx, soft=0.03)
    # diaphragm domes: dense below the lung bases
    for sign in (-1, 1):
        dome = (y > lung_bottom - 0.08 + 2.5 * (x - (cx + sign * width * 0.5)) ** 2) * (sign * (x - cx) > 0)
        image += 0.15 * dome * (np.abs(x - cx) < width)
    image = _frontal_findings(image, g, by, lungs, cx, width, lung_top, lung_bottom, rng)
    return _expose(image, rng)


def _frontal_findings(
    image: np.ndarray,
    g: Grid,
    by: dict[str, Finding],
    lungs: dict[str, np.ndarray],
    cx: float,
    width: float,
    lung_top: float,
    lung_bottom: float,
    rng: np.random.Generator,
) -> np.ndarray:
    y, x = g
    sign_of = {"right": -1, "left": 1}

    def spot(f: Finding) -> tuple[float, float]:
        return lung_top + f.position * (lung_bottom - lung_top), cx + sign_of[f.side] * width * 0.5

    if "Lung Opacity" in by:
        f = by["Lung Opacity"]
        sy, sx = spot(f)
        image += 0.22 * f.severity * _blob(g, sy, sx + rng.uniform(-0.04, 0.04), 0.07) * lungs[f.side]
    if "Consolidation" in by:
        f = by["Consolidation"]
        sy, sx = spot(f)
        image += 0.32 * f.severity * _ellipse(g, sy, sx, 0.09, 0.08, soft=0.3) * lungs[f.side]
    if "Pneumonia" in by:
        f = by["Pneumonia"]
        sy, sx = spot(f)
        patches = sum(_blob(g, sy + dy, sx + dx, 0.035) for dy, dx in rng.uniform(-0.07, 0.07, size=(4, 2)))
        image += 0.18 * f.severity * patches * lungs[f.side]
    if "Lung Lesion" in by:
        f = by["Lung Lesion"]
        sy, sx = spot(f)
        image += 0.35 * _ellipse(
            g, sy, sx + 0.05 * sign_of[f.side], 0.025 + 0.02 * f.severity, 0.025 + 0.02 * f.severity
        )
    if "Edema" in by:
        f = by["Edema"]
        haze = _blob(g, 0.45, cx - width * 0.35, 0.12) + _blob(g, 0.45, cx + width * 0.35, 0.12)
        image += 0.2 * f.severity * haze * np.maximum(lungs["right"], lungs["left"])
    if "Atelectasis" in by:
        f = by["Atelectasis"]
        s = sign_of[f.side]
        base = lung_bottom - 0.12
        image += 0.25 * _line(g, base, cx + s * width * 0.25, base + 0.03, cx + s * width * 0.75, 0.012) * lungs[f.side]
    if "Pleural Effusion" in by:
        f = by["Pleural Effusion"]
        s = sign_of[f.side]
        level = lung_bottom - 0.08 - 0.2 * f.severity
        # fluid rises along the lateral wall: a meniscus filling the costophrenic angle
        meniscus = y > level + 0.25 * (np.abs(x - (cx + s * width * 0.9))) ** 1.0
        image += 0.35 * meniscus * lungs[f.side]
    if "Pneumothorax" in by:
        f = by["Pneumothorax"]
        s = sign_of[f.side]
        edge = cx + s * width * (0.85 - 0.25 * f.severity)
        outside = (s * (x - edge) > 0) & (y < lung_top + 0.35)
        image = np.where(outside & (lungs[f.side] > 0.2), image.min() + 0.02, image)
        image += 0.3 * _line(g, lung_top, edge, lung_top + 0.35, edge + s * 0.02, 0.006) * lungs[f.side]
    if "Pleural Other" in by:
        f = by["Pleural Other"]
        s = sign_of[f.side]
        wall = cx + s * width * 0.82
        image += 0.3 * _line(g, lung_top + 0.1, wall, lung_bottom - 0.1, wall + s * 0.03, 0.015 + 0.01 * f.severity)
    if "Support Devices" in by:
        f = by["Support Devices"]
        s = sign_of[f.side]
        image += 0.6 * _line(g, 0.08, cx + s * 0.3, 0.45, cx + 0.02, 0.008)
        if f.severity > 0.6:
            image += 0.6 * (_ellipse(g, 0.2, cx + s * 0.33, 0.035, 0.05, soft=0.05) > 0.5)
    return image


def lateral(findings: tuple[Finding, ...], rng: np.random.Generator, size: int) -> np.ndarray:
    """The lateral view: one lung field, heart anterior and low, spine posterior."""
    g = _grid(size)
    y, x = g
    by = {f.name: f for f in findings}
    shift = rng.uniform(-0.03, 0.03)
    image = 0.08 + 0.35 * _ellipse(g, 0.55, 0.5 + shift, 0.55, 0.42, soft=0.1)
    lung = _ellipse(g, 0.5, 0.5 + shift, 0.32, 0.3, soft=0.05)
    image -= 0.28 * lung
    image += 0.3 * _ellipse(g, 0.55, 0.8 + shift, 0.5, 0.06, soft=0.2)  # spine
    heart_r = 0.14 + (0.05 + 0.06 * by["Cardiomegaly"].severity if "Cardiomegaly" in by else 0.0)
    image += 0.3 * _ellipse(g, 0.64, 0.35 + shift, 0.13, heart_r, soft=0.03)
    if "Pleural Effusion" in by:
        f = by["Pleural Effusion"]
        image += 0.35 * ((y > 0.78 - 0.15 * f.severity + 0.5 * (x - 0.75 - shift) ** 2) * lung)
    for name in ("Lung Opacity", "Consolidation", "Pneumonia"):
        if name in by:
            f = by[name]
            image += 0.2 * f.severity * _blob(g, 0.3 + 0.4 * f.position, 0.55 + shift, 0.07) * lung
    if "Edema" in by:
        image += 0.15 * by["Edema"].severity * _blob(g, 0.45, 0.5 + shift, 0.15) * lung
    if "Support Devices" in by:
        image += 0.6 * _line(g, 0.05, 0.45 + shift, 0.45, 0.4 + shift, 0.008)
    return _expose(image, rng)


def _expose(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-study exposure (contrast, brightness, gamma) and quantum noise, as uint8."""
    contrast = rng.uniform(0.85, 1.15)
    brightness = rng.uniform(-0.05, 0.05)
    image = np.clip(image * contrast + brightness, 0, 1)
    image = image ** rng.uniform(0.85, 1.15)
    image = image + rng.normal(0, 0.02, size=image.shape)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
