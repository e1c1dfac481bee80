"""The limiter's wait when Xero says no call is left: until the call that frees one ages out of
Xero's sliding minute, not a whole minute from the answer (issue: p95 56 s for one invoice)."""
from coworks_xero.services.xero.ratelimit import RateLimiter


class FakeClock:
    def __init__(self, now=1000.0):
        self.now = now
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def _limiter(clock):
    return RateLimiter(clock=clock, sleep=clock.sleep, margin=0.5, reserve=0)


def _call(limiter, remaining=None):
    with limiter.slot("t") as slot:
        if remaining is not None:
            slot.observe({"X-MinLimit-Remaining": str(remaining)})


def test_zero_left_waits_for_the_oldest_call_to_age_out_not_a_full_window():
    clock = FakeClock()
    limiter = _limiter(clock)
    _call(limiter)                  # t=1000: our oldest call in Xero's window
    clock.now += 40
    _call(limiter, remaining=0)     # t=1040: Xero says nothing is left (other calls count too)
    _call(limiter)
    # The t=1000 call leaves Xero's window at 1060: the wait is ~20 s, not 60 s from 1040.
    assert clock.slept and abs(sum(clock.slept) - 20.5) < 0.01, clock.slept


def test_each_aged_out_call_gives_one_back():
    clock = FakeClock()
    limiter = _limiter(clock)
    for _ in range(3):              # t=1000, 1001, 1002
        _call(limiter)
        clock.now += 1
    clock.now = 1030
    _call(limiter, remaining=0)     # t=1030: Xero counted all four, none left
    _call(limiter)                  # waits for the first (1000) to age out: ~1060.5
    assert abs(clock.now - 1060.5) < 0.01
    _call(limiter)                  # the second (1001) gives the next one back: ~1061.5
    assert abs(clock.now - 1061.5) < 0.01


def test_without_calls_of_ours_counted_the_whole_window_is_waited():
    clock = FakeClock()
    limiter = _limiter(clock)
    limiter._tenant("t").minute.observe(0, clock.now, 0)  # another process used the minute up
    _call(limiter)
    assert abs(sum(clock.slept) - 60.5) < 0.01, clock.slept
