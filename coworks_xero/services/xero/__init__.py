"""The Xero client: pure Python on xero-python, never imports odoo.

Import-light on purpose: import the submodules you need, e.g.
``from coworks_xero.services.xero.client import XeroClient, ClientConfig``.
"""
