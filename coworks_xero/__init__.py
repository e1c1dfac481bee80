# services/ is plain Python that the tests and the emulator tools import without Odoo; the Odoo
# parts load only when Odoo imports this package as an addon.
if __name__.startswith("odoo.addons."):
    from . import models
    from . import controllers
