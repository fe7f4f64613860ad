"""jsonschema, loaded without the IRI format checker it would build at import.

With rfc3987-syntax installed (Jupyter pulls it in), importing jsonschema builds ~35 Earley parsers
for the `iri` formats: about 3 s in every kernel that connects. Input schemas are checked for no
format (`schema._FORMATS` is empty), so that package stays hidden while jsonschema loads; it is
importable again right after. Import jsonschema from here: `from ._jsonschema import jsonschema`.
"""

from __future__ import annotations

import sys

_IRI_CHECKER = "rfc3987_syntax"
_hidden = _IRI_CHECKER not in sys.modules
if _hidden:
    sys.modules[_IRI_CHECKER] = None  # type: ignore[assignment]  # its import raises ImportError
try:
    import jsonschema as jsonschema  # re-exported
finally:
    if _hidden:
        del sys.modules[_IRI_CHECKER]
