#!/usr/bin/env python3
"""The project's iCalendar (RFC 5545) feed checker: reads a feed the way calendar clients do.

Usage: check_ics.py FILE.ics

Checks that the feed
  - is CRLF-terminated and folded at 75 octets (RFC 5545 3.1), and parses;
  - has VERSION:2.0 and a PRODID;
  - gives every VEVENT a UID (unique), DTSTAMP and DTSTART, a DTEND after its DTSTART, an
    integer SEQUENCE when present, and a STATUS from the RFC's list when present;
  - defines a VTIMEZONE for every TZID it uses;
  - can be expanded into occurrences (recurring-ical-events, as clients do for a time range).

Prints a JSON summary {"events", "problems"}; exit status 0 when there is no problem, 1 when
there is one, 2 on a usage error.
"""
import datetime
import json
import sys

import icalendar
import recurring_ical_events

STATUSES = {"TENTATIVE", "CONFIRMED", "CANCELLED"}


def line_problems(raw):
    problems = []
    if not raw.endswith(b"\r\n"):
        problems.append("the feed does not end with CRLF")
    lines = raw.split(b"\r\n")
    if any(b"\n" in line or b"\r" in line for line in lines):
        problems.append("a line is not CRLF-terminated")
    long = [i + 1 for i, line in enumerate(lines) if len(line) > 75]
    if long:
        problems.append(f"lines longer than 75 octets (not folded): {long[:5]}")
    return problems


def event_problems(calendar):
    problems = []
    tzids = {str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")}
    seen = set()
    events = calendar.walk("VEVENT")
    for event in events:
        uid = str(event.get("UID", ""))
        name = f"VEVENT {uid or '?'}"
        for key in ("UID", "DTSTAMP", "DTSTART"):
            if key not in event:
                problems.append(f"{name} lacks {key}")
        if uid in seen:
            problems.append(f"{name}: UID used twice")
        seen.add(uid)
        start, end = event.get("DTSTART"), event.get("DTEND")
        if start is not None and end is not None and not end.dt > start.dt:
            problems.append(f"{name}: DTEND is not after DTSTART")
        for key in ("DTSTART", "DTEND"):
            prop = event.get(key)
            if prop is not None and "TZID" in prop.params and prop.params["TZID"] not in tzids:
                problems.append(f"{name}: {key} uses TZID {prop.params['TZID']} without a VTIMEZONE")
        if "SEQUENCE" in event:
            try:
                int(event["SEQUENCE"])
            except (TypeError, ValueError):
                problems.append(f"{name}: SEQUENCE is not an integer")
        if "STATUS" in event and str(event["STATUS"]) not in STATUSES:
            problems.append(f"{name}: STATUS {event['STATUS']} is not one of {sorted(STATUSES)}")
    return len(events), problems


def check(raw):
    problems = line_problems(raw)
    try:
        calendar = icalendar.Calendar.from_ical(raw)
    except ValueError as e:
        return 0, problems + [f"does not parse: {e}"]
    if str(calendar.get("VERSION", "")) != "2.0":
        problems.append("VCALENDAR lacks VERSION:2.0")
    if "PRODID" not in calendar:
        problems.append("VCALENDAR lacks PRODID")
    count, more = event_problems(calendar)
    problems += more
    try:
        now = datetime.datetime.now(datetime.timezone.utc)
        recurring_ical_events.of(calendar).between(now - datetime.timedelta(days=400),
                                                   now + datetime.timedelta(days=800))
    except Exception as e:  # noqa: BLE001 - any failure to expand is a problem of the feed
        problems.append(f"cannot be expanded into occurrences: {e}")
    return count, problems


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        count, problems = check(f.read())
    print(json.dumps({"file": sys.argv[1], "events": count, "problems": problems}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
