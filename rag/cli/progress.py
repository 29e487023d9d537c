"""Progress bars on stderr for the long commands. Imported inside the commands, so that rich loads
only when one of them runs, not for `rag --help`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Items a second, blank until rich has measured a speed."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.1f}/s" if task.speed else "", style="progress.data.speed")


def counting_bars(console: Any) -> Progress:
    """Bars that show done/total, the rate and the time left; they vanish when done."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(), TimeRemainingColumn())
    return Progress(*columns, console=console, transient=True)


class BarPerStage:
    """A progress callback `(stage, done, total)` that opens a bar for each stage the first time it is named."""

    def __init__(self, bar: Progress, describe: Callable[[str], str]) -> None:
        self.bar = bar
        self.describe = describe
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(self.describe(stage), total=total)
        self.bar.update(self.tasks[stage], completed=done, total=total)
