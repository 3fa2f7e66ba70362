"""The Dogtag client suite again, with Dogtag's current client (PKIClient, connect(), v2) instead of PyPI's.

PyPI's dogtag-pki (11.2.1, installed in the venv) has no PKIClient, so the v2 cases of
tests/unit/test_dogtag_client.py skip in the main run; no registry CI reaches has the current client, so
it is copied under tests/vendor/dogtag_pki_main (its README says from which commit and why). One `pki`
package per interpreter: the suite runs in a child pytest with that copy first on PYTHONPATH, and every
case must pass there (none may skip).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.dogtag_flows import REPO, VENDORED, vendored_env


def test_the_vendored_client_is_the_current_one() -> None:
    probe = "import pki, pki.client; print(pki.__file__); print(hasattr(pki.client, 'PKIClient'))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=vendored_env(), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    location, has_client = result.stdout.split()
    assert Path(location).is_relative_to(VENDORED) and has_client == "True", result.stdout


def test_every_dogtag_client_case_passes_with_the_current_client() -> None:
    command = [
        sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
        str(REPO / "tests" / "unit" / "test_dogtag_client.py"),
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=REPO, env=vendored_env(), capture_output=True, text=True, check=False, timeout=600
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in summary and "skipped" not in summary, result.stdout[-3000:]


def test_the_ldap_dn_stand_in_escapes_as_python_ldap_does() -> None:
    """tests/dogtag_ldap_dn.py replaces python-ldap's ldap.dn in the client container."""
    import ldap.dn

    from tests.dogtag_ldap_dn import escape_dn_chars

    for value in ("a,b", " x ", "#h", "a\\b", 'q"<>;=+', "n\x00", "", "plain"):
        assert escape_dn_chars(value) == ldap.dn.escape_dn_chars(value), value
