"""Classification-reconstruction encoders (CRE) and the analysis of their latents."""

__version__ = "0.1.0"
