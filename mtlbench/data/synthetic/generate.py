"""Writing the synthetic set in IU X-Ray's layout: ``annotation.json`` plus two PNGs per study."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from mtlbench.data.schema import SPLITS
from mtlbench.data.synthetic.config import VERSION, SyntheticConfig
from mtlbench.data.synthetic.findings import draw_study
from mtlbench.data.synthetic.render import frontal, lateral
from mtlbench.data.synthetic.reports import write_report

# PromptMRG's label encoding, as IU X-Ray annotations with labels carry it: 18 ints per study,
# 0 blank, 1 positive, 2 negative, 3 uncertain; the first 14 are CheXpert in CheXbert order.
_PROMPTMRG = {1.0: 1, 0.0: 2, -1.0: 3}


def _promptmrg(codes: tuple[float, ...]) -> list[int]:
    return [0 if math.isnan(c) else _PROMPTMRG[c] for c in codes] + [0, 0, 0, 0]


def generate(folder: Path, config: SyntheticConfig) -> Path:
    """Write the set into ``folder`` (created); byte-identical output for the same config."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    sizes = {"train": config.n_train, "val": config.n_val, "test": config.n_test}
    annotation: dict[str, list[dict]] = {}
    for split_index, split in enumerate(SPLITS):
        rows = []
        for i in range(sizes[split]):
            rng = np.random.default_rng(np.random.SeedSequence([config.seed, split_index, i]))
            study = draw_study(rng, label_noise=config.label_noise, uncertain_rate=config.uncertain_rate)
            report, codes = write_report(study, rng)
            study_id = f"synth{config.seed}_{split}_{i:04d}"
            paths = [f"{study_id}/0.png", f"{study_id}/1.png"]
            (folder / "images" / study_id).mkdir(exist_ok=True)
            for rel, view in zip(paths, (frontal, lateral)):
                Image.fromarray(view(study.findings, study.incidental, rng, config.image_size), mode="L").save(
                    folder / "images" / rel, optimize=False
                )
            rows.append(
                {
                    "id": study_id,
                    "report": report,
                    "image_path": paths,
                    "split": split,
                    "labels": _promptmrg(codes),
                    "findings_shown": [f.name for f in study.findings],
                    "incidental": list(study.incidental),
                }
            )
        annotation[split] = rows
    (folder / "annotation.json").write_text(json.dumps(annotation, indent=1), encoding="utf-8")
    (folder / "VERSION").write_text(f"{VERSION}\n{config}\n", encoding="utf-8")
    return folder
