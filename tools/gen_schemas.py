"""Regenerate the JSON Schemas in definitions/ from the pydantic models (`make schemas`)."""

from __future__ import annotations

import json

from pathway.schemas import SCHEMA_FILES, schema_for
from pathway.yamlio import definitions_dir


def main() -> None:
    for what, name in SCHEMA_FILES.items():
        path = definitions_dir() / name
        path.write_text(
            json.dumps(schema_for(what), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
