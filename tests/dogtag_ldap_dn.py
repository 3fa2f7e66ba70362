"""A stand-in for python-ldap's `ldap.dn`, shipped as `ldap/dn.py` to a client container.

Dogtag's Python client imports `ldap.dn` for `escape_dn_chars` only; python-ldap has no wheel and the
lab image has no compiler, so the client container (tests/dogtag_flows.py) gets this module instead:
python-ldap's function (RFC 4514 section 2.4), rewritten here.
"""


def escape_dn_chars(s: str) -> str:
    if not s:
        return s
    s = s.replace("\\", "\\\\")
    for c in ',+"<>;=':
        s = s.replace(c, "\\" + c)
    s = s.replace("\x00", "\\00")
    if s[0] in ("#", " "):
        s = "\\" + s
    if s[-1] == " ":
        s = s[:-1] + "\\ "
    return s
