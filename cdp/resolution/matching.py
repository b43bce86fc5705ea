"""Probabilistic matching of customer records with Splink (DuckDB backend, in memory).

Records are plain dicts (one per customer) that exist only in this process: DuckDB runs in memory with its
temp directory switched off, so nothing it holds can spill to disk. The model is trained with EM on the
records themselves (no labels) and can be saved as JSON (m/u probabilities per comparison level: aggregate
figures, no values) to score new records later without retraining.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.internals.exceptions import EMTrainingException

FIELDS = ("first_name", "last_name", "birthday", "city", "postal_code", "address", "phone", "email")
# Fields whose agreement says "the same person" on their own; auto-merge needs several of them to agree.
STRONG_FIELDS = ("email", "phone", "birthday", "address")
AGREE_WEIGHT = 4.0  # a field "agrees" when it alone makes a match 16 times likelier
TF_FIELDS = ("first_name", "last_name", "city")
BLOCKING = (
    ("last_name", "birthday"),
    ("first_name", "birthday"),
    ("first_name", "last_name"),
    ("last_name", "postal_code"),
    ("first_name", "postal_code"),
    ("postal_code", "address"),
    ("birthday", "postal_code"),
    ("phone",),
    ("email",),
    # A mistyped address keeps its domain and the digits of its local part, perhaps in another order
    # (anna.lee85@ vs ana.lee85@ or anna.lee58@): without this rule the email typo levels would never see
    # such a pair unless the names or birthday also blocked it.
    ("email_typo_key",),
)
# EM passes block on pairs of fields that strangers rarely share: a pass on names alone is mostly namesakes,
# and EM would learn that a person's birthday and address often differ.
TRAINING = (("last_name", "birthday"), ("postal_code", "address"))
QUIET = logging.ERROR  # Splink logs training chatter (untrained levels) as warnings; failures still raise
_SPACE = re.compile(r"\s+")


class NotEnoughData(ValueError):
    """The store has too few similar customers to train a model on."""


@dataclass(frozen=True)
class Match:
    left: str
    right: str
    probability: float
    explanation: dict[str, dict[str, Any]]  # field -> {"weight": match weight, "level": agrees|similar|...}

    def agreeing_strong_fields(self) -> list[str]:
        return [f for f in STRONG_FIELDS if self.explanation.get(f, {}).get("level") == "agrees"]


def in_memory_duckdb() -> duckdb.DuckDBPyConnection:
    """DuckDB in memory that never writes a temporary file (an empty temp_directory disables spilling)."""
    return duckdb.connect(":memory:", config={"temp_directory": ""})


def _clean(text: object) -> str | None:
    if text is None:
        return None
    value = unicodedata.normalize("NFKD", str(text))
    value = "".join(c for c in value if not unicodedata.combining(c))
    value = _SPACE.sub(" ", value).strip().lower()
    return value or None


def record(unique_id: str, fields: dict[str, object]) -> dict[str, Any]:
    """A record as the model compares it: accents folded, lower case, postcodes and phones compacted."""
    row: dict[str, Any] = {"unique_id": unique_id}
    for name in FIELDS:
        value = _clean(fields.get(name))
        if value is not None and name in ("postal_code", "phone"):
            value = re.sub(r"[^0-9a-z]", "", value)
        if value is not None and name == "birthday":
            value = value[:10]
        row[name] = value or None
    row["email_characters"], row["email_typo_key"] = _typo_keys(row["email"])
    return row


def _typo_keys(email: str | None) -> tuple[str | None, str | None]:
    """What a slip of the keyboard leaves alone, computed once per record rather than once per pair: all the
    characters of the address (sorted: equal when two were swapped), and the domain with the sorted digits
    of the local part (no key when it has no digits: a domain alone would block every pair on it)."""
    if email is None:
        return None, None
    local, _, domain = email.rpartition("@")
    digits = "".join(sorted(c for c in local if c.isdigit()))
    return "".join(sorted(email)), f"{digits}@{domain}" if digits else None


def _email_comparison() -> cl.CustomComparison:
    """Not Splink's EmailComparison: its fuzzy levels reward two namesakes' name-based addresses, which the
    name comparisons already count. Here only typos count, each level with its own learned weight: two
    neighbouring characters swapped (the same characters, at most two edits: anna.lee85@ vs anna.lee58@ or
    anan.lee85@), then any other slip of at most two edits that keeps the digits. Levenshtein on an anagram,
    not Damerau-Levenshtein: the latter is ~60x slower in DuckDB."""
    same_characters = cll.CustomLevel("email_characters_l = email_characters_r")
    same_digits = cll.CustomLevel(
        "regexp_replace(email_l, '[^0-9]', '', 'g') = regexp_replace(email_r, '[^0-9]', '', 'g')"
    )
    return cl.CustomComparison(
        output_column_name="email",
        comparison_levels=[
            cll.NullLevel("email"),
            cll.ExactMatchLevel("email"),
            cll.And(cll.LevenshteinLevel("email", 2), same_characters).configure(
                label_for_charts="swapped characters (same characters, at most two edits)"
            ),
            cll.And(cll.LevenshteinLevel("email", 2), same_digits).configure(
                label_for_charts="typo (at most two edits, same digits)"
            ),
            cll.ElseLevel(),
        ],
    )


def settings() -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("last_name").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("birthday", input_is_string=True),
            cl.ExactMatch("city").configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("postal_code", [1]),
            cl.JaroWinklerAtThresholds("address", [0.9, 0.8]),
            cl.LevenshteinAtThresholds("phone", [1, 2]),
            _email_comparison(),
        ],
        blocking_rules_to_generate_predictions=[block_on(*rule) for rule in BLOCKING],
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=False,
    )


class Matcher:
    """One Splink linker over one set of records, in an in-memory DuckDB."""

    def __init__(self, records: Sequence[dict[str, Any]], model: dict[str, Any] | None = None) -> None:
        self.connection = in_memory_duckdb()
        self.api = DuckDBAPI(self.connection)
        self.table = self.api.register(list(records), table_name="customers")
        self.linker = Linker(self.table, model if model is not None else settings(), log_level=QUIET)
        self._runs: list[int] = []
        self.trained = model is not None

    def train(self, *, seed: int = 1) -> None:
        """EM on the records themselves: u from random pairs, m from blocking passes, no labels. Records that
        share an email or phone are already one customer, so the passes block on names, birthday, address."""
        training = self.linker.training
        training.estimate_probability_two_random_records_match(
            [block_on("first_name", "last_name", "birthday"), block_on("last_name", "address", "postal_code")],
            recall=0.6,
        )
        training.estimate_u_using_random_sampling(max_pairs=1e6, seed=seed)
        learned = 0
        for rule in TRAINING:
            before = self.model()
            try:
                training.estimate_parameters_using_expectation_maximisation(
                    block_on(*rule), fix_probability_two_random_records_match=True
                )
                learned += 1
            except (EMTrainingException, ValueError):
                # Too few pairs under this rule, or EM diverged (an m underflowed): a failed pass leaves the
                # model half-updated, so it goes back to the state before the pass.
                self.linker = Linker(self.table, before, log_level=QUIET)
                training = self.linker.training
        if not learned:
            raise NotEnoughData("no training pass found record pairs to learn from")
        self.trained = True

    def model(self) -> dict[str, Any]:
        return self.linker.misc.save_model_to_json()

    def predict(self, min_probability: float) -> list[Match]:
        """Every blocked pair at or above the probability, with its per-field explanation."""
        result = self.linker.inference.predict(threshold_match_probability=min_probability)
        return self._matches(result)

    def predict_for(self, unique_ids: Iterable[str], min_probability: float) -> list[Match]:
        """Only pairs that involve these records (incremental runs): the others against candidates from
        blocking, never the whole store against itself."""
        wanted = sorted(set(unique_ids))
        if not wanted:
            return []
        for name in TF_FIELDS:
            self.linker.table_management.compute_tf_table(name)
        self.connection.execute("create or replace temp table wanted_ids (unique_id varchar)")
        self.connection.executemany("insert into wanted_ids values (?)", [[i] for i in wanted])
        source = self.table.physical_name
        for name, op in (("new_records", "in"), ("existing_records", "not in")):
            self.connection.execute(
                f"create or replace temp table {name} as "
                f"select * from {source} where unique_id {op} (select unique_id from wanted_ids)"
            )
        new = self.api.register("new_records", table_name=f"new_{len(self._runs)}")
        old = self.api.register("existing_records", table_name=f"existing_{len(self._runs)}")
        self._runs.append(len(wanted))
        result = self.linker.inference.predict_between(
            new, old, threshold_match_probability=min_probability, warning_mode="never"
        )
        within = self.linker.inference.predict_within(
            new, threshold_match_probability=min_probability, warning_mode="never"
        )
        return self._matches(result) + self._matches(within)

    def close(self) -> None:
        self.connection.close()

    def _matches(self, result: Any) -> list[Match]:  # noqa: ANN401 - a SplinkDataFrame
        rows = result.as_record_list()
        matches = []
        for row in rows:
            explanation = {}
            for name in FIELDS:
                weight = (row.get(f"mw_{name}") or 0.0) + (row.get(f"mw_tf_adj_{name}") or 0.0)
                explanation[name] = {"weight": round(weight, 2), "level": _level(weight)}
            left, right = sorted((str(row["unique_id_l"]), str(row["unique_id_r"])))
            matches.append(Match(left, right, float(row["match_probability"]), explanation))
        return matches


def _level(weight: float) -> str:
    """The comparison's verdict, read from its match weight: a null comparison weighs exactly 0."""
    if weight >= AGREE_WEIGHT:
        return "agrees"
    if weight > 0:
        return "similar"
    return "missing" if weight == 0 else "differs"


def dumps(explanation: dict[str, dict[str, Any]]) -> str:
    return json.dumps(explanation, separators=(",", ":"), sort_keys=True)
