#!/usr/bin/env python3
"""Render infra/ringdown.yaml into infra/build/ringdown.packaged.yaml.

Every placeholder "@@FLOW_JSON:<file>@@" (a quoted YAML scalar) is replaced
by the JSON text of contact-flows/<file>, as one JSON-escaped string, so the
flows deployed are exactly the files in the repository: there is no second
copy to drift. Standard library only; exits non-zero when a placeholder names
a missing or invalid file, or when the template has none.
"""
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "infra" / "ringdown.yaml"
OUT = ROOT / "infra" / "build" / "ringdown.packaged.yaml"
PLACEHOLDER = re.compile(r'"@@FLOW_JSON:([A-Za-z0-9._-]+)@@"')
MAX_CONTENT = 256000  # AWS::Connect::ContactFlow Content limit


def flow_string(name: str) -> str:
    path = ROOT / "contact-flows" / name
    try:
        flow = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        sys.exit(f"render.py: contact flow {path}: {e}")
    content = json.dumps(flow, ensure_ascii=False, separators=(",", ":"))
    if len(content) > MAX_CONTENT:
        sys.exit(f"render.py: {path} is {len(content)} characters, Connect takes {MAX_CONTENT}")
    # A JSON string literal with only ASCII is a valid YAML double-quoted scalar.
    return json.dumps(content, ensure_ascii=True)


def main() -> None:
    text = SRC.read_text(encoding="utf-8")
    names = PLACEHOLDER.findall(text)
    if not names:
        sys.exit(f"render.py: no @@FLOW_JSON:…@@ placeholder in {SRC}")
    rendered = PLACEHOLDER.sub(lambda m: flow_string(m.group(1)), text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(rendered, encoding="utf-8")
    print(f"{OUT.relative_to(ROOT)}: {len(names)} contact flows inlined ({', '.join(names)})")


if __name__ == "__main__":
    main()
