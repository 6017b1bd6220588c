"""A sync run stays within the vendor's declared rate (locks.access.pacing); a fake clock, no sleeping."""

from locks.access.pacing import Pacer


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_operations_are_spaced_to_the_declared_rate():
    clock = FakeClock()
    pacer = Pacer(5, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        pacer.wait()
    assert clock.slept == [0.2, 0.2, 0.2]  # the first goes at once, then five per second


def test_time_already_spent_on_the_call_counts():
    clock = FakeClock()
    pacer = Pacer(5, clock=clock, sleep=clock.sleep)
    pacer.wait()
    clock.now += 0.15  # the vendor took 150 ms to answer
    pacer.wait()
    assert clock.slept == [0.05]


def test_no_declared_limit_never_waits():
    clock = FakeClock()
    pacer = Pacer(None, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        pacer.wait()
    assert clock.slept == []
