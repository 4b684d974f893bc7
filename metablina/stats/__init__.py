"""Statistics: pure functions on numpy arrays, no I/O, nothing else of metablina imported.

Conventions shared by every module here:

* the last axis of an array is the studies; any leading axes are a stack of independent analyses,
  so ``yi`` of shape ``(m, k)`` fits ``m`` analyses at once;
* module-level imports are numpy and scipy.special only, so that ``metablina pool`` starts fast;
  scipy.optimize, scipy.stats and pandas are imported inside the functions that need them;
* results are frozen dataclasses with ``to_dict()`` (plain floats and lists, ``None`` where a
  value does not apply) and ``summary()`` (a pandas table);
* bad input raises :class:`metablina.stats.errors.InputError` with a message naming the argument.
"""
