# OAuth callback and Xero webhooks are added by the connection issue.
from . import oauth
