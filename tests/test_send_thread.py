"""services/send_thread.py: the bridge that keeps a batch's database calls on the worker's thread."""
import threading

import pytest

from coworks_xero.services import send_thread

def test_database_calls_of_a_send_run_on_the_owning_thread():
    bridge = send_thread.Bridge()
    owner = threading.get_ident()
    seen = []

    def on_owner(x):
        seen.append(threading.get_ident())
        return x * 2

    def send():
        assert send_thread.current_bridge() is bridge
        assert threading.get_ident() != owner
        return [send_thread.current_bridge().call(on_owner, n) for n in range(3)]

    thread = send_thread.Send(bridge, send)
    thread.start()
    assert bridge.wait(thread) == [0, 2, 4]
    assert seen == [owner] * 3
    assert send_thread.current_bridge() is None


def test_errors_go_back_to_whoever_asked():
    bridge = send_thread.Bridge()

    def fails():
        raise LookupError("no tokens")

    def send():
        with pytest.raises(LookupError):
            bridge.call(fails)
        raise ValueError("the send broke")

    thread = send_thread.Send(bridge, send)
    thread.start()
    with pytest.raises(ValueError, match="the send broke"):
        bridge.wait(thread)


def test_a_call_on_the_owning_thread_runs_at_once():
    assert send_thread.Bridge().call(lambda: 7) == 7
