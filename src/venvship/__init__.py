"""venvship: hashed locks compiled in the target image, and production images built from them."""

__version__ = "0.1.0"
