"""An example polymodal plugin: the ``spectrum`` modality, ``gated_late`` fusion and the
``focal_classifier`` task, registered through the entry points of ``pyproject.toml``."""

__version__ = "0.1.0"
