"""Initializers: the catalog (Keras 3 names and formulas), initialization by role, and a user's own.

- catalog.py: the entries, and parsing what the user asks for (no torch);
- formulas.py: drawing one weight with given fans, and the std each formula promises;
- by_role.py: `initialize`, which sets every parameter of a model by its role (models/roles.py);
- user.py: a user's initializer, `FILE.py:NAME`, loaded as a model file is.

Importing this package does not import torch.
"""

from initdash.initializers.by_role import (
    DEFAULT_ROLES,
    LEFT,
    Assignment,
    fill,
    init_weight,
    initialize,
    lsuv,
)
from initdash.initializers.catalog import (
    ALIASES,
    CATALOG,
    DEFAULT_INITIALIZERS,
    TRUNCATION_STD_CORRECTION,
    Initializer,
    InitSpec,
    catalog_lines,
    known_names,
    parse_list,
    parse_spec,
)

__all__ = ["ALIASES", "CATALOG", "DEFAULT_INITIALIZERS", "DEFAULT_ROLES", "LEFT", "TRUNCATION_STD_CORRECTION",
           "Assignment", "InitSpec", "Initializer", "catalog_lines", "fill", "init_weight", "initialize",
           "known_names", "lsuv", "parse_list", "parse_spec"]
