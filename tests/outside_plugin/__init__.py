"""Plugins from outside the platform, as a county or a partner would ship them in its own package.

They use only the public plugin API (``safetynet.hookimpl``, ``safetynet.model``, ``safetynet.rules``)
and live outside ``plugins/``: the tests register them with ``make_runtime(extra_plugins=[...])``.
"""
