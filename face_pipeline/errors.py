"""Errors a caller can show to a person as they are: each message is one line and says what
was wrong with the input, never how the code failed."""


class FacePipelineError(Exception):
    """Base class for every error this package raises on purpose."""


class ImageError(FacePipelineError):
    """The input could not be used as an image."""


class ImageNotFoundError(ImageError):
    """The path does not exist or is not a file."""


class EmptyImageError(ImageError):
    """Zero bytes."""


class NotAnImageError(ImageError):
    """The bytes are not an image format Pillow can decode."""


class TruncatedImageError(ImageError):
    """The image starts well but its data ends early or is corrupt."""


class ImageTooLargeError(ImageError):
    """More pixels than the configured limit (decompression bombs included)."""


class ModelFileMissingError(FacePipelineError):
    """A weight file that ships in a package is not installed."""
