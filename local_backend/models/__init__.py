"""Local model implementations. Each module is imported only when its model is created."""

from .base import LocalModel, ModelConfig

__all__ = ["LocalModel", "ModelConfig"]
