"""One error type for bad input, so the CLI can print one line and exit 2."""

from __future__ import annotations


class InputError(Exception):
    """Bad input: names where (file, line or resource id) and what is wrong."""

    def __init__(self, problem: str, *, file: str | None = None, line: int | None = None,
                 resource: str | None = None, record: int | None = None) -> None:
        self.problem = problem
        self.file = file
        self.line = line
        self.resource = resource
        self.record = record        # binary inputs: the record (packet, block) number
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = []
        if self.file:
            where.append(f"{self.file}:{self.line}" if self.line else self.file)
        elif self.line:
            where.append(f"line {self.line}")
        if self.record:
            where.append(f"record {self.record}")
        if self.resource:
            where.append(self.resource)
        return f"{': '.join(where)}: {self.problem}" if where else self.problem

    def at(self, *, file: str | None = None, line: int | None = None,
           resource: str | None = None) -> InputError:
        """Fill in location details that the raiser did not know."""
        self.file = self.file or file
        self.line = self.line or line
        self.resource = self.resource or resource
        self.args = (self.message,)
        return self


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind (so partial outputs are removed) and exit 143.
    A BaseException, so no `except Exception` on the way swallows it."""
