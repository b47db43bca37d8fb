"""The judge's checks, one module each; every module here is imported (discovered), which
registers its ``@judge_check``. A new check is a new module in this folder."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
