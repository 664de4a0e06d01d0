"""When absence is worrying (DOMAIN.md §1): school days, the municipality's rolling
thresholds, half days and the national quarter rules. Pure: no I/O.

What counts, as decided for issue 6:
- a school day is absent when its *morning* registration is S, L or U; a grade 7–10
  pupil not absent in the morning and ``U`` at the end of the day has half a day (of
  ``U``, and of absence for the local thresholds); lesson registrations of S/L/U do not
  make a day absent;
- a day with an F or T at any period (morning, lesson, end of day) is a comes-and-goes day;
- windows are counted in school days: working days (``WorkingCalendar``) minus the
  school's holiday periods;
- an *episode* is a run of school days on which some threshold is met, where hits fewer
  than ``episode_gap`` school days apart belong to the same run;
- national rules count ``U`` per calendar quarter over all the quarter's school days.

Weights are counted in half days (a whole day 2, a half day 1) so every comparison is
on integers. The detector is written for 100,000 pupils per scan: a pupil's days become
byte strings (one byte per school day) and big-int masks, so the per-pupil cost is one
Python loop over the registrations plus a dozen C-level passes over a few hundred bytes.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta
from functools import reduce
from itertools import accumulate, repeat
from operator import ge, itemgetter, or_, sub
from typing import Any, ClassVar

from .errors import InvalidInput
from .workdays import WorkingCalendar

# ---------------------------------------------------------------- registrations

CODES = "SLUFT"
#: A morning registration with one of these makes the whole day absent.
ABSENT_CODES = frozenset("SLU")
#: Late (F) and left early (T): the pupil comes and goes.
COMES_GOES_CODES = frozenset("FT")

#: Periods as stored: morning first, lessons in order, the end of the day last.
MORNING = 0
END_OF_DAY = 100
MAX_LESSON = 20

#: The national minimum is a registration at the end of the day from grade 7 on; a pupil
#: of these grades present in the morning and ``U`` at the end has half a day of ``U``.
HALF_DAY_GRADES = range(7, 11)
GRADES = range(0, 11)


def parse_period(text: str) -> int:
    """``morning`` → 0, ``lesson:N`` → N (1–20), ``end_of_day`` → 100."""
    if text == "morning":
        return MORNING
    if text == "end_of_day":
        return END_OF_DAY
    if text.startswith("lesson:"):
        number = text[7:]
        if number.isdigit() and 1 <= int(number) <= MAX_LESSON:
            return int(number)
    raise ValueError(f"period {text!r} is not morning, end_of_day or lesson:N (N 1–{MAX_LESSON})")


def period_name(period: int) -> str:
    if period == MORNING:
        return "morning"
    if period == END_OF_DAY:
        return "end_of_day"
    return f"lesson:{period}"


# ---------------------------------------------------------------- school calendar


@dataclass(frozen=True)
class HolidayPeriod:
    first_day: date
    last_day: date
    name: str = ""

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first_day <= day <= self.last_day


def _iso_week(year: int, week: int) -> tuple[date, date]:
    monday = date.fromisocalendar(year, week, 1)
    return monday, monday + timedelta(days=6)


def summer_holiday(year: int) -> HolidayPeriod:
    """Last Saturday of June to the Sunday of the first Monday–Sunday week in August.

    So school starts on the second Monday of August, as most Danish schools do.
    """
    june_30 = date(year, 6, 30)
    first = june_30 - timedelta(days=(june_30.weekday() - 5) % 7)
    august_1 = date(year, 8, 1)
    first_monday = august_1 + timedelta(days=(7 - august_1.weekday()) % 7)
    return HolidayPeriod(first, first_monday + timedelta(days=6), "sommerferie")


def default_holiday_periods(year: int) -> tuple[HolidayPeriod, ...]:
    """The defaults when no calendar is imported: ISO weeks 7 and 42, and the summer."""
    winter = _iso_week(year, 7)
    autumn = _iso_week(year, 42)
    return (
        HolidayPeriod(*winter, "vinterferie"),
        summer_holiday(year),
        HolidayPeriod(*autumn, "efterårsferie"),
    )


@dataclass(frozen=True)
class CalendarLayer:
    """Imported holiday periods; they describe every day from the first period's first
    day to the last period's last day (a calendar file is the whole calendar for its span)."""

    periods: tuple[HolidayPeriod, ...]

    @property
    def span(self) -> tuple[date, date] | None:
        if not self.periods:
            return None
        return min(p.first_day for p in self.periods), max(p.last_day for p in self.periods)


@dataclass(frozen=True)
class SchoolCalendar:
    """School days = working days minus holiday periods.

    The periods of a day come from the first layer whose span covers it (the school's
    own calendar, then the municipality's ``*`` calendar); outside every span the
    defaults apply (:func:`default_holiday_periods`).
    """

    working: WorkingCalendar = field(default_factory=WorkingCalendar)
    layers: tuple[CalendarLayer, ...] = ()

    def _holidays(self, first: date, last: date) -> set[date]:
        days: set[date] = set()
        covered: set[date] = set()
        for layer in self.layers:
            span = layer.span
            if span is None or span[1] < first or span[0] > last:
                continue
            lo, hi = max(span[0], first), min(span[1], last)
            layer_days = {lo + timedelta(days=k) for k in range((hi - lo).days + 1)}
            layer_days -= covered
            for period in layer.periods:
                d = max(period.first_day, lo)
                while d <= min(period.last_day, hi):
                    if d in layer_days:
                        days.add(d)
                    d += timedelta(days=1)
            covered |= layer_days
        for year in range(first.year, last.year + 1):
            for period in default_holiday_periods(year):
                d = max(period.first_day, first)
                while d <= min(period.last_day, last):
                    if d not in covered:
                        days.add(d)
                    d += timedelta(days=1)
        return days

    def school_days(self, first: date, last: date) -> list[date]:
        holidays = self._holidays(first, last)
        return [d for d in self.working.working_days(first, last) if d not in holidays]

    def is_school_day(self, day: date) -> bool:
        return bool(self.school_days(day, day))


# ---------------------------------------------------------------- quarters


def quarter_of(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def quarter_bounds(quarter: str) -> tuple[date, date]:
    year, q = int(quarter[:4]), int(quarter[5:])
    first = date(year, 3 * q - 2, 1)
    next_first = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
    return first, next_first - timedelta(days=1)


def previous_quarter(quarter: str) -> str:
    first, _ = quarter_bounds(quarter)
    return quarter_of(first - timedelta(days=1))


# ---------------------------------------------------------------- rules


@dataclass(frozen=True)
class AbsenceRules:
    """The municipality's thresholds (policy, so configuration) and the episode gap.

    Configured in one environment variable, e.g.
    ``FORLOEB_ABSENCE_THRESHOLDS="streak=5,short=7/20,long=15/60,comes_goes=3/20,episode_gap=10"``;
    keys left out keep their defaults. ``short=7/20`` reads "7 days of absence within the
    last 20 school days"; day counts may be halves (``7.5/20``).
    """

    streak_days: int = 5
    short_days: float = 7
    short_window: int = 20
    long_days: float = 15
    long_window: int = 60
    comes_goes_days: int = 3
    comes_goes_window: int = 20
    #: Hits separated by fewer school days without a hit than this are one episode.
    episode_gap: int = 10

    ENV: ClassVar[str] = "FORLOEB_ABSENCE_THRESHOLDS"

    @classmethod
    def from_env(cls) -> AbsenceRules:
        text = os.environ.get(cls.ENV)
        return cls.parse(text) if text else cls()

    @classmethod
    def parse(cls, text: str) -> AbsenceRules:
        rules = cls()
        pairs = {
            "short": ("short_days", "short_window"),
            "long": ("long_days", "long_window"),
            "comes_goes": ("comes_goes_days", "comes_goes_window"),
        }
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, _, value = part.partition("=")
            key, value = key.strip(), value.strip()
            try:
                if key in pairs:
                    count, _, window = value.partition("/")
                    changes: dict[str, Any] = {
                        pairs[key][0]: int(count) if key == "comes_goes" else float(count)
                    }
                    if window:
                        changes[pairs[key][1]] = int(window)
                    rules = replace(rules, **changes)
                elif key == "streak":
                    rules = replace(rules, streak_days=int(value))
                elif key == "episode_gap":
                    rules = replace(rules, episode_gap=int(value))
                else:
                    raise KeyError(key)
            except (ValueError, KeyError):
                raise InvalidInput(
                    f"{cls.ENV}: {part!r} is not understood; write e.g. "
                    "streak=5,short=7/20,long=15/60,comes_goes=3/20,episode_gap=10"
                ) from None
        for f in fields(rules):
            if getattr(rules, f.name) <= 0:
                raise InvalidInput(f"{cls.ENV}: {f.name} must be more than 0")
        return rules

    @property
    def longest_window(self) -> int:
        return max(self.streak_days, self.short_window, self.long_window, self.comes_goes_window)

    def describe(self, rule: str) -> str:
        return {
            "streak": f"{self.streak_days} consecutive school days of absence",
            "short": f"{_num(self.short_days)} days absent within {self.short_window} school days",
            "long": f"{_num(self.long_days)} days absent within {self.long_window} school days",
            "comes_goes": (
                f"late or left early (F/T) on {self.comes_goes_days} days "
                f"within {self.comes_goes_window} school days"
            ),
        }[rule]

    def window(self, rule: str) -> int:
        return {
            "streak": self.streak_days,
            "short": self.short_window,
            "long": self.long_window,
            "comes_goes": self.comes_goes_window,
        }[rule]


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


RULES = ("streak", "short", "long", "comes_goes")

# ---------------------------------------------------------------- detection


@dataclass(frozen=True)
class EpisodeHit:
    """A run of school days on which some threshold was met (indices, both inclusive);
    ``first_hits`` gives, per rule met in the run, the first day it was met."""

    first: int
    last: int
    first_hits: dict[str, int]


@dataclass(frozen=True)
class QuarterU:
    """``U`` in one quarter: half days counted (a whole day is 2), of ``school_days``."""

    quarter: int  # index into Detector.quarters
    u_halves: int
    school_days: int

    @property
    def u_days(self) -> float:
        return self.u_halves / 2

    @property
    def share(self) -> float:
        return self.u_halves / (2 * self.school_days) if self.school_days else 0.0


#: National rules (folkeskolens fraværsbekendtgørelse), per calendar quarter, U only.
CONTACT_PARENTS = "contact_parents"
WARN_PARENTS = "warn_parents"
NOTIFY_MUNICIPALITY = "notify_municipality"
WARN_PERCENT = 10
NOTIFY_PERCENT = 15
TASK_TITLES = {
    CONTACT_PARENTS: "contact the parents (unlawful absence registered)",
    WARN_PARENTS: f"warn the parents (unlawful absence ≥ {WARN_PERCENT} % this quarter)",
    NOTIFY_MUNICIPALITY: (
        "notify the municipality, underretning "
        f"(unlawful absence ≥ {NOTIFY_PERCENT} % this quarter)"
    ),
}


def national_tasks(u: QuarterU) -> list[str]:
    """The tasks one quarter's ``U`` calls for. The share's denominator is every school day
    of the quarter, so a task is due as soon as the share is reached and never undone."""
    tasks: list[str] = []
    if u.u_halves > 0:
        tasks.append(CONTACT_PARENTS)
    # u_halves / (2 * days) >= percent / 100, in integers
    if u.u_halves * 100 >= WARN_PERCENT * 2 * u.school_days and u.u_halves:
        tasks.append(WARN_PARENTS)
    if u.u_halves * 100 >= NOTIFY_PERCENT * 2 * u.school_days and u.u_halves:
        tasks.append(NOTIFY_MUNICIPALITY)
    return tasks


_RUNS = re.compile(rb"\x01+")
#: byte value → 1 when it is ≥ the threshold (the key), else 0: ``bytes.translate`` tables.
_AT_LEAST: dict[int, bytes] = {}
#: A day's byte as ``read`` builds it: bits 0–1 its weight, bit 2 comes-and-goes.
_WEIGHT = bytes(b & 3 for b in range(256))
_WHOLE_DAY = bytes(int(b & 3 == 2) for b in range(256))
_COMES_GOES = bytes((b >> 2) & 1 for b in range(256))


def _at_least(prefix: list[int], window: int, threshold: int, most: int, start: int) -> bytes:
    """One byte per day: 1 where the sum over the ``window`` days ending there ≥ threshold
    (0 before ``start``: those days only feed the windows).

    ``prefix`` are the prefix sums of the day weights, ``most`` the largest weight of a day.
    """
    # The sum of the window ending at day i is prefix[i + 1] - prefix[i + 1 - window].
    if start >= window - 1:
        earlier = prefix[start + 1 - window :]
    else:
        earlier = [0] * (window - 1 - start) + prefix
    sums = map(sub, prefix[start + 1 :], earlier)
    if min(prefix[-1], most * window) > 255:
        return bytes(start) + bytes(map(ge, sums, repeat(threshold)))
    # Every sum fits a byte: compare all of them at once with a translation table.
    table = _AT_LEAST.get(threshold)
    if table is None:
        table = _AT_LEAST[threshold] = bytes(int(b >= threshold) for b in range(256))
    return bytes(start) + bytes(sums).translate(table)


def _picker(positions: Sequence[int]) -> Callable[[bytes | bytearray], bytes]:
    """bytes at the given positions, picked in C (``itemgetter``)."""
    if len(positions) > 1:
        get = itemgetter(*positions)
        return lambda data: bytes(get(data))
    return lambda data: bytes(data[i] for i in positions)


#: What a registration says, as the scan's SQL encodes it: ``offset * 4 + kind``.
KIND_ABSENT = 0  # morning S or L: absent all day
KIND_U = 1  # morning U: absent all day, unlawfully
KIND_END_U = 2  # U at the end of the day, grades 7–10: half a day if present in the morning
KIND_COMES_GOES = 3  # F or T at any period
KINDS = 4  # values per day offset


@dataclass(frozen=True)
class PupilDays:
    """One pupil's days as the detector counts them.

    ``weights``, ``whole`` and ``comes_goes`` have one byte per school day (weight in half
    days; 1 when absent all day; 1 when late or left early). ``u_whole`` and ``u_half``
    are bit masks over calendar offsets (one byte lane per day) of the school days with a
    whole or a half day of ``U``.
    """

    weights: bytes
    whole: bytes
    comes_goes: bytes
    u_whole: int
    u_half: int


class Detector:
    """Counts one pupil's days at a time, for every pupil of one school calendar.

    Days are *offsets*: days since ``first``, the first calendar day looked at (``last``
    is the last). Registrations come in as ``offset * 4 + kind`` (``KIND_*``), the form the
    scan's SQL produces; only school days count. Hits are reported from ``since`` on
    (earlier days only feed the windows); episodes are school-day indices into ``days``.
    ``quarters`` are the calendar quarters to count ``U`` in; each quarter's school days
    are counted in full, also beyond ``last``.

    Per pupil the work is one Python loop over the registrations (the scatter); the rest
    are C-level passes over ~200 bytes and big-int masks, so 10,000 pupils take well
    under a second even when every slot of every day is registered.
    """

    def __init__(
        self,
        rules: AbsenceRules,
        calendar: SchoolCalendar,
        first: date,
        last: date,
        since: date | None = None,
        quarters: Sequence[str] = (),
    ) -> None:
        self.rules = rules
        self.first = first
        self.days = calendar.school_days(first, last)
        self.iso = [d.isoformat() for d in self.days]
        self.n = len(self.days)
        self.span = (last - first).days + 1
        offsets = [(d - first).days for d in self.days]
        self._pick = _picker(offsets)
        self.first_eval = bisect_left(self.days, since) if since else 0
        self.quarters = list(quarters)
        # Per quarter: a mask of its school days among the offsets, and its school days
        # in all (the share's denominator).
        self._quarter_masks = []
        for q in self.quarters:
            q_first, q_last = quarter_bounds(q)
            mask = 0
            for day, offset in zip(self.days, offsets, strict=True):
                if q_first <= day <= q_last:
                    mask |= 1 << (8 * offset)
            self._quarter_masks.append(mask)
        self.quarter_days = [len(calendar.school_days(*quarter_bounds(q))) for q in quarters]
        self._short = _halves(rules.short_days)
        self._long = _halves(rules.long_days)
        self._least = min(self._short, self._long)
        self._descriptions = {rule: rules.describe(rule) for rule in RULES}

    def encode(self, day: date, kind: int) -> int:
        """What the scan's SQL would produce for a registration (for tests and tools)."""
        return (day - self.first).days * KINDS + kind

    def read(self, encoded: Iterable[int]) -> PupilDays:
        lanes = bytearray(KINDS * self.span)
        for value in encoded:
            lanes[value] = 1
        to_int = int.from_bytes
        u = to_int(lanes[KIND_U::KINDS], "little")
        absent = to_int(lanes[KIND_ABSENT::KINDS], "little") | u
        half = to_int(lanes[KIND_END_U::KINDS], "little") & ~absent
        comes_goes = to_int(lanes[KIND_COMES_GOES::KINDS], "little")
        # Each lane holds 0 or 1, so absent << 1 is 2 in the same lane (a day's weight)
        # and comes_goes << 2 is bit 2: one byte per day, picked once, split by tables.
        day = (absent << 1) | half | (comes_goes << 2)
        picked = self._pick(day.to_bytes(self.span, "little"))
        return PupilDays(
            weights=picked.translate(_WEIGHT),
            whole=picked.translate(_WHOLE_DAY),
            comes_goes=picked.translate(_COMES_GOES),
            u_whole=u,
            u_half=half,
        )

    # -------------------------------------------------------- local thresholds

    def episodes(self, days: PupilDays) -> list[EpisodeHit]:
        if not self.n:
            return []
        rules = self.rules
        start = self.first_eval
        weights, whole, cg = days.weights, days.whole, days.comes_goes
        total = sum(weights)
        flags: dict[str, bytes] = {}
        # Quick rejections first: most pupils are absent too little for any window.
        if total >= 2 * rules.streak_days:
            streak = rules.streak_days
            # A run of n whole days is a hit on its last n - streak + 1 days.
            flag = bytearray(self.n)
            for run in re.finditer(b"\x01{%d,}" % streak, whole):
                first_hit = max(run.start() + streak - 1, start)
                flag[first_hit : run.end()] = b"\x01" * max(run.end() - first_hit, 0)
            if any(flag):
                flags["streak"] = bytes(flag)
        if total >= self._least:
            prefix = list(accumulate(weights, initial=0))
            if total >= self._short:
                flags["short"] = _at_least(prefix, rules.short_window, self._short, 2, start)
            if total >= self._long:
                flags["long"] = _at_least(prefix, rules.long_window, self._long, 2, start)
        if sum(cg) >= rules.comes_goes_days:
            flags["comes_goes"] = _at_least(
                list(accumulate(cg, initial=0)),
                rules.comes_goes_window,
                rules.comes_goes_days,
                1,
                start,
            )
        if not flags:
            return []
        hits = reduce(or_, (int.from_bytes(f, "little") for f in flags.values()))
        if not hits:
            return []
        any_hit = hits.to_bytes(self.n, "little")
        runs: list[list[int]] = []
        for match in _RUNS.finditer(any_hit, start):
            start, end = match.start(), match.end() - 1
            if runs and start - runs[-1][1] - 1 < rules.episode_gap:
                runs[-1][1] = end
            else:
                runs.append([start, end])
        result = []
        for start, end in runs:
            first_hits = {}
            for rule in RULES:
                rule_flags = flags.get(rule)
                if rule_flags is not None:
                    where = rule_flags.find(1, start, end + 1)
                    if where >= 0:
                        first_hits[rule] = where
            result.append(EpisodeHit(start, end, first_hits))
        return result

    def evidence(self, days: PupilDays, first_hits: Mapping[str, int]) -> dict[str, dict[str, Any]]:
        """Why each rule hit: its description, the day it was first met, and the dates
        (``dates``; ``half_days`` for half days of ``U``) in the window ending there."""
        result = {}
        iso = self.iso
        for rule, end in first_hits.items():
            window = range(max(0, end - self.rules.window(rule) + 1), end + 1)
            half: list[str] = []
            if rule == "comes_goes":
                dates = [iso[i] for i in window if days.comes_goes[i]]
            elif rule == "streak":
                dates = [iso[i] for i in window if days.whole[i]]
            else:
                dates = [iso[i] for i in window if days.weights[i] == 2]
                half = [iso[i] for i in window if days.weights[i] == 1]
            entry: dict[str, Any] = {
                "description": self._descriptions[rule],
                "first_hit": iso[end],
                "dates": dates,
            }
            if half:
                entry["half_days"] = half
            result[rule] = entry
        return result

    # -------------------------------------------------------- national rules

    def quarters_u(self, days: PupilDays) -> list[QuarterU]:
        """``U`` per quarter, on school days: a morning ``U`` is a whole day; ``U`` at the
        end of the day of a grade 7–10 pupil present in the morning is half a day."""
        if not (days.u_whole or days.u_half):
            return []
        result = []
        for q, mask in enumerate(self._quarter_masks):
            halves = 2 * (days.u_whole & mask).bit_count() + (days.u_half & mask).bit_count()
            if halves:
                result.append(QuarterU(q, halves, self.quarter_days[q]))
        return result


def _halves(days: float) -> int:
    # 7 days → 14 half days; a threshold of 7.25 days is reached only at 7.5.
    whole, rest = divmod(days * 2, 1)
    return int(whole) + (1 if rest else 0)


__all__ = [
    "ABSENT_CODES",
    "CODES",
    "COMES_GOES_CODES",
    "CONTACT_PARENTS",
    "END_OF_DAY",
    "HALF_DAY_GRADES",
    "KIND_ABSENT",
    "KIND_COMES_GOES",
    "KIND_END_U",
    "KIND_U",
    "MORNING",
    "NOTIFY_MUNICIPALITY",
    "RULES",
    "TASK_TITLES",
    "WARN_PARENTS",
    "AbsenceRules",
    "CalendarLayer",
    "Detector",
    "EpisodeHit",
    "HolidayPeriod",
    "PupilDays",
    "QuarterU",
    "SchoolCalendar",
    "default_holiday_periods",
    "national_tasks",
    "parse_period",
    "period_name",
    "previous_quarter",
    "quarter_bounds",
    "quarter_of",
    "summer_holiday",
]
