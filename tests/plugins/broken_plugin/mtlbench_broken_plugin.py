"""A deliberately broken plugin: it imports a module that does not exist."""

import mtlbench_dependency_that_is_not_installed  # noqa: F401
