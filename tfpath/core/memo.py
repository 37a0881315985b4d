"""tfpath's one memoisation mechanism: caches that live as long as the object they belong to.

tfpath compiles programs per model function (``tf.function`` traces, the engine's loops) and
derives objects from user objects (a re-targeted model function, the model function of a
Bayesian wrapper). Those derived objects are kept here, in one dictionary keyed by the identity of
the object they belong to (referenced weakly), so that

* nothing is written into the user's objects (no attribute, no ``__dict__`` entry);
* a cache disappears with its owner (no leak across many models);
* every cache in the package is the same mechanism (:func:`cache_for`).
"""
from __future__ import annotations

import functools
import weakref
from typing import Callable, Hashable, TypeVar

T = TypeVar("T")

# id(owner) -> (weak reference to owner, {namespace: dict}); keyed by identity, so the owner's
# own __hash__ / __eq__ are never called (a mock counting its calls, a model with __eq__)
_CACHES: dict = {}


def _forget(key: int, ref, caches: dict = _CACHES) -> None:
    """Drops the caches of a collected owner (the weak reference's callback, a partial of
    this function). ``caches`` is bound at definition: at interpreter exit the module's
    globals may already be gone."""
    entry = caches.get(key)
    if entry is not None and entry[0] is ref:
        del caches[key]


def cache_for(owner, namespace: str) -> dict:
    """The dict of cached values of ``owner`` under ``namespace``.

    Args:
      owner: any object; it is referenced weakly and identified by identity (its ``__hash__``
        and ``__eq__`` are not called). An owner that cannot be weakly referenced gets a
        fresh, unshared dict, i.e. no caching.
      namespace: separates the caches of different users of the same owner.

    Returns:
      A dict that lives as long as ``owner``.
    """
    key = id(owner)
    entry = _CACHES.get(key)
    if entry is None or entry[0]() is not owner:
        try:
            ref = weakref.ref(owner, functools.partial(_forget, key))
        except TypeError:                  # not weakly referenceable
            return {}
        entry = _CACHES[key] = (ref, {})
    return entry[1].setdefault(namespace, {})


def memoized(owner, namespace: str, key: Hashable, build: Callable[[], T]) -> T:
    """``cache_for(owner, namespace)[key]``, built by ``build()`` on the first request.

    Args:
      owner: the object the value belongs to (weakly referenced).
      namespace: the cache's name.
      key: a hashable key within the namespace.
      build: ``() -> value``, called once per (owner, namespace, key).

    Returns:
      The cached value.
    """
    cache = cache_for(owner, namespace)
    if key not in cache:
        cache[key] = build()
    return cache[key]
