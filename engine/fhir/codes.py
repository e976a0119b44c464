"""Code systems, extension URLs and code tables shared by FHIR import and export."""

from __future__ import annotations

from typing import Final

# Our own namespace for what R4 has no element or standard code for. A placeholder base until
# the project has a canonical URL; every extension and local code system hangs off it.
BASE: Final = "http://pathway.local/fhir"
CS_DRUG: Final = f"{BASE}/CodeSystem/drug"
CS_INSTRUMENT: Final = f"{BASE}/CodeSystem/instrument"
CS_CONTRIBUTOR: Final = f"{BASE}/CodeSystem/contributor"
CS_PROCEDURE: Final = f"{BASE}/CodeSystem/procedure"
CS_STOP_REASON: Final = f"{BASE}/CodeSystem/stop-reason"
CS_SEVERITY: Final = f"{BASE}/CodeSystem/severity"
CS_COMPONENT: Final = f"{BASE}/CodeSystem/component"
CS_OVERRIDE: Final = f"{BASE}/CodeSystem/override-reason"
CS_STATE: Final = f"{BASE}/CodeSystem/state"
EXT_ROLE: Final = f"{BASE}/StructureDefinition/trial-role"
EXT_ADHERENCE: Final = f"{BASE}/StructureDefinition/adherence"
EXT_SERUM: Final = f"{BASE}/StructureDefinition/serum-level-mmol-l"
EXT_SESSIONS: Final = f"{BASE}/StructureDefinition/sessions"
EXT_STATE: Final = f"{BASE}/StructureDefinition/current-state"
ID_PATIENT: Final = f"{BASE}/patient-id"
ID_USER: Final = f"{BASE}/user"  # a web app user or API token name (the access audit)
CS_ROLE: Final = f"{BASE}/CodeSystem/role"
CS_ACTION: Final = f"{BASE}/CodeSystem/audit-action"
PLAN_URL: Final = f"{BASE}/PlanDefinition"

LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
ICD10CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT: Final = "http://www.ama-assn.org/go/cpt"
UCUM: Final = "http://unitsofmeasure.org"
CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
OBS_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"

# shared/fhir/mapping.md: PHQ-9 total 44261-6, PHQ-9M 89204-2; AUDIT-C 75626-2.
LOINC_INSTRUMENT: Final = {"44261-6": "PHQ-9", "89204-2": "PHQ-9", "75626-2": "AUDIT-C"}
INSTRUMENT_LOINC: Final = {"PHQ-9": "44261-6", "AUDIT-C": "75626-2"}
# TSH 3016-3; 25-OH vitamin D 1989-3 / 62292-8; hemoglobin 718-7.
LOINC_LAB: Final = {
    "3016-3": "TSH",
    "1989-3": "vitamin_d_25oh",
    "62292-8": "vitamin_d_25oh",
    "718-7": "hemoglobin",
}
LAB_LOINC: Final = {"TSH": "3016-3", "vitamin_d_25oh": "1989-3", "hemoglobin": "718-7"}
# The record's lab units (shared/spec/patient-record.md) as UCUM codes, where they differ: the
# international unit is the UCUM atom `[IU]` (also `[iU]`), so "mIU/L" is written `m[IU]/L`;
# ng/mL, nmol/L, g/dL and g/L are UCUM codes as they stand.
UCUM_OF_UNIT: Final = {"mIU/L": "m[IU]/L"}
UNIT_OF_UCUM: Final = {"m[IU]/L": "mIU/L", "m[iU]/L": "mIU/L"}
MEASUREMENTS: Final = ("PHQ-9", "QIDS-SR16", "HAM-D17", "MADRS")
SCREENS: Final = ("MDQ", "STOP-Bang", "AUDIT-C", "CUDIT-R")
VALID_STATUS: Final = ("final", "amended", "corrected")

# shared/fhir/mapping.md: bipolar SNOMED 13746004, 371596008, 83225003; ICD-10-CM F31.x.
BIPOLAR_SNOMED: Final = frozenset({"13746004", "371596008", "83225003"})
# MDD: SNOMED 370143000, 36923009, 66344007; ICD-10-CM F32.x / F33.x (plus the CMS159 value
# sets, consulted by the importer).
MDD_SNOMED: Final = frozenset({"370143000", "36923009", "66344007"})
# ICD-10-CM chapter prefixes of the other contributors (category-level, no guessing inside).
CONTRIBUTOR_ICD10: Final = {
    "E03": "hypothyroidism",
    "G47.3": "sleep_apnea",
    "E55": "vitamin_d_deficiency",
    "D64": "anemia",
    "G89": "chronic_pain",
    "F10": "alcohol_use",
    "F12": "cannabis_use",
    "F11": "other_substance_use",
    "F13": "other_substance_use",
    "F14": "other_substance_use",
    "F15": "other_substance_use",
    "F16": "other_substance_use",
    "F18": "other_substance_use",
    "F19": "other_substance_use",
}
# CPT 90870 ECT; 90867 / 90868 / 90869 TMS.
CPT_PROCEDURE: Final = {"90870": "ECT", "90867": "rTMS", "90868": "rTMS", "90869": "rTMS"}
