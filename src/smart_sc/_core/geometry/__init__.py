"""Geometry of the problem: the Stiefel manifold and the source's singular bases.

:mod:`.stiefel` minimises quadratics over orthonormal frames (Riemannian
Barzilai–Borwein steps, polar retraction); :mod:`.basis` holds the source's
singular bases with the complement of its column space kept implicit.
"""
