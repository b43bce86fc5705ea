"""The data dictionary (policies/fields.yaml), loaded once per process."""

from __future__ import annotations

from functools import lru_cache

from policies.dictionary import DataDictionary, load_dictionary


@lru_cache(maxsize=1)
def dictionary() -> DataDictionary:
    return load_dictionary()
