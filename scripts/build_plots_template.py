"""Write .dvc/plots/offline.html: DVC's plots page with vega, vega-lite and vega-embed inlined, so
`dvc plots show` renders offline (DVC's own page loads them from cdn.jsdelivr.net).

    python scripts/build_plots_template.py            # npm pack the pinned versions, write the template

.dvc/config points `dvc plots show` at it (`dvc config plots.html_template plots/offline.html`).
The libraries are BSD-3-Clause (University of Washington Interactive Data Lab); vega's build
bundles d3 modules (ISC). Their notices go into the page, as the licenses ask."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".dvc" / "plots" / "offline.html"
# the majors DVC's page asks for (vega@5, vega-lite@5, vega-embed@6), latest of each
PACKAGES = {"vega": "5.33.1", "vega-lite": "5.23.0", "vega-embed": "6.29.0"}
PLACEHOLDERS = ("{plot_divs}", "{refresh_tag}", "{scripts}")  # what dvc-render substitutes

NOTICE = """\
vega {vega}, vega-lite {vega-lite}, vega-embed {vega-embed}: inlined by scripts/build_plots_template.py.

Copyright (c) 2015, University of Washington Interactive Data Lab. All rights reserved.
Redistribution and use in source and binary forms, with or without modification, are permitted
provided that the following conditions are met: 1. Redistributions of source code must retain the
above copyright notice, this list of conditions and the following disclaimer. 2. Redistributions in
binary form must reproduce the above copyright notice, this list of conditions and the following
disclaimer in the documentation and/or other materials provided with the distribution. 3. Neither
the name of the copyright holder nor the names of its contributors may be used to endorse or
promote products derived from this software without specific prior written permission.
THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND ANY EXPRESS OR
IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND
FITNESS FOR A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT OWNER OR
CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE,
DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER
IN CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF
THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.

vega's build bundles d3 modules: Copyright 2010-2023 Mike Bostock. Permission to use, copy, modify,
and/or distribute this software for any purpose with or without fee is hereby granted, provided that
the above copyright notice and this permission notice appear in all copies. THE SOFTWARE IS
PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH REGARD TO THIS SOFTWARE INCLUDING ALL
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR ANY
SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES WHATSOEVER RESULTING FROM LOSS OF
USE, DATA OR PROFITS, WHETHER IN AN ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING
OUT OF OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE."""


def fetch(folder: Path) -> dict[str, str]:
    """``npm pack`` each package into ``folder``; its minified browser build, by package name."""
    specs = [f"{name}@{version}" for name, version in PACKAGES.items()]
    subprocess.run(["npm", "pack", "--silent", *specs], cwd=folder, check=True, stdout=subprocess.DEVNULL)
    builds = {}
    for name, version in PACKAGES.items():
        with tarfile.open(folder / f"{name}-{version}.tgz") as tgz:
            member = tgz.extractfile(f"package/build/{name}.min.js")
            if member is None:
                raise SystemExit(f"{name}@{version}: no build/{name}.min.js in the package")
            builds[name] = member.read().decode()
    return builds


def page(builds: dict[str, str]) -> str:
    for name, js in builds.items():
        if "</script" in js or any(p in js for p in PLACEHOLDERS):
            raise SystemExit(f"{name}: its build cannot be inlined as is (a </script> or a DVC placeholder)")
    scripts = "\n".join(f"<script>/* {name} {PACKAGES[name]} */\n{builds[name]}\n</script>" for name in PACKAGES)
    return f"""<!DOCTYPE html>
<html>
<head>
    {{refresh_tag}}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <!--
{NOTICE.format(**PACKAGES)}
    -->
{scripts}
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        html = page(fetch(Path(tmp)))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(html)
    print(f"wrote {OUT.relative_to(ROOT)} ({len(html) / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
