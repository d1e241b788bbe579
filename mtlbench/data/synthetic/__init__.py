"""The embedded synthetic chest X-ray dataset, the default of every benchmark."""

from mtlbench.data.cache import cache_root
from mtlbench.data.synthetic.config import SyntheticConfig
from mtlbench.data.synthetic.generate import generate
from mtlbench.data.synthetic.source import SyntheticSource

__all__ = ["SyntheticConfig", "SyntheticSource", "cache_root", "generate"]
