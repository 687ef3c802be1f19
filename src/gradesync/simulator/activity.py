"""The realistic activity model: how grading happens at an institution over a term, as the
parameters of one frozen dataclass. docs/activity.md says what each default stands for.

``ActivityPlan`` (``plan``) draws the edits from a model, ``Playback`` (``playback``) makes them
on a world as the simulator's clock passes their times. The uniform activity of ``control``
(``Activity``, ``World.random_edits``) stays as it is, for the demo.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

# Monday first, as ``datetime.weekday`` counts.
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class ActivityModel:
    """Every parameter of the realistic activity, with its default. Times of day are the
    institution's local time (``utc_offset_hours``); "median course" means a course of
    activity 1 (see ``activity_sigma``)."""

    seed: int | None = None
    """Seeds every draw of the plan; None takes the world's seed."""

    # -- the term -------------------------------------------------------------------------------

    term_weeks: int = 15
    """Length of the term in weeks; the last one is the final week."""
    start_week: int = 8
    """The term week (1 to ``term_weeks``) the plan starts in when ``term_start`` is None: the
    term then starts on the Monday ``start_week - 1`` weeks before the start's own Monday."""
    term_start: datetime | None = None
    """The term's first day (its local midnight); None places the term by ``start_week``."""
    utc_offset_hours: float = 0.0
    """The institution's local time, hours east of UTC (no daylight saving)."""

    # -- how active each course is ----------------------------------------------------------------

    dormant_share: float = 0.35
    """Share of courses that make no grade edit all term (grades kept elsewhere)."""
    activity_sigma: float = 1.2
    """Each other course's activity is lognormal with median 1 and this sigma: it scales how
    many columns the course grades and how often it revises grades (a heavy tail)."""
    columns_median: float = 5.0
    """Columns a median course grades over the term (the final included); the activity scales
    it, capped at the course's own manual and attempt columns."""

    # -- columns and grading sessions -------------------------------------------------------------

    due_weekdays: tuple[float, ...] = (0.15, 0.1, 0.15, 0.1, 0.3, 0.0, 0.2)
    """Weights of the weekday a column is due on, Monday first; due at the end of that day.
    Graded columns but the final are spread one by one over weeks 2 to ``term_weeks - 1``."""
    graded_share: float = 0.9
    """Share of a column's students who get a grade (the rest never handed it in)."""
    session_size: tuple[int, int] = (5, 40)
    """Grades of one column an instructor enters in one sitting, least and most."""
    seconds_per_grade: tuple[float, float] = (20.0, 90.0)
    """Seconds between two grades of one sitting, least and most: 40 grades take under an hour."""
    upload_share: float = 0.15
    """Share of sittings that upload their grades at one instant (a spreadsheet, a bulk edit)."""
    lag_median_days: float = 2.0
    """Median time from a column's due date to one of its sittings, in days (lognormal)."""
    lag_sigma: float = 0.8
    """Sigma of that lognormal: about nine sittings in ten come within a week of the due date."""
    lag_max_days: float = 21.0
    """No sitting comes later than this after the due date."""

    # -- the day and the week ---------------------------------------------------------------------

    hour_weights: tuple[float, ...] = (
        0.12, 0.06, 0.03, 0.02, 0.02, 0.03, 0.08, 0.25, 0.6, 0.9, 1.0, 1.0,
        0.8, 0.9, 1.0, 1.0, 0.9, 0.7, 0.5, 0.5, 0.6, 0.55, 0.4, 0.22,
    )  # fmt: skip
    """Relative activity of each local hour, midnight first: working hours, an evening bump,
    quiet nights."""
    day_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 0.95, 0.8, 0.3, 0.45)
    """Relative activity of each weekday, Monday first: quieter Fridays, quiet weekends, some
    grading on Sunday evenings."""

    # -- revisions of grades already entered ------------------------------------------------------

    revisions_per_week: float = 1.5
    """Revisions a median course makes in a week once a column is due: late corrections,
    overrides and exemptions of grades already there, one at a time."""
    correction_share: float = 0.6
    """Share of revisions that correct a score of any column already due."""
    override_share: float = 0.25
    """Share of revisions that override a grade with a text grade."""
    exemption_share: float = 0.15
    """Share of revisions that exempt a student (or lift the exemption if there is one)."""

    # -- changes to the course --------------------------------------------------------------------

    added_column_share: float = 0.25
    """Share of active courses that add a column in the middle third of the term."""
    added_column_due_days: int = 10
    """Days from a column's addition to its due date; it is then graded as the others."""
    enrolment_weeks: float = 2.0
    """Enrolment changes happen in the term's first weeks (add and drop)."""
    enrolment_adds: float = 2.0
    """Mean number of students each course gains then (existing students of the institution)."""
    enrolment_drops: float = 1.5
    """Mean number of students each course loses then (their membership is disabled)."""

    # -- the final week ---------------------------------------------------------------------------

    final_due_days: int = 3
    """The final (each active course's last column) is due at the end of one of the first
    days of the final week, the exam days."""
    final_lag_median_days: float = 1.0
    """Median time from the final's due date to one of its sittings, in days: final grades
    have a deadline."""
    final_lag_sigma: float = 0.6
    """Sigma of that lognormal."""
    final_lag_max_days: float = 10.0
    """No sitting of the final comes later than this after its due date."""
    final_week_surge: float = 3.0
    """Revisions are this many times as frequent in the final week."""

    def __post_init__(self) -> None:
        _check_share(
            "dormant_share",
            "graded_share",
            "upload_share",
            "correction_share",
            "override_share",
            "exemption_share",
            "added_column_share",
            model=self,
        )
        if self.term_weeks < 3:
            raise ValueError("term_weeks must be 3 or more")
        if not 1 <= self.start_week <= self.term_weeks:
            raise ValueError("start_week must be a week of the term (1 to term_weeks)")
        if self.term_start is not None and self.term_start.tzinfo is None:
            raise ValueError("term_start must carry a time zone")
        if not -14 <= self.utc_offset_hours <= 14:
            raise ValueError("utc_offset_hours must be between -14 and 14")
        _check_weights("hour_weights", self.hour_weights, 24)
        _check_weights("day_weights", self.day_weights, 7)
        _check_weights("due_weekdays", self.due_weekdays, 7)
        low, high = self.session_size
        if not 1 <= low <= high:
            raise ValueError("session_size must be (least, most) with 1 <= least <= most")
        fast, slow = self.seconds_per_grade
        if not 0 <= fast <= slow:
            raise ValueError("seconds_per_grade must be (least, most) with 0 <= least <= most")
        shares = self.correction_share + self.override_share + self.exemption_share
        if not math.isclose(shares, 1.0, abs_tol=1e-9):
            raise ValueError("correction_share, override_share and exemption_share must add to 1")
        positive = (
            "activity_sigma",
            "lag_median_days",
            "lag_sigma",
            "lag_max_days",
            "final_lag_median_days",
            "final_lag_sigma",
            "final_lag_max_days",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        for name in ("columns_median", "revisions_per_week", "enrolment_adds", "enrolment_drops"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} cannot be negative")
        if not 0 <= self.enrolment_weeks <= self.term_weeks:
            raise ValueError("enrolment_weeks must be within the term")
        if not 1 <= self.final_due_days <= 7:
            raise ValueError("final_due_days must be 1 to 7")
        if self.added_column_due_days < 1:
            raise ValueError("added_column_due_days must be 1 or more")
        if self.final_week_surge < 0:
            raise ValueError("final_week_surge cannot be negative")

    # -- derived shapes -------------------------------------------------------------------------

    def profile(self) -> list[float]:
        """The activity of each hour of the week (Monday 00:00 first), 168 values of mean 1."""
        raw = [day * hour for day in self.day_weights for hour in self.hour_weights]
        mean = sum(raw) / len(raw)
        return [value / mean for value in raw]

    def lag_hours(self, *, final: bool = False) -> list[float]:
        """The chance that a sitting starts in each hour after the due date, before the day and
        week profile weighs it (lognormal, cut at the maximum)."""
        if final:
            median, sigma, most = (
                self.final_lag_median_days,
                self.final_lag_sigma,
                self.final_lag_max_days,
            )
        else:
            median, sigma, most = self.lag_median_days, self.lag_sigma, self.lag_max_days
        mu = math.log(median * 24)
        scale = sigma * math.sqrt(2)

        def below(hours: float) -> float:
            return 0.0 if hours <= 0 else 0.5 * (1 + math.erf((math.log(hours) - mu) / scale))

        return [below(h + 1) - below(h) for h in range(max(1, math.ceil(most * 24)))]

    # -- JSON, for the control API --------------------------------------------------------------

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ActivityModel:
        """A model from ``{field: value}`` (the others keep their defaults); ValueError for an
        unknown field or a bad value."""
        defaults = cls()
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, value in body.items():
            if name not in known:
                raise ValueError(f"unknown activity parameter {name!r}")
            default = getattr(defaults, name)
            if value is None or name == "seed":
                values[name] = None if value is None else int(value)
            elif name == "term_start":
                values[name] = datetime.fromisoformat(str(value))
            elif isinstance(default, tuple):
                if not isinstance(value, list | tuple):
                    raise ValueError(f"{name} must be a list")
                values[name] = tuple(type(default[0])(item) for item in value)
            elif isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ValueError(f"{name} must be a number")
            else:
                values[name] = type(default)(value)
        return cls(**values)

    def as_json(self) -> dict[str, Any]:
        """Every field, as ``from_json`` takes it back."""
        body = asdict(self)
        for name, value in body.items():
            if isinstance(value, tuple):
                body[name] = list(value)
            elif isinstance(value, datetime):
                body[name] = value.isoformat()
        return body


def _check_share(*names: str, model: ActivityModel) -> None:
    for name in names:
        if not 0 <= getattr(model, name) <= 1:
            raise ValueError(f"{name} must be between 0 and 1")


def _check_weights(name: str, weights: tuple[float, ...], count: int) -> None:
    if len(weights) != count or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"{name} must be {count} weights, none negative, not all 0")
