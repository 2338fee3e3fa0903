"""The exception tree. Everything vcmon raises on purpose derives from VcmonError.

    VcmonError
    ├── InventoryError (ValueError)   bad inventory/probe/scenario files; carries every Problem
    ├── ProbeSetupError               cannot probe at all (no permission, bad module)
    └── LabError                      the lab cannot be built or torn down

Each carries a message meant for a person; the CLI prints it and exits with the class's
`exit_code`, without a traceback unless --debug.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class VcmonError(Exception):
    exit_code = 1


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One mistake in an input file: where it is and what is wrong."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class InventoryError(VcmonError, ValueError):
    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def single(cls, file: str | Path, line: int, path: str, message: str) -> InventoryError:
        return cls([Problem(str(file), line, path, message)])


class ProbeSetupError(VcmonError):
    exit_code = 3


class LabError(VcmonError):
    exit_code = 4
