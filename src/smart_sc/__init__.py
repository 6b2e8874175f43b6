"""smart_sc: SMART spectral transfer for single-cell multimodal regression."""

__version__ = "0.1.0"
