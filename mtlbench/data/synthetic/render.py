"""Synthetic chest radiographs (frontal PA and lateral) whose anatomy shows the findings.

Drawn with numpy on a [0, 1] intensity grid where bright = dense (bone, heart, fluid, metal)
and dark = air, as on a radiograph: a soft-tissue body, two lung fields with vessel markings and
ribs, the mediastinum and spine, the heart, the diaphragm domes. Every finding has a sign that a
small CNN sees at 64 px, with the size of the real sign: a heart wider than half the chest
(Cardiomegaly, cardiothoracic ratio 0.58-0.72 against 0.40-0.48), a wide upper mediastinum,
soft patches (opacity), a dense lobe (consolidation), scattered patches (pneumonia), a round
nodule, bilateral perihilar haze (edema), a dense basal band with a raised hemidiaphragm
(atelectasis: volume loss), an apical rim of black lung without markings and a pleural line
(pneumothorax), fluid filling a lung base with a meniscus (effusion), a thick lateral pleural
stripe, a broken and offset rib with callus, bright metal (lines, pacemaker, tube), and as
incidental findings calcified granulomas and spinal osteophytes. Anatomy, exposure and noise
vary per study, less than the findings do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtlbench.data.synthetic.findings import Finding

Grid = tuple[np.ndarray, np.ndarray]
METAL = 1.2
"""Added intensity of metal: saturates whatever lies below it."""
ANATOMY_MAX = 0.8
"""Overlapping soft tissue and bone stay below this, so that only metal and dense findings saturate."""


def _grid(size: int) -> Grid:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    return y, x


def _ellipse(g: Grid, cy: float, cx: float, ry: float, rx: float, soft: float = 0.02) -> np.ndarray:
    """1 inside the ellipse, 0 outside, with an edge ``soft`` wide (in image units)."""
    y, x = g
    d = np.sqrt(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2)
    return np.clip((1.0 - d) * min(ry, rx) / max(soft, 1e-3), 0.0, 1.0)


def _blob(g: Grid, cy: float, cx: float, r: float) -> np.ndarray:
    y, x = g
    return np.exp(-(((y - cy) ** 2 + (x - cx) ** 2) / (2 * r**2)))


def _line(g: Grid, y0: float, x0: float, y1: float, x1: float, width: float) -> np.ndarray:
    y, x = g
    dy, dx = y1 - y0, x1 - x0
    t = np.clip(((y - y0) * dy + (x - x0) * dx) / (dy * dy + dx * dx + 1e-9), 0, 1)
    d = np.sqrt((y - (y0 + t * dy)) ** 2 + (x - (x0 + t * dx)) ** 2)
    return np.clip(1.5 - d / width, 0.0, 1.0)


@dataclass(frozen=True)
class _Chest:
    """One patient's frontal anatomy (image coordinates; the patient's right is the image's left)."""

    cx: float
    top: float
    bottom: float
    half_width: float
    """Half the thoracic width: lung edge to lung edge."""

    def lung_x(self, side: str) -> float:
        return self.cx + (-1 if side == "right" else 1) * self.half_width * 0.52

    def outward(self, side: str) -> int:
        return -1 if side == "right" else 1

    def level(self, position: float) -> float:
        return self.top + position * (self.bottom - self.top)


def frontal(
    findings: tuple[Finding, ...], incidental: tuple[str, ...], rng: np.random.Generator, size: int
) -> np.ndarray:
    """The PA view as uint8 [size, size]."""
    g = _grid(size)
    y, x = g
    by = {f.name: f for f in findings}
    chest = _Chest(
        cx=0.5 + rng.uniform(-0.02, 0.02),
        top=0.16 + rng.uniform(-0.02, 0.02),
        bottom=0.76 + rng.uniform(-0.02, 0.02),
        half_width=rng.uniform(0.3, 0.34),
    )
    image = 0.04 + 0.42 * _ellipse(g, 0.56, chest.cx, 0.56, chest.half_width + 0.1, soft=0.06)
    lungs, hemithorax = {}, {}
    for side in ("right", "left"):
        ry, mid = (chest.bottom - chest.top) / 2, (chest.top + chest.bottom) / 2
        lung = _ellipse(g, mid, chest.lung_x(side), ry, chest.half_width * 0.42, soft=0.03)
        lung *= np.clip((y - chest.top + 0.02) / 0.06, 0, 1)  # rounded apex
        lungs[side] = hemithorax[side] = lung
    # the diaphragm: domes below each lung base; atelectasis pulls its side up (volume loss)
    for side in ("right", "left"):
        dome_top = chest.bottom - 0.1 - (0.02 if side == "right" else 0.0)
        if "Atelectasis" in by and by["Atelectasis"].side == side:
            dome_top -= 0.05 + 0.04 * by["Atelectasis"].severity
        below = y > dome_top + 3.0 * (x - chest.lung_x(side)) ** 2
        lungs[side] = lungs[side] * (1 - below)
    lung_mask = np.maximum(lungs["right"], lungs["left"])
    image -= 0.3 * lung_mask
    texture = rng.normal(0, 1, size=(max(size // 8, 2),) * 2).repeat(8, 0).repeat(8, 1)[:size, :size]
    image += 0.04 * lung_mask * _blob(g, 0.45, chest.cx, 0.2) * (0.5 + 0.5 * np.tanh(texture))
    image = _ribs(image, g, chest, lungs, by.get("Fracture"))
    image += 0.12 * _ellipse(g, 0.55, chest.cx, 0.6, 0.035, soft=0.02)  # spine
    mediastinum = 0.065 + rng.uniform(-0.008, 0.008)
    if "Enlarged Cardiomediastinum" in by:
        mediastinum += 0.05 + 0.05 * by["Enlarged Cardiomediastinum"].severity
    image += 0.3 * _ellipse(g, 0.34, chest.cx, 0.22, mediastinum, soft=0.02)
    ctr = rng.uniform(0.38, 0.46)
    if "Cardiomegaly" in by:
        ctr = 0.6 + 0.16 * by["Cardiomegaly"].severity
    heart_rx = ctr * chest.half_width
    heart_cy = chest.bottom - 0.14
    image += 0.36 * _ellipse(g, heart_cy, chest.cx + 0.25 * heart_rx, 0.12 + 0.1 * heart_rx, heart_rx, soft=0.02)
    image = np.minimum(image, ANATOMY_MAX)
    image = _lung_findings(image, g, chest, lungs, by, rng)
    image = _pleural_findings(image, g, chest, lungs, hemithorax, by)
    image = _devices(image, g, chest, by)
    if "granuloma" in incidental:
        for _ in range(1 + int(rng.integers(3))):
            side = ("right", "left")[int(rng.integers(2))]
            cy, cx = chest.level(rng.uniform(0.2, 0.8)), chest.lung_x(side) + rng.uniform(-0.06, 0.06)
            image += 0.45 * _ellipse(g, cy, cx, 0.014, 0.014, soft=0.004) * lungs[side]
    return _expose(image, rng)


def _ribs(
    image: np.ndarray, g: Grid, chest: _Chest, lungs: dict[str, np.ndarray], fracture: Finding | None
) -> np.ndarray:
    """Seven rib arcs over each lung; a fractured rib is broken, offset and has a callus."""
    y, x = g
    for k in range(7):
        ry = chest.top + 0.05 + k * 0.085
        for side in ("right", "left"):
            s = chest.outward(side)
            lateral = s * (x - chest.cx)
            curve = ry + 0.35 * (lateral - 0.15) ** 2
            broken = fracture is not None and fracture.side == side and k == 2 + int(fracture.position * 3)
            if broken:
                gap_x = chest.cx + s * chest.half_width * 0.6
                beyond = s * (x - gap_x) > 0
                curve = curve + beyond * (0.015 + 0.015 * fracture.severity)
                image += 0.45 * _blob(g, ry + 0.35 * (abs(gap_x - chest.cx) - 0.15) ** 2, gap_x, 0.03)
            arc = np.exp(-(((y - curve) / 0.011) ** 2)) * (lateral > 0.05)
            if broken:
                arc = arc * (np.abs(x - gap_x) > 0.02)
            image += 0.08 * arc * np.clip(lungs[side] * 3, 0, 1)
    return image


def _lung_findings(
    image: np.ndarray,
    g: Grid,
    chest: _Chest,
    lungs: dict[str, np.ndarray],
    by: dict[str, Finding],
    rng: np.random.Generator,
) -> np.ndarray:
    y, _ = g

    def spot(f: Finding) -> tuple[float, float]:
        return chest.level(f.position), chest.lung_x(f.side) + rng.uniform(-0.03, 0.03)

    if "Lung Opacity" in by:
        f = by["Lung Opacity"]
        sy, sx = spot(f)
        image += (0.14 + 0.14 * f.severity) * _blob(g, sy, sx, 0.06 + 0.03 * f.severity) * lungs[f.side]
    if "Consolidation" in by:
        f = by["Consolidation"]
        sy, sx = spot(f)
        lobe = _ellipse(g, sy, sx, 0.1 + 0.04 * f.severity, 0.09, soft=0.02)
        image += (0.26 + 0.12 * f.severity) * lobe * lungs[f.side]
    if "Pneumonia" in by:
        f = by["Pneumonia"]
        sy, sx = spot(f)
        patches = sum(_blob(g, sy + dy, sx + dx, 0.03) for dy, dx in rng.uniform(-0.08, 0.08, size=(6, 2)))
        image += 0.16 * np.clip(patches, 0, 1.5) * lungs[f.side]
    if "Lung Lesion" in by:
        f = by["Lung Lesion"]
        sy, sx = spot(f)
        r = 0.03 + 0.03 * f.severity
        image += 0.4 * _ellipse(g, sy, sx, r, r, soft=0.008) * lungs[f.side]
    if "Edema" in by:
        f = by["Edema"]
        hila = _blob(g, 0.46, chest.cx - chest.half_width * 0.4, 0.11) + _blob(
            g, 0.46, chest.cx + chest.half_width * 0.4, 0.11
        )
        image += (0.18 + 0.12 * f.severity) * hila * np.maximum(lungs["right"], lungs["left"])
    if "Atelectasis" in by:
        f = by["Atelectasis"]
        s = chest.outward(f.side)
        base = chest.bottom - 0.2
        band = _line(
            g,
            base,
            chest.lung_x(f.side) - s * 0.08,
            base + 0.04,
            chest.lung_x(f.side) + s * 0.1,
            0.03 + 0.015 * f.severity,
        )
        image += 0.38 * band * np.clip(lungs[f.side] * 3, 0, 1) + 0.12 * (y > base) * lungs[f.side]
    return image


def _pleural_findings(
    image: np.ndarray,
    g: Grid,
    chest: _Chest,
    lungs: dict[str, np.ndarray],
    hemithorax: dict[str, np.ndarray],
    by: dict[str, Finding],
) -> np.ndarray:
    y, x = g
    if "Pleural Effusion" in by:
        f = by["Pleural Effusion"]
        s = chest.outward(f.side)
        level = chest.bottom - 0.16 - 0.18 * f.severity
        wall = chest.lung_x(f.side) + s * chest.half_width * 0.42
        # fluid fills the base up to a meniscus that rises along the lateral wall, hiding the dome
        meniscus = y > level + 0.6 * np.abs(x - wall) ** 1.5 - 0.04
        image += 0.34 * meniscus * np.clip(hemithorax[f.side] * 2, 0, 1)
    if "Pneumothorax" in by:
        f = by["Pneumothorax"]
        s = chest.outward(f.side)
        outer = chest.lung_x(f.side) + s * chest.half_width * 0.42
        edge = outer - s * (0.07 + 0.07 * f.severity)
        apex = y < chest.level(0.65)
        rim = (s * (x - edge) > 0) & apex & (lungs[f.side] > 0.1)
        image = np.where(rim, 0.05, image)
        image += (
            0.35 * _line(g, chest.top + 0.02, edge, chest.level(0.65), edge + s * 0.02, 0.006) * (lungs[f.side] > 0.1)
        )
    if "Pleural Other" in by:
        f = by["Pleural Other"]
        s = chest.outward(f.side)
        wall = chest.lung_x(f.side) + s * chest.half_width * 0.38
        stripe = _line(g, chest.level(0.1), wall, chest.level(0.75), wall + s * 0.02, 0.02 + 0.015 * f.severity)
        image += 0.4 * stripe
    return image


def _devices(image: np.ndarray, g: Grid, chest: _Chest, by: dict[str, Finding]) -> np.ndarray:
    """Lines, tubes and a pacemaker: metal, brighter than anything else on the film."""
    if "Support Devices" not in by:
        return image
    f = by["Support Devices"]
    s = chest.outward(f.side)
    if f.severity < 0.55:  # central venous line: from the neck down the mediastinum
        image += METAL * _line(g, 0.08, chest.cx + s * 0.16, 0.2, chest.cx + s * 0.05, 0.007)
        image += METAL * _line(g, 0.2, chest.cx + s * 0.05, 0.42, chest.cx + s * 0.02, 0.007)
    elif f.severity < 0.8:  # pacemaker: a box below the clavicle and leads to the heart
        box = _ellipse(g, 0.2, chest.cx + s * 0.27, 0.035, 0.05, soft=0.005)
        image += METAL * box
        image += METAL * _line(g, 0.2, chest.cx + s * 0.25, chest.bottom - 0.12, chest.cx + 0.04, 0.006)
    else:  # endotracheal tube down the trachea
        image += METAL * _line(g, 0.02, chest.cx, 0.3, chest.cx, 0.009)
    return image


def lateral(
    findings: tuple[Finding, ...], incidental: tuple[str, ...], rng: np.random.Generator, size: int
) -> np.ndarray:
    """The lateral view: one lung field, heart anterior and low, spine posterior."""
    g = _grid(size)
    y, x = g
    by = {f.name: f for f in findings}
    shift = rng.uniform(-0.02, 0.02)
    image = 0.04 + 0.42 * _ellipse(g, 0.55, 0.5 + shift, 0.56, 0.42, soft=0.06)
    lung = _ellipse(g, 0.48, 0.52 + shift, 0.32, 0.3, soft=0.03)
    lung *= 1 - (y > 0.72 + 0.4 * (x - 0.5 - shift) ** 2)  # diaphragm
    image -= 0.3 * lung
    image += 0.3 * _ellipse(g, 0.55, 0.82 + shift, 0.5, 0.05, soft=0.02)  # spine
    if "degenerative" in incidental:
        for level in np.linspace(0.3, 0.75, 5):
            image += 0.35 * _ellipse(g, level, 0.765 + shift, 0.012, 0.018, soft=0.004)
    heart_r = 0.13 + (0.06 + 0.05 * by["Cardiomegaly"].severity if "Cardiomegaly" in by else rng.uniform(-0.01, 0.01))
    image += 0.32 * _ellipse(g, 0.62, 0.33 + shift, 0.14, heart_r, soft=0.02)
    image = np.minimum(image, ANATOMY_MAX)
    if "Enlarged Cardiomediastinum" in by:  # the retrosternal clear space fills in
        image += 0.25 * _ellipse(g, 0.3, 0.3 + shift, 0.1, 0.08, soft=0.03) * lung
    for name in ("Lung Opacity", "Consolidation", "Pneumonia"):
        if name in by:
            f = by[name]
            image += (0.15 + 0.15 * f.severity) * _blob(g, 0.25 + 0.45 * f.position, 0.55 + shift, 0.07) * lung
    if "Lung Lesion" in by:
        f = by["Lung Lesion"]
        r = 0.02 + 0.02 * f.severity
        image += 0.35 * _ellipse(g, 0.25 + 0.45 * f.position, 0.6 + shift, r, r, soft=0.006) * lung
    if "Edema" in by:
        image += (0.15 + 0.1 * by["Edema"].severity) * _blob(g, 0.45, 0.5 + shift, 0.14) * lung
    if "Atelectasis" in by:
        image += 0.25 * _line(g, 0.6, 0.4 + shift, 0.66, 0.7 + shift, 0.02) * lung
    if "Pleural Effusion" in by:
        f = by["Pleural Effusion"]
        fluid = y > 0.62 - 0.14 * f.severity + 0.8 * np.clip(0.8 + shift - x, 0, None) ** 1.5
        posterior = np.clip((x - 0.4 - shift) / 0.12, 0, 1)
        image += 0.35 * fluid * posterior * _ellipse(g, 0.48, 0.52 + shift, 0.32, 0.3, soft=0.03)
    if "Support Devices" in by:
        image += METAL * _line(g, 0.05, 0.42 + shift, 0.45, 0.38 + shift, 0.008)
    if "granuloma" in incidental:
        image += 0.4 * _ellipse(g, 0.45, 0.6 + shift, 0.012, 0.012, soft=0.004) * lung
    return _expose(image, rng)


def _expose(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-study exposure (contrast, brightness, gamma) and quantum noise, as uint8."""
    image = np.clip(image * rng.uniform(0.9, 1.1) + rng.uniform(-0.03, 0.03), 0, 1)
    image = image ** rng.uniform(0.9, 1.1)
    image = image + rng.normal(0, 0.015, size=image.shape)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
