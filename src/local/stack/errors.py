"""Errors the stack reports as one clear line (the CLI prints them without a traceback)."""


class StackError(Exception):
    """A stack operation failed for a reason the user can act on."""


class ToolchainMissingError(StackError):
    def __init__(self, tool: str, needed_for: str, hint: str) -> None:
        super().__init__(f"{tool} not found on PATH (needed to build {needed_for}); {hint}")


class DownloadFailedError(StackError):
    def __init__(self, registry: str, artifact: str, log: str) -> None:
        super().__init__(f"could not fetch {artifact} from {registry}; see {log}")


class ServiceFailedError(StackError):
    def __init__(self, service: str, reason: str, log: str, tail: str = "") -> None:
        message = f"{service} {reason}; log: {log}"
        if tail:
            message += "\n--- last lines of the log ---\n" + tail
        super().__init__(message)
        self.service = service
        self.log = log
