from . import oauth
from . import webhooks
from . import qbo_oauth
from . import qbo_webhooks
