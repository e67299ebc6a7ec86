"""cdnpanel: a self-hosted control plane for video streaming CDNs (ScaleEngine v1 API)."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
