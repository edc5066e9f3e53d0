"""Check template files: `python -m service.rubrics.check rubrics/templates/*/*.json`."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec

from service.rubrics.model import content_decoder, walk_indicators
from service.rubrics.validation import validate_template


def main(paths: list[str]) -> int:
    failed = 0
    for path in paths:
        try:
            content = content_decoder.decode(Path(path).read_bytes())
        except msgspec.MsgspecError as exc:
            print(f"{path}: does not match the framework schema: {exc}")
            failed += 1
            continue
        problems = validate_template(content)
        indicators = sum(1 for _ in walk_indicators(content))
        print(
            f"{path}: {len(content.dimensions)} dimensions, {indicators} indicators, "
            f"{len(content.levels)} levels, {len(problems)} problem(s)"
        )
        for problem in problems:
            print(f"  {problem.pointer}: {problem.detail}")
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
