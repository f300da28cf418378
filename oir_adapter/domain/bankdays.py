"""Danish bank days: when a payment can settle, so when a due date or SRB really falls.

A bank day is a weekday on which Danish banks (and Danmarks Nationalbank's settlement
systems) are open. Closed are Saturdays, Sundays, the Danish public holidays as the
``holidays`` package knows them (:func:`public_holidays`: New Year's Day, Maundy Thursday, Good Friday, Easter
Monday, Great Prayer Day until its abolition after 2023, Ascension Day, Whit Monday,
Christmas Day, Boxing Day — Easter Sunday and Whit Sunday fall on Sundays anyway), and
the extra bank closing days Danish banks observe although they are not public holidays:

- the Friday after Ascension Day,
- Constitution Day (Grundlovsdag, 5 June),
- Christmas Eve (24 December),
- New Year's Eve (31 December).

1 May (Workers' Day) is **not** a bank closing day: banks are open.

A due date or an SRB that falls on a closing day moves to the next bank day
(:func:`next_bank_day`); the rule catalogue uses that to decide when an SRB has passed.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

_ONE_DAY = timedelta(days=1)

#: Bank closing days that are not Danish public holidays, as (month, day).
FIXED_EXTRA_CLOSING_DAYS: dict[tuple[int, int], str] = {
    (6, 5): "Grundlovsdag",
    (12, 24): "Juleaftensdag",
    (12, 31): "Nytårsaftensdag",
}


def public_holidays(year: int) -> dict[date, str]:
    """Denmark's public holidays of ``year`` with their Danish names, as the ``holidays``
    package knows them. It is imported on the first call (in a server worker, the first
    claim's dates): it costs ~11 MB, which a worker that only reads never pays."""
    import holidays

    public = holidays.country_holidays("DK", years=year, language="da")
    return {day: str(name) for day, name in sorted(public.items())}


def bank_holidays(year: int) -> dict[date, str]:
    """Every named bank closing day of ``year`` (weekends aside) with its Danish name."""
    closed = public_holidays(year)
    for (month, day), name in FIXED_EXTRA_CLOSING_DAYS.items():
        closed.setdefault(date(year, month, day), name)
    # Ascension Day is Easter Sunday + 39 days; the banks close the Friday after it too.
    closed.setdefault(easter_sunday(year) + timedelta(days=40), "Dagen efter Kristi himmelfartsdag")
    return dict(sorted(closed.items()))


def easter_sunday(year: int) -> date:
    """Western Easter Sunday (anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


@cache
def _closing_days(year: int) -> frozenset[date]:
    return frozenset(bank_holidays(year))


def is_bank_day(day: date) -> bool:
    """A weekday on which Danish banks are open."""
    return day.weekday() < 5 and day not in _closing_days(day.year)


def next_bank_day(day: date) -> date:
    """``day`` itself when it is a bank day, otherwise the first bank day after it."""
    while not is_bank_day(day):
        day += _ONE_DAY
    return day


def previous_bank_day(day: date) -> date:
    """``day`` itself when it is a bank day, otherwise the last bank day before it."""
    while not is_bank_day(day):
        day -= _ONE_DAY
    return day


def add_bank_days(day: date, n: int) -> date:
    """The ``n``-th bank day after ``day`` (before it when ``n`` is negative).

    ``day`` itself need not be a bank day and is never counted; ``n == 0`` rolls a
    closing day forward to the next bank day, like a due date.
    """
    if n == 0:
        return next_bank_day(day)
    step = _ONE_DAY if n > 0 else -_ONE_DAY
    remaining = abs(n)
    while remaining:
        day += step
        if is_bank_day(day):
            remaining -= 1
    return day
