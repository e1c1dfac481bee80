from . import test_foundation
from . import test_sync_engine
from . import test_sync_log
