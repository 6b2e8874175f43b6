"""Choosing the tuning: what the data-driven fit decides, and on what evidence.

Ridge by GCV (:mod:`.ridge`), the rank by RSC (:mod:`.rank`), the lambda path,
BIC and the cross-validation of ranks and shrinkage (:mod:`.tuning`), the
blend with the source and a target ridge fit (:mod:`.blend`), and the transfer
gain against the no-source fit (:mod:`.transfer_gain`).
"""
