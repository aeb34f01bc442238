"""Studio's ``[ORG]``/``[APP]`` placeholders (also ``[org]``/``[app]``).

Altinn Studio's app template leaves them in ``config/authorization/policy.xml``; Altinn's deploy
replaces all four in the copy of the policy it uploads to the authorization PDP, and rewrites no
other file. The app itself keeps serving its files as written.
"""

from __future__ import annotations

_TOKENS = ("[ORG]", "[APP]", "[org]", "[app]")


def replace_placeholders(text: str, org: str, app: str) -> str:
    if "[" not in text:
        return text
    values = {"[ORG]": org, "[APP]": app, "[org]": org, "[app]": app}
    for token in _TOKENS:
        text = text.replace(token, values[token])
    return text
