"""Audit the locked dependencies for known vulnerabilities (run by CI through `make audit`).

Exports `uv.lock` to a requirements list, runs pip-audit over it, and fails when a
vulnerability with a fixed version exists. Packages pip-audit cannot look up (the vulnerability
service is unreachable, or the package is unknown to it) are listed and counted, never hidden.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    """Run the audit; exit 1 on a fixable vulnerability, 0 otherwise."""
    uv = ROOT / ".tools" / "bin" / "uv"
    with tempfile.TemporaryDirectory() as scratch:
        requirements = Path(scratch) / "requirements.txt"
        subprocess.run(
            [str(uv), "export", "--frozen", "--no-hashes", "--no-emit-project", "--all-groups",
             "--quiet", "-o", str(requirements)],
            cwd=ROOT, check=True,
        )
        result = subprocess.run(
            [str(Path(sys.executable).with_name("pip-audit")), "-r", str(requirements),
             "--no-deps", "--disable-pip", "--progress-spinner", "off", "-f", "json"],
            capture_output=True, text=True, check=False,
        )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        print(result.stderr.strip() or "pip-audit produced no report", file=sys.stderr)
        return 1
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    fixable = [
        (d["name"], d["version"], v["id"], v.get("fix_versions", []))
        for d in dependencies
        for v in d.get("vulns", [])
        if v.get("fix_versions")
    ]
    audited = len(dependencies) - len(skipped)
    print(f"pip-audit: {len(dependencies)} locked packages, {audited} audited, "
          f"{len(skipped)} not auditable, {len(fixable)} fixable vulnerabilities")
    if skipped:
        print("not auditable here (vulnerability service unreachable or package unknown): "
              + ", ".join(d["name"] for d in skipped[:20]) + (" ..." if len(skipped) > 20 else ""))
    for name, version, vuln_id, fixes in fixable:
        print(f"  {name} {version}: {vuln_id} fixed in {', '.join(fixes)}", file=sys.stderr)
    return 1 if fixable else 0


if __name__ == "__main__":
    sys.exit(main())
