#!/usr/bin/env python3
"""Finds server errors in the server's JSON log.

Usage: server_errors.py LOG

Reads the JSON lines the server writes with `--log-format json` and reports every request
that was answered with a 5xx: any field named `status_code` or ending in `.status_code`
(the request span's `http.status_code`), at any depth, with a value from 500 to 599, and
every "request handler panicked" event. Lines that are not JSON are ignored.

Prints what it found; exit status 1 when there is a server error, 0 when there is none,
2 on a usage error.
"""
import json
import sys


def status_codes(value):
    """Every (key, number) pair whose key names a status code, at any depth."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if (key == "status_code" or key.endswith(".status_code")) and isinstance(inner, (int, str)):
                yield key, inner
            else:
                yield from status_codes(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from status_codes(inner)


def server_errors(lines):
    found = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "panicked" in str(record.get("message", "")):
            found.append((number, "panic", line.strip()))
        for key, code in status_codes(record):
            try:
                code = int(code)
            except ValueError:
                continue
            if 500 <= code <= 599:
                found.append((number, f"{key}={code}", line.strip()))
    return found


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
        found = server_errors(f)
    for number, what, line in found:
        print(f"line {number}: {what}: {line[:500]}")
    print(f"{len(found)} server error(s) in {sys.argv[1]}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
