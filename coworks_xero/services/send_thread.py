"""A batch's request sent from a thread while the cron worker prepares the next batch.

The send is network only: the provider's ``run`` builds the request from documents already
read, and waits for Xero. The one thing in it that can need the database is the token store
(load the tokens once, refresh them when Xero says they expired), and a thread must not use a
database cursor of its own here: the cron's transaction is the worker's, and in test mode every
new cursor wraps the test's one, held by the main thread. So a send thread hands such calls to
the thread that owns the batch (``Bridge.call``), which runs them while it waits for the send
to end (``Bridge.wait``). Plain Python; no Odoo import.
"""
import queue
import threading

_local = threading.local()


def current_bridge():
    """The bridge of the send thread running this code, or None (on the worker's own thread)."""
    return getattr(_local, "bridge", None)


class Bridge:
    """Runs on the owning thread what a send thread asks of the database."""

    def __init__(self):
        self.owner = threading.get_ident()
        self.requests = queue.Queue()

    def call(self, fn, *args):
        if threading.get_ident() == self.owner:
            return fn(*args)
        box = {"done": threading.Event()}
        self.requests.put((fn, args, box))
        box["done"].wait()
        if "error" in box:
            raise box["error"]
        return box["out"]

    def _serve(self, request):
        fn, args, box = request
        try:
            box["out"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that asked
            box["error"] = exc
        finally:
            box["done"].set()

    def wait(self, send):
        """Serve the send thread's requests until ``send`` ends (it posts ``_DONE`` last, so
        this wakes at once); its result (or its error)."""
        while True:
            request = self.requests.get()
            if request is _DONE:
                return send.outcome()
            self._serve(request)


_DONE = object()


class Send(threading.Thread):
    """``fn(*args)`` in a daemon thread with ``bridge`` as its database hand-off."""

    def __init__(self, bridge, fn, *args):
        super().__init__(daemon=True, name="coworks-xero-send")
        self.bridge, self.fn, self.args = bridge, fn, args
        self.done = threading.Event()
        self.result = self.error = None

    def run(self):
        _local.bridge = self.bridge
        try:
            self.result = self.fn(*self.args)
        except BaseException as exc:  # noqa: BLE001 - raised again on the owning thread
            self.error = exc
        finally:
            _local.bridge = None
            self.done.set()
            self.bridge.requests.put(_DONE)

    def outcome(self):
        if self.error is not None:
            raise self.error
        return self.result
