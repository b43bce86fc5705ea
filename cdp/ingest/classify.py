"""Data category of each incoming trait: declared traits from the data dictionary, undeclared ones
stored under `user.unclassified` until PII detection classifies them."""

from __future__ import annotations

from dataclasses import dataclass

from cdp.dictionary import dictionary


@dataclass
class TraitClassifier:
    declared: dict[str, str]
    undeclared: str

    @classmethod
    def default(cls) -> TraitClassifier:
        fields = dictionary()
        return cls({n: spec.category for n, spec in fields.traits.items()}, fields.undeclared_trait.category)

    def category(self, name: str, value: object) -> str:
        return self.declared.get(name, self.undeclared)
