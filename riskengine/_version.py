"""The package version, in a module of its own.

Modules that write it (snapshot manifests, artifact cards) import it from here,
never from the package root: the root imports the engine, so reading the
version through it would run the layers upwards.

>>> from riskengine._version import __version__
>>> __version__
'0.1.0'
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
