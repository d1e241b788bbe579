"""User-facing errors: one line that says what was wrong and what to do."""


class MtlbenchError(Exception):
    """An error caused by the user's input or environment, printed as one line without a traceback."""


class UnknownNameError(MtlbenchError, KeyError):
    """A name that no registry knows."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ContractError(MtlbenchError, TypeError):
    """A registered object does not fulfil the contract of its registry."""


class DataError(MtlbenchError):
    """A dataset is missing or malformed."""


class StoreError(MtlbenchError, ValueError):
    """A file of the result store is damaged: unreadable, not JSON, or not the shape mtlbench writes."""


class StoreUnwritable(MtlbenchError):
    """The result store refuses writes (full, read-only, failing): the grid stops, finished runs are kept."""
