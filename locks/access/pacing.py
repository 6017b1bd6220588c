"""Pacing: one sync run keeps each vendor within the rate its adapter declares (`operations_per_second`).

A burst of members drains in one run (locks.access.jobs takes the queued members), so a run may hold
hundreds of operations for one vendor: without pacing, a vendor with a rate limit (KISI: 5 requests/s)
answers 429 and the whole run waits for the retry.
"""

import time
from collections.abc import Callable


class Pacer:
    """Spaces out operations at one connection: at most `per_second` start in any second (None: no limit)."""

    def __init__(
        self,
        per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = 1 / per_second if per_second else 0.0
        self.clock, self.sleep = clock, sleep
        self.next_at = 0.0

    def wait(self) -> None:
        """Return when the next operation may start."""
        if not self.interval:
            return
        now = self.clock()
        if self.next_at > now:
            self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.interval
