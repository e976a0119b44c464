"""The drug catalog and the rating instruments: clinical reference data read from `definitions/`.

Every number carries its source; `verified: false` marks numbers the reference calls UNVERIFIED.
"""

from __future__ import annotations

import difflib
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pathway.yamlio import definitions_dir, load_model

Role = Literal["antidepressant", "augmentation"]


class _Frozen(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid", populate_by_name=True)


class AugmentationUse(_Frozen):
    """How a drug is judged when it is added to an antidepressant."""

    min_mg: float | None = Field(default=None, gt=0)
    min_serum_mmol_l: float | None = Field(default=None, gt=0)
    source: str
    verified: bool = True


class MaxDose(_Frozen):
    """The plausibility bound of a daily dose: a dose above it is refused as a typo (a mg/µg
    slip, an extra zero), not judged. `basis` names the documented maximum it comes from (the
    label maximum, else the top of the CANMAT range, each ×2 as headroom for documented high-dose
    practice such as APA's aripiprazole 30 mg against the label's 15); `verified: false` where the
    reference gives no maximum and the bound is derived from the minimum dose instead."""

    mg: float = Field(gt=0, allow_inf_nan=False)
    basis: str = Field(min_length=1)
    verified: bool = True


class Drug(_Frozen):
    """One drug: its class, minimum adequate daily dose, and the names it goes by."""

    name: str
    drug_class: str = Field(alias="class")
    min_adequate_mg: float | None = Field(default=None, gt=0)
    source: str | None = None
    verified: bool = True
    canmat_range_mg: tuple[float, float] | None = None
    brands: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    augmentation: AugmentationUse | None = None
    note: str | None = None
    max_daily_mg: MaxDose | None = None

    @model_validator(mode="after")
    def _has_a_use(self) -> Drug:
        if self.min_adequate_mg is None and self.augmentation is None:
            raise ValueError(f"drug '{self.name}' needs min_adequate_mg or augmentation")
        if self.min_adequate_mg is not None and not self.source:
            raise ValueError(f"drug '{self.name}' needs a source for min_adequate_mg")
        return self

    def min_dose(self, role: Role) -> float | None:
        """Minimum adequate mg/day in this role (None: judged by serum level, or no such use)."""
        if role == "antidepressant":
            return self.min_adequate_mg
        return self.augmentation.min_mg if self.augmentation else None


class Band(_Frozen):
    """A severity band of an instrument: scores `min`..`max` inclusive."""

    min: int
    max: int
    label: str
    severity: Literal["subsyndromal", "mild", "moderate", "severe"]


class Instrument(_Frozen):
    """A rating scale or screen and its valid score range."""

    name: str
    kind: Literal["measurement", "screen"]
    range: tuple[int, int]
    bands: tuple[Band, ...] = ()
    source: str
    verified: bool = True
    # where the bands' `severity` (for Maudsley staging) comes from
    severity_source: str | None = None
    severity_verified: bool = True


class RxNormCode(_Frozen):
    """An RxNorm clinical drug: the catalog drug it is and its strength per unit."""

    drug: str
    mg: float = Field(gt=0)
    unit: Literal["unit", "mL", "patch"] = "unit"


class RxNormTable(_Frozen):
    """RxNorm codes of the catalog's drugs, generated from a value-set expansion (cited)."""

    source: str
    codes: dict[str, RxNormCode] = {}


class Catalog(_Frozen):
    """Drugs and instruments, looked up case-insensitively by generic name, brand or alias."""

    drugs: tuple[Drug, ...]
    instruments: tuple[Instrument, ...]
    rxnorm: dict[str, RxNormCode] = {}

    @cached_property
    def _names(self) -> dict[str, Drug]:
        out: dict[str, Drug] = {}
        for d in self.drugs:
            for n in (d.name, *d.brands, *d.aliases):
                out[n.casefold()] = d
        return out

    @cached_property
    def drug_uses(self) -> dict[tuple[str, str], Any]:
        """Drugs as trials of them are judged, by (name as recorded, role): filled on first use
        by `pathway.trials`; it lives and dies with this catalog."""
        return {}

    @cached_property
    def instrument_by_name(self) -> dict[str, Instrument]:
        return {i.name: i for i in self.instruments}

    def drug(self, name: str) -> Drug | None:
        """The drug a name (generic, brand or alias) refers to, or None."""
        return self._names.get(name.strip().casefold())

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """Closest catalog names to an unknown drug name."""
        hits = difflib.get_close_matches(name.strip().casefold(), self._names, n=n, cutoff=0.6)
        return [self._names[h].name if h == self._names[h].name else h for h in hits]


class _DrugFile(_Frozen):
    sources: dict[str, str] = {}
    drugs: tuple[Drug, ...]
    rxnorm: RxNormTable | None = None

    @model_validator(mode="after")
    def _rxnorm_names_drugs(self) -> _DrugFile:
        names = {d.name for d in self.drugs}
        bad = sorted(
            c for c, r in (self.rxnorm.codes if self.rxnorm else {}).items() if r.drug not in names
        )
        if bad:
            raise ValueError(f"rxnorm codes name drugs not in the catalog: {', '.join(bad)}")
        return self


class _InstrumentFile(_Frozen):
    instruments: tuple[Instrument, ...]


def load_catalog(drugs: Path | None = None, instruments: Path | None = None) -> Catalog:
    """Read a drug catalog and an instrument file (defaults: the shipped ones)."""
    base = definitions_dir()
    d = load_model(_DrugFile, drugs or base / "drugs.yaml")
    i = load_model(_InstrumentFile, instruments or base / "instruments.yaml")
    rx = d.rxnorm.codes if d.rxnorm else {}
    return Catalog(drugs=d.drugs, instruments=i.instruments, rxnorm=rx)


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The shipped catalog, read once."""
    return load_catalog()
