"""The notebook playground: a form for any model's inputs, its live run view and its code.

Imports run one way: `field` (the base class) ← `fields`, `private_fields` ← `mappers` ←
`form` ← `build`; `runview`, `codegen`, `history` and `markdown` depend on none of those.
"""

from replicate_nb.forms.build import form
from replicate_nb.forms.form import ModelForm
from replicate_nb.forms.history import Run

__all__ = ["ModelForm", "Run", "form"]
