"""RadCliQ-v1 (Yu et al. 2023): a linear model of four metrics fitted to radiologists' error counts.

Per report: ``x = [RadGraph combined, BERTScore, SembScore, BLEU-2]`` is standardised with the
published scaler, then ``score = z @ coefficients[:4] + coefficients[4]``. Lower is better (it
predicts errors); ReXrank shows 1/RadCliQ-v1 and RadEval returns 1 / mean. The corpus figure
here is the mean per-report score, lower is better.

The numbers are those of ``CXRMetric/radcliq-v1.pkl`` in rajpurkarlab/CXR-Report-Metric (a
``CompositeMetric`` holding a scikit-learn 1.1.1 StandardScaler fitted on 160 reports and five
coefficients), read from the pickle at full precision; RadEval's ``radcliq.py`` hard-codes the
same values to 8 digits. Inputs follow that repository's ``run_eval.py``: RadGraph combined from
the original ``radgraph`` model, BERTScore of distilroberta-base rescaled with idf from the
references, SembScore of CheXbert. Its BLEU-2 is ``fast_bleu`` on lower-cased texts split at
spaces with " ." split off; here it is pycocoevalcap's per-report BLEU-2 (mtlbench's BLEU): the
published BLEU coefficient is 4.3e-12, so the choice moves a score by less than 1e-10.
"""

from __future__ import annotations

import numpy as np

COLUMNS = ("radgraph_combined", "bertscore_radcliq", "semb", "bleu2")
MEAN = np.array([0.5379231241355762, 0.6175725628125001, 0.7647942121140658, 0.44738335396242174])
SCALE = np.array([0.3028258411486429, 0.22430938459304575, 0.2539439110169773, 0.2989271671041838])
COEFFICIENTS = np.array(
    [-0.37708368261038905, -0.37030009974480316, -0.25261621789593225, 4.315048405024756e-12, 2.4665525613232559e-10]
)


def radcliq_v1(components: np.ndarray) -> np.ndarray:
    """Per-report RadCliQ-v1 from ``[N, 4]`` components in :data:`COLUMNS` order."""
    z = (np.asarray(components, float) - MEAN) / SCALE
    return z @ COEFFICIENTS[:4] + COEFFICIENTS[4]
