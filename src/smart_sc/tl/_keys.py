"""Which key a ``tl`` function may write under, and whose ``.uns`` record a key holds.

``tl.transfer``, ``tl.predict`` and ``tl.evaluate`` store results under a
``key_added``; each checks, before anything is changed, that the key holds
nothing another tool wrote and no smart_sc result of another kind.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["RECORD_WRITERS", "check_key_free", "record_kind", "uns_places"]


#: The public function that writes each kind of ``.uns`` record, for messages.
RECORD_WRITERS = {"transfer": "smart_sc.tl.transfer", "predict": "smart_sc.tl.predict",
                  "evaluate": "smart_sc.tl.evaluate"}


def record_kind(record) -> str | None:
    """Which smart_sc function wrote the ``.uns`` record ``record``, or ``None``.

    Told apart by their fields (also once read back from ``.h5mu``/``.h5ad``):
    a :func:`~smart_sc.tl.transfer` record has ``structural_rank`` and
    ``alignment``; a :func:`~smart_sc.tl.predict` record ``alignment`` and
    ``missing`` but no ``structural_rank``; a :func:`~smart_sc.tl.evaluate`
    record ``per_protein`` and ``overall_error``. Anything else (another
    tool's entry, such as scanpy's ``"log1p"`` or ``"neighbors"``) is ``None``.

    Examples
    --------
    >>> record_kind({"alignment": {}, "missing": "zero", "provenance": {}})
    'predict'
    >>> record_kind({"base": None}) is None  # scanpy's .uns["log1p"]
    True
    """
    if not isinstance(record, Mapping):
        return None
    if "structural_rank" in record and "alignment" in record:
        return "transfer"
    if "alignment" in record and "missing" in record:
        return "predict"
    if "per_protein" in record and "overall_error" in record:
        return "evaluate"
    return None


def check_key_free(places: dict[str, object], records: dict[str, Mapping], key: str,
                   kind: str) -> None:
    """Refuse a ``key_added`` that would overwrite what another tool, or another call, stored.

    Called before anything is changed. ``places`` maps a description (".obsm
    of modality 'rna'") to a mapping the call writes ``key`` into besides
    ``.uns``. ``records`` maps descriptions to the ``.uns`` mappings where
    smart_sc records of the same object live; the first is where this call
    writes its record. A record of this call's own ``kind`` there is an
    earlier result, which is replaced, as documented; a smart_sc record of
    another kind in any of them (a :func:`~smart_sc.tl.transfer` fit under
    the key :func:`~smart_sc.tl.predict` was given) is refused, as is a key
    another tool holds in ``.uns`` or any of ``places``.
    """
    writer = RECORD_WRITERS[kind]
    for where, uns in records.items():
        other = record_kind(uns.get(key)) if key in uns else None
        if other is not None and other != kind:
            raise ValueError(
                f"key_added={key!r} holds a {RECORD_WRITERS[other]} result ({where}), which "
                f"{writer} would overwrite; choose another key_added")
    where_record, uns = next(iter(records.items()))
    if record_kind(uns.get(key)) == kind:
        return  # a previous result of the same call: refitting replaces it, as documented
    taken = [where for where, mapping in {where_record: uns, **places}.items()
             if key in mapping]
    if taken:
        raise ValueError(
            f"key_added={key!r} would overwrite {', '.join(taken)}, which smart_sc did not "
            "write (another tool's result, such as a UMAP or scanpy's 'log1p'); choose "
            "another key_added")


def uns_places(container, rna, modality: str, *, writes_to: str) -> dict[str, Mapping]:
    """Return the ``.uns`` mappings smart_sc records of ``container`` live in, described.

    ``rna`` is the RNA modality (``container`` itself for an AnnData);
    ``writes_to`` (``"container"`` or ``"modality"``) says which one the call
    writes its record to: it comes first, as :func:`check_key_free` expects.
    """
    if rna is container:
        return {".uns": container.uns}
    places = [(".uns of the MuData", container.uns),
              (f".uns of modality {modality!r}", rna.uns)]
    return dict(places if writes_to == "container" else places[::-1])
