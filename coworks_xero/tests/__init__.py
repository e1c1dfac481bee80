from . import test_foundation
from . import test_sync_engine
from . import test_oauth
from . import test_payments
from . import test_tour
