"""How a moment reads on the page, in e-mails and in responders' drafts and warnings."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from heliograph.lib.timefmt import day_text, local_clock, moment, posted_utc

EASTERN = ZoneInfo("America/New_York")


def test_it_writes_a_moment_in_the_page_zone_with_utc_beside_it() -> None:
    began = datetime(2021, 7, 8, 15, 57, tzinfo=UTC)  # PR-2142's impact began
    assert moment(began, EASTERN) == "Jul 08, 2021 11:57 AM EDT (15:57 UTC)"
    assert local_clock(datetime(2021, 7, 9, 17, 43, tzinfo=UTC), EASTERN) == "1:43 PM EDT"
    assert posted_utc(began) == "Jul 08, 2021 - 15:57 UTC"


def test_it_names_the_utc_day_when_it_is_another() -> None:
    late = datetime(2026, 11, 27, 3, 5, tzinfo=UTC)  # still Nov 26 in New York
    assert moment(late, EASTERN) == "Nov 26, 2026 10:05 PM EST (Nov 27 03:05 UTC)"


def test_it_reads_midnight_and_noon_as_people_say_them() -> None:
    assert local_clock(datetime(2026, 1, 5, 0, 4, tzinfo=UTC), ZoneInfo("UTC")) == "12:04 AM UTC"
    assert local_clock(datetime(2026, 1, 5, 12, 0, tzinfo=UTC), ZoneInfo("UTC")) == "12:00 PM UTC"
    assert day_text(date(2026, 12, 8)) == "Dec 08, 2026"
