"""Benchmark log redaction: records per second through the `RedactingFilter` every log record passes.

Messages are a mix of what the app logs: short status lines, model-client debug lines with URLs and
headers, an upstream error quoting a key, and a long agent message. Prints records per second.

    python benchmarks/redaction.py --records 20000
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from magentic_tasks.redaction import RedactingFilter, Redactor  # noqa: E402

MESSAGES = (
    ("task %s could not be started: %s", ("2b0c-41", "ConnectionError: cannot reach the host")),
    ("HTTP Request: POST %s \"HTTP/1.1 200 OK\"", ("https://example.openai.azure.com/openai/deployments/gpt-4o/chat"
                                                  "/completions?api-version=2024-10-21",)),
    ("Request options: %s", ("{'method': 'post', 'headers': {'api-key': '0123456789abcdef0123456789abcdef'}}",)),
    ("upstream error: %s", ("Error code: 401 - Incorrect API key provided: sk-proj-Abc123def456ghi789jkl012mno",)),
    ("agent message: %s", ("Plan:\n" + "exit_code = run(task)  # risk-free skeleton, see desk-lamp\n" * 40,)),
)


def run(records: int, filter_: logging.Filter) -> float:
    made = [
        logging.LogRecord("bench", logging.INFO, __file__, 1, msg, args, None)
        for n in range(records)
        for msg, args in (MESSAGES[n % len(MESSAGES)],)
    ]
    start = time.perf_counter()
    for record in made:
        filter_.filter(record)
    return records / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    scrub = RedactingFilter(Redactor(["canary-azure-key-0123456789", "sk-canary-openai-0123456789abcdef"]))
    rates = sorted(run(args.records, scrub) for _ in range(5))
    median, low, high = rates[2], rates[0], rates[-1]
    print(f"{args.records} records x 5 runs: median {median:,.0f} records/s (min {low:,.0f}, max {high:,.0f})")


if __name__ == "__main__":
    main()
