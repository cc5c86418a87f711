"""What kind of study a study is (`StudyType`): the facts the analysis draws it by, declared once
in the study's own file (`studies/<name>.py`) and stored with every study it runs.

The study file beside Tune's experiment (`nc_study.json`, `nc_core.study.checks.claim`) keeps a
study's `StudyType` under the key `STUDY_KEY`, so its tables and figures can be drawn without
importing the file that declared it (a study declared outside the package, or one whose file
changed since). No Ray, no command line, nothing of the analysis here: plain data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

STUDY_KEY = "study"  # in a stored study file: the study's StudyType as a dict
DEFAULT_FIGURES = "default"  # training curves, collapse per layer, depth profile, trade-off
PaperArm = Literal["method", "baseline"]


@dataclass(frozen=True)
class PaperNumber:
    """A published number to set beside a study's result: `result` names it (the paper's row,
    e.g. "Adaptive-ETF (MLP)"), `arm` says which arm of the study it is compared with (the
    study's method, chosen by the stated rule of the analysis, or its baseline), `train` and
    `test` are the reported accuracies in % (None: not reported)."""

    result: str
    arm: PaperArm
    train: float | None = None
    test: float | None = None

    def __post_init__(self) -> None:
        if self.arm not in ("method", "baseline"):
            raise ValueError(
                f"PaperNumber {self.result!r}: arm={self.arm!r}, expected 'method' or 'baseline'"
            )


@dataclass(frozen=True)
class StudyType:
    """What a study is, as the analysis reads it.

    `name`: the study type (the file `studies/<name>.py`, the default study name); `title`: one
    line for the report; `method`: what its fixed arms are called ("Adaptive-ETF"); `arm_keys`:
    the RunConfig fields that tell its arms apart in its table, after "method"; `figures`: the
    name of the figure set drawn for it (`analysis.figures.sets`); `paper`: published numbers
    it is compared with; `marks`: (RunConfig field, value) pairs that a trial of this type
    carries and trials of other types do not, to tell the type of tables stored without one
    (nc-core 0.1, or tables copied without their Tune storage).
    """

    name: str
    title: str
    method: str
    arm_keys: tuple[str, ...]
    figures: str = DEFAULT_FIGURES
    paper: tuple[PaperNumber, ...] = ()
    marks: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum() or not self.name[0].isalpha():
            raise ValueError(
                f"StudyType.name={self.name!r}: use letters, digits and '_', starting with a letter"
            )
        if not self.title or not self.method:
            raise ValueError(f"StudyType {self.name!r}: give a title and a method name")
        if "method" in self.arm_keys:
            raise ValueError(
                f"StudyType {self.name!r}: arm_keys lists the RunConfig fields after 'method'; "
                "leave 'method' out"
            )

    @property
    def table_keys(self) -> list[str]:
        """The keys of the study's arm table: "method", then `arm_keys`."""
        return ["method", *self.arm_keys]

    def to_dict(self) -> dict:
        """Plain JSON data (lists for tuples), as the stored study file keeps it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> StudyType:
        """The StudyType of `to_dict`'s data; ValueError naming what is missing or wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a dict of StudyType fields, got {type(data).__name__}")
        try:
            return cls(
                name=data["name"],
                title=data["title"],
                method=data["method"],
                arm_keys=tuple(data["arm_keys"]),
                figures=data.get("figures", DEFAULT_FIGURES),
                paper=tuple(PaperNumber(**p) for p in data.get("paper", ())),
                marks=tuple((str(k), v) for k, v in data.get("marks", ())),
            )
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a StudyType ({type(err).__name__}: {err})") from None
