"""The registry's one error type: a problem worth one line to the user."""

from __future__ import annotations


class RegistryError(Exception):
    """A problem worth one line to the user (unknown model or version, unreachable server...)."""


class RegistryUnreachable(RegistryError):
    """The tracking server does not answer; ``uri`` and ``reason`` for callers that word it their way."""

    def __init__(self, uri: str, reason: object) -> None:
        self.uri, self.reason = uri, str(reason)
        super().__init__(f"MLflow server at {uri} is unreachable ({reason})")
