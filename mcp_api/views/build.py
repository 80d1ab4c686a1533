"""Build the views: inline the shared core (core.css, core.js) and each view's parts from src/ into
one HTML document per view in built/ (committed: installs need no build step and no node).

    python -m mcp_api.views.build          # write built/*.html
    python -m mcp_api.views.build --check  # exit 1 when built/ is not what src/ builds (CI)

Every document is checked: at most MAX_BYTES, and no reference to anything outside it (no URL,
no @import, no url()): a view may not touch the network.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from string import Template

from mcp_api.views import MAX_BYTES, VIEWS, View

HERE = Path(__file__).parent
SRC = HERE / "src"
BUILT = HERE / "built"
OUTSIDE = re.compile(r"(?i)\b(?:https?|wss?|ftp):|//[a-z0-9.-]+\.[a-z]{2,}/|@import|url\s*\(|\bsrc\s*=")


class BuildError(Exception):
    pass


def render(view: View) -> str:
    def read(name: str) -> str:
        return (SRC / name).read_text(encoding="utf-8").strip() + "\n"

    css = "".join(read(p) for p in ("core.css", *view.parts) if p.endswith(".css"))
    js = "".join(read(p) for p in ("core.js", *view.parts) if p.endswith(".js"))
    html = Template(read("page.html")).substitute(name=view.name, title=view.title, css=css, js=js)
    check(view, html)
    return html


def check(view: View, html: str) -> None:
    size = len(html.encode("utf-8"))
    if size > MAX_BYTES:
        raise BuildError(f"{view.name}: {size} bytes, more than {MAX_BYTES}")
    if found := OUTSIDE.search(html):
        raise BuildError(f"{view.name}: refers outside the document: {found.group(0)!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with built/ instead of writing it")
    args = parser.parse_args(argv)
    stale = []
    for view in VIEWS.values():
        html = render(view)
        target = BUILT / f"{view.name}.html"
        if args.check:
            if not target.is_file() or target.read_text(encoding="utf-8") != html:
                stale.append(target.name)
        else:
            target.write_text(html, encoding="utf-8")
            print(f"{target.relative_to(HERE.parents[1])}: {len(html.encode('utf-8')):,} bytes")
    if stale:
        print(f"out of date (run scripts/build-views): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
