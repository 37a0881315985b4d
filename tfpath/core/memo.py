"""tfpath's one memoisation mechanism: caches that live as long as the object they belong to.

tfpath compiles programs per model function (``tf.function`` traces, the engine's loops) and
derives objects from user objects (a re-targeted model function, the model function of a
Bayesian wrapper). Those derived objects are kept here, in one weak dictionary keyed by the
object they belong to, so that

* nothing is written into the user's objects (no attribute, no ``__dict__`` entry);
* a cache disappears with its owner (no leak across many models);
* every cache in the package is the same mechanism (:func:`cache_for`).
"""
from __future__ import annotations

import weakref
from typing import Callable, Hashable, TypeVar

T = TypeVar("T")

_CACHES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def cache_for(owner, namespace: str) -> dict:
    """The dict of cached values of ``owner`` under ``namespace``.

    Args:
      owner: any object; it is referenced weakly. An owner that cannot be weakly referenced
        (or hashed) gets a fresh, unshared dict, i.e. no caching.
      namespace: separates the caches of different users of the same owner.

    Returns:
      A dict that lives as long as ``owner``.
    """
    try:
        per_owner = _CACHES.get(owner)
        if per_owner is None:
            per_owner = _CACHES[owner] = {}
    except TypeError:                  # not weakly referenceable, or not hashable
        return {}
    return per_owner.setdefault(namespace, {})


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
