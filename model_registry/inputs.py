"""What a served pyfunc model is handed: just the inputs its signature names, so older versions
(which declare fewer) keep working and MLflow does not warn about extra inputs on every call."""

from __future__ import annotations

import numpy as np


def signature_inputs(model) -> set[str]:
    """The input names a pyfunc model's signature declares (empty: no signature, take anything)."""
    schema = model.metadata.get_input_schema() if getattr(model, "metadata", None) else None
    if schema is None or not schema.has_input_names():
        return set()
    return set(schema.input_names())


def select_inputs(model, inputs: dict[str, np.ndarray], label: str = "the model") -> dict[str, np.ndarray]:
    """Just the inputs ``model``'s signature names (all when it names none). A named input missing
    from ``inputs`` is a ValueError."""
    wanted = signature_inputs(model)
    if not wanted:
        return inputs
    missing = wanted - inputs.keys()
    if missing:
        raise ValueError(f"{label} needs inputs the pipeline does not give: {sorted(missing)}")
    return {name: value for name, value in inputs.items() if name in wanted}
