"""The one exception the statistics layer raises for bad input."""


class InputError(ValueError):
    """Input that no method can be applied to; the message names the argument and, where known, the study."""
