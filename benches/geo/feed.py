#!/usr/bin/env python3
"""Writes a CSV file to stdout at a fixed pace, as a stream would arrive (benches/geo/run.sh).

Usage: feed.py FILE ROWS_PER_SECOND > pipe

The header goes out at once; data line i is written no earlier than i / ROWS_PER_SECOND seconds
after the start (in slices of about 2 ms). Prints the achieved pace to stderr at the end, so the
caller can check the feeder kept up (run.sh's report assumes it did).
"""
import fcntl
import sys
import time

F_SETPIPE_SZ = 1031
TICK_S = 0.002


def main() -> None:
    path, rate = sys.argv[1], float(sys.argv[2])
    data = open(path, "rb").read()
    out = sys.stdout.buffer
    try:  # a 1 MiB pipe: the reader never waits on pipe capacity, only on the pace
        fcntl.fcntl(out.fileno(), F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass
    pos = data.index(b"\n") + 1
    out.write(data[:pos])
    out.flush()
    sent, start = 0, time.monotonic()
    while pos < len(data):
        due = int((time.monotonic() - start) * rate)
        end = pos
        while sent < due and end < len(data):
            end = data.find(b"\n", end) + 1 or len(data)
            sent += 1
        if end > pos:
            out.write(data[pos:end])
            out.flush()
            pos = end
        time.sleep(TICK_S)
    elapsed = time.monotonic() - start
    out.close()
    print(f"feed.py: {sent:,} rows in {elapsed:.2f} s = {sent / elapsed:,.0f} rows/s "
          f"(target {rate:,.0f})", file=sys.stderr)


if __name__ == "__main__":
    main()
