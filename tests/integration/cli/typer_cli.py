"""Running a Typer sub-app of ``simrenew`` in-process against a wired app, failing the
test with the command's output when it exits otherwise than expected."""

from __future__ import annotations

import traceback
from dataclasses import dataclass

import pytest
import typer
from typer.testing import CliRunner, Result

from simrenew.bootstrap import App


@dataclass
class TyperCli:
    commands: typer.Typer
    shop: App
    columns: int = 200

    def __call__(self, *args: str, code: int = 0, input: str | None = None) -> Result:
        result = CliRunner().invoke(
            self.commands,
            list(args),
            obj=self.shop,
            input=input,
            env={"COLUMNS": str(self.columns)},
        )
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            assert result.exc_info is not None
            shown = "".join(traceback.format_exception(*result.exc_info))
            pytest.fail(f"`simrenew {' '.join(args)}` raised instead of exiting:\n{shown}")
        assert result.exit_code == code, (
            f"`simrenew {' '.join(args)}` exited {result.exit_code}, expected {code}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
        return result
