"""metablina: evidence synthesis from YAML study extracts.

The flow is one-directional: ``extract`` (load and validate) -> ``normalize`` -> ``plan`` ->
``stats`` (pure functions on arrays) -> ``render``; ``cli`` only parses, calls and prints.
"""

__version__ = "0.1.0"
