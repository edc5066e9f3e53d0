"""Refresh the browser assets the service serves itself (service/static/vendor/).

The docs UI and the console must render on an intranet with no internet, so its scripts and styles are copied
into the repository from a pinned npm package, never loaded from a CDN. This script re-downloads
each pinned package with `npm pack` (the npm registry is the only source needed), copies only the
files the pages use plus the package's licence files, and rewrites the manifest with each file's
sha256, which tests/test_docs_assets.py checks.

    python scripts/vendor_assets.py            # re-fetch the pinned versions
    python scripts/vendor_assets.py swagger-ui-dist@5.37.0   # move one package to another version

A changed version changes the served URLs' `?v=` (service/api/docs.py), so browsers' long-cached
copies are not reused.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "service" / "static" / "vendor"
MANIFEST = VENDOR / "manifest.json"

# package -> (pinned version, folder under vendor/, files copied from the package; a file in a
# subfolder of the package, e.g. htmx's dist/htmx.min.js, lands flat in the folder under its own name)
PACKAGES: dict[str, tuple[str, str, list[str]]] = {
    "swagger-ui-dist": (
        "5.36.0",
        "swagger-ui",
        [
            "swagger-ui-bundle.js",
            "swagger-ui.css",
            "swagger-ui-bundle.js.LICENSE.txt",
            "LICENSE",
            "NOTICE",
        ],
    ),
    # The console's partial page updates. Pinned to 2.x: htmx 4 (2026-08) is not compatible.
    "htmx.org": ("2.0.11", "htmx", ["dist/htmx.min.js", "LICENSE"]),
    # Accessibility checks the console's browser tests run in the page (served, never loaded by a page).
    "axe-core": ("4.14.1", "axe-core", ["axe.min.js", "LICENSE", "LICENSE-3RD-PARTY.txt"]),
    # The console's analysis charts (SVG renderer, `aria` on): the full build, for its custom series
    # (the training effect's interval bars) and the aria component.
    "echarts": ("6.1.0", "echarts", ["dist/echarts.min.js", "LICENSE", "NOTICE"]),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def vendor(name: str, version: str, folder: str, files: list[str]) -> dict[str, object]:
    target = VENDOR / folder
    with tempfile.TemporaryDirectory(prefix="vendor-") as tmp:
        subprocess.run(
            ["npm", "pack", f"{name}@{version}", "--silent"], cwd=tmp, check=True, stdout=subprocess.DEVNULL
        )
        tarball = next(Path(tmp).glob("*.tgz"))
        tarball_sha = sha256(tarball)
        with tarfile.open(tarball) as archive:
            package_json = json.load(archive.extractfile("package/package.json"))  # type: ignore[arg-type]
            target.mkdir(parents=True, exist_ok=True)
            for old in target.iterdir():
                old.unlink()
            for file in files:
                member = archive.extractfile(f"package/{file}")
                assert member is not None, file
                (target / Path(file).name).write_bytes(member.read())
    return {
        "source": f"npm:{name}@{package_json['version']}",
        "version": package_json["version"],
        "licence": package_json.get("license"),
        "folder": folder,
        "tarball_sha256": tarball_sha,
        "files": {Path(f).name: sha256(target / Path(f).name) for f in files},
    }


def main(argv: list[str]) -> int:
    pins = {name: spec[0] for name, spec in PACKAGES.items()}
    for arg in argv:
        name, _, version = arg.rpartition("@")
        if name not in PACKAGES:
            raise SystemExit(f"unknown package {name!r}; known: {', '.join(PACKAGES)}")
        pins[name] = version
    manifest = {name: vendor(name, pins[name], PACKAGES[name][1], PACKAGES[name][2]) for name in PACKAGES}
    MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    for entry in manifest.values():
        print(f"{entry['source']} -> {VENDOR / str(entry['folder'])} ({len(entry['files'])} files)")  # type: ignore[arg-type]
    if any(pins[name] != PACKAGES[name][0] for name in PACKAGES):
        print("now update the pinned versions in PACKAGES above to match")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
