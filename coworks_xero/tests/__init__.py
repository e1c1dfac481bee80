from . import test_foundation
from . import test_sync_engine
from . import test_oauth
from . import test_payments
from . import test_tour
from . import test_customers
from . import test_documents
from . import test_scenario
