"""Replicate's predictions API made comfortable in notebooks, online or offline (sandbox)."""

__all__: list[str] = []
