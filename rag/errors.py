"""One small hierarchy of errors; the CLI and the web app turn them into messages at the edge."""


class RagError(Exception):
    """Base of every error this package raises on purpose; its text is meant for users."""


class ModelError(RagError):
    """A model could not be prepared or loaded."""


class NoIndexError(RagError):
    """The index folder holds no documents yet."""


class DocumentError(RagError):
    """A file could not be turned into a document (unsupported, empty, corrupt...)."""


class SettingsError(RagError):
    """A setting has a value we cannot use."""


class LLMError(RagError):
    """An LLM backend cannot be used; the text says which and what to check."""
