"""Write schemas/inventory.schema.json and schemas/scenario.schema.json from the pydantic models (--check: compare)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from faultlab.harness.scenario import scenario_json_schema
from faultlab.lab.inventory import inventory_json_schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = {
    ROOT / "schemas" / "inventory.schema.json": inventory_json_schema,
    ROOT / "schemas" / "scenario.schema.json": scenario_json_schema,
}


def render(schema: dict[str, object]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path, make in SCHEMAS.items():
        text = render(make())
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    for path in stale:
        print(f"{path.relative_to(ROOT)} is out of date: run python scripts/gen_schemas.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
