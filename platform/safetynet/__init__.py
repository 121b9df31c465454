"""safetynet: low-income population monitoring and tiered social assistance.

Plugins need only ``from safetynet import hookimpl``; see ``safetynet.hookspecs`` for the contract.
"""

from safetynet.hookspecs import hookimpl

__all__ = ["hookimpl"]
