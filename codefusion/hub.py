"""Is a name a Hugging Face Hub id or a local path? The one rule, for every loader (encoder,
tokenizer, baseline models, exported CodeFusion models)."""
from __future__ import annotations


def looks_like_hub_id(name: str) -> bool:
    """True for `t5-small` or `Salesforce/codet5-small` (a name, or owner/name); False for what
    can only be a path: `./x`, `/x`, `~/x`, `a/b/c`, a `.ckpt` file, or the empty string.
    Loaders try a path that exists first; a name that is neither stops with "not found"."""
    return (bool(name) and name.count("/") <= 1 and not name.startswith((".", "/", "~"))
            and not name.endswith(".ckpt"))
