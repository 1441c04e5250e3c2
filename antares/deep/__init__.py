"""Temporal deep learning on pixel sets: PSE-TAE, L-TAE, TempCNN and S1 + S2 fusion (issue 19).

A sample (a training polygon, an object, or one row of a time-series table) is a **pixel set** per
sensor: an array ``(T, C, S)`` of acquisitions × channels × pixels, with the sensor's day-of-year
dates ``(T,)``. A batch of samples is ``(N, T, C, S)``; a table of point samples has ``S = 1``.

Modules
-------
layers
    The torch modules: pixel-set encoder (Garnot et al. 2020), temporal attention encoder (Garnot et
    al. 2020), lightweight TAE (Garnot & Landrieu 2020), TempCNN (Pelletier et al. 2019), the
    day-of-year positional encoding.
network
    One network per architecture and fusion strategy (Ofori-Ampofo et al. 2021).
data
    :class:`~antares.deep.data.SensorSeries`, date alignment (nearest neighbour or linear) and gap filling.
classifier
    The estimators (``fit(sets, y)``, ``predict_proba(sets)``) with their safetensors + JSON storage.
kinds
    Their :class:`~antares.models.registry.ModelKind` declarations (``pse_tae``, ``ltae``, ``tempcnn``).
table
    Sample time-series tables (WorldCereal wide columns) read into pixel sets.

Nothing here imports torch at import time of :mod:`antares.deep`.
"""
