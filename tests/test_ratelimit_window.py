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


def _limiter(clock, pace_from=0.5):
    return RateLimiter(clock=clock, sleep=clock.sleep, margin=0.5, reserve=0, pace_from=pace_from)


def _hard_limiter(clock):
    """Without the pacing (tested below), so that the waits are those of Xero's window alone."""
    return _limiter(clock, pace_from=None)


def _call(limiter, remaining=None):
    with limiter.slot("t") as slot:
        if remaining is not None:
            slot.observe({"X-MinLimit-Remaining": str(remaining)})


def test_zero_left_waits_for_the_oldest_call_to_age_out_not_a_full_window():
    clock = FakeClock()
    limiter = _hard_limiter(clock)
    _call(limiter)                  # t=1000: our oldest call in Xero's window
    clock.now += 40
    _call(limiter, remaining=0)     # t=1040: Xero says nothing is left (other calls count too)
    _call(limiter)
    # The t=1000 call leaves Xero's window at 1060: the wait is ~20 s, not 60 s from 1040.
    assert clock.slept and abs(sum(clock.slept) - 20.5) < 0.01, clock.slept


def test_each_aged_out_call_gives_one_back():
    clock = FakeClock()
    limiter = _hard_limiter(clock)
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
    limiter = _hard_limiter(clock)
    limiter._tenant("t").minute.observe(0, clock.now, 0)  # another process used the minute up
    _call(limiter)
    assert abs(sum(clock.slept) - 60.5) < 0.01, clock.slept


def _burst(limiter, clock, n):
    """n calls as fast as the limiter lets them through; their start times."""
    starts = []
    for _ in range(n):
        with limiter.slot("t"):
            starts.append(clock.now)
    return starts


def test_past_half_the_minute_calls_are_spaced_so_no_wait_is_long():
    clock = FakeClock()
    limiter = _limiter(clock)
    starts = _burst(limiter, clock, 150)
    # the first half of the minute goes at once, then the rest is spread over the time until
    # the burst ages out: no wait over about two seconds (unpaced: 60 s, see below)
    assert starts[29] == starts[0] == 1000.0
    assert max(clock.slept) <= 2.05, max(clock.slept)
    # and Xero's own limit still holds: never 60 calls inside one minute
    assert all(b - a > 60 for a, b in zip(starts, starts[60:]))
    # the long-run rate is Xero's (60 in each 60.5 s window), not less
    assert starts[-1] - starts[0] < 1.05 * (2 * 60.5), starts[-1] - starts[0]  # unpaced: 121 s


def test_unpaced_the_same_burst_waits_for_a_whole_window():
    clock = FakeClock()
    limiter = _hard_limiter(clock)
    _burst(limiter, clock, 61)
    assert max(clock.slept) > 59, clock.slept  # what the pacing spares a cron run


def test_calls_of_other_processes_seen_in_xero_headers_start_the_pacing():
    clock = FakeClock()
    limiter = _limiter(clock)
    _call(limiter, remaining=25)  # Xero counts 35 calls this minute: past half of 60
    _call(limiter)
    # 25 left, spread over the time until our call ages out, but no more than the paced
    # share's even spacing (the other processes' calls may age out first)
    assert len(clock.slept) == 1 and abs(clock.slept[0] - 60.5 / 30) < 1e-9, clock.slept


def test_wait_estimate_tells_the_wait_without_taking_a_call():
    clock = FakeClock()
    limiter = _limiter(clock)
    _burst(limiter, clock, 30)
    before = limiter.stats("t")["calls"]
    gap = 60.5 / 30  # the 30 calls left spread until the first ages out
    assert abs(limiter.wait_estimate("t") - gap) < 1e-9
    assert abs(limiter.wait_estimate("t") - gap) < 1e-9  # asking twice spends nothing
    assert limiter.stats("t")["calls"] == before
    clock.now += 0.4
    assert abs(limiter.wait_estimate("t") - (gap - 0.4)) < 1e-9
    _call(limiter)
    assert abs(clock.slept[-1] - (gap - 0.4)) < 1e-9


def test_after_xero_said_nothing_left_the_pacing_adds_at_most_a_spacing_to_the_hard_waits():
    def run(make):
        clock = FakeClock()
        limiter = make(clock)
        _call(limiter)
        clock.now += 40
        _call(limiter, remaining=0)
        for _ in range(3):
            _call(limiter)
        return clock.slept

    hard, paced = run(_hard_limiter), run(_limiter)
    assert len(hard) == len(paced) and hard[0] == 20.5
    assert all(h <= p <= h + 60.5 / 30 + 1e-9 for h, p in zip(hard, paced)), (hard, paced)


def test_a_caller_spacing_its_own_calls_is_not_paced_but_xero_s_window_still_holds():
    clock = FakeClock()
    limiter = _limiter(clock)
    _burst(limiter, clock, 45)  # past half the minute: paced calls are spread now
    assert limiter.wait_estimate("t") > 1
    slept = len(clock.slept)
    with limiter.slot("t", paced=False):
        pass
    assert len(clock.slept) == slept, "an unpaced call goes at once while calls are left"
    for _ in range(14):  # the minute's 60 used up, unpaced
        with limiter.slot("t", paced=False):
            pass
    assert len(clock.slept) == slept
    with limiter.slot("t", paced=False):
        pass  # the 61st waits for the oldest call to age out, paced or not
    assert clock.slept[slept:] and clock.now - 1000.0 >= 60, clock.slept[slept:]
