"""Which measurements of a time-series product belong to which sensor (the cube path of S1 + S2 fusion; no torch).

A product made by the built-in ``s1_s2_monthly`` recipe holds S2 bands and indices and S1 features
on the same steps (``blue`` … ``ndbi``, ``s1_vv``, ``s1_vh``, ``s1_vh_vv``, ``s1_rvi``, plus terrain
and QA layers); users also hold S1 and S2 as two products. :func:`sensor_channels` splits the
measurements of one or two products into the channel groups of ``s1`` and ``s2``: S1 measurements are
recognised by name (:func:`is_s1`), the QA layers (:data:`QA`) are left out, and every other
measurement is S2's; or an explicit mapping (``--sensor-measurements s1=vv,vh;s2=red,nir``) names them.
"""

from __future__ import annotations

import re

from antares.errors import InvalidInputError, UsageError

#: QA layers of the recipe engine: counts and flags, not reflectances or backscatter
QA = ("clear_count", "filled")
_S1 = re.compile(r"^(s1_|sar_|vv|vh|hh|hv)", re.IGNORECASE)


def is_s1(name: str) -> bool:
    """True for an S1 measurement name: ``s1_*`` (the recipe engine's S1 features), ``sar_*`` or a polarisation
    (``vv``, ``vh``, ``hh``, ``hv`` and names starting with them, such as ``VV_dB`` or ``vh_vv``)."""
    return bool(_S1.match(str(name)))


def parse_sensor_measurements(text: str | None) -> tuple | None:
    """``"s1=vv,vh;s2=red,nir"`` → ``(("s1", ("vv", "vh")), ("s2", ("red", "nir")))`` (None for None or "").

    Raises
    ------
    UsageError
        A part without ``=``, a sensor other than s1/s2, a sensor twice or without a measurement.
    """
    if not text:
        return None
    out = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        sensor, sep, names = part.partition("=")
        sensor = sensor.strip().lower()
        channels = tuple(n.strip() for n in names.split(",") if n.strip())
        if not sep or sensor not in ("s1", "s2") or sensor in out or not channels:
            raise UsageError(f"--sensor-measurements must read like 's1=vv,vh;s2=red,nir' (each sensor once, with at "
                             f"least one measurement). Got {text!r}.")
        out[sensor] = channels
    return tuple(out.items()) or None


def product_spec(spec: str) -> tuple:
    """``"s1=NAME"`` → ``("s1", "NAME")``; ``"NAME"`` → ``(None, "NAME")``."""
    label, sep, rest = str(spec).partition("=")
    return (label, rest) if sep and label in ("s1", "s2") else (None, str(spec))


def sensor_channels(sensors, products, mapping=None) -> list[dict]:
    """The channel groups of ``sensors`` in one or two products.

    Parameters
    ----------
    sensors : sequence of {'s1', 's2'}
        One or two sensors.
    products : list of (str, list of str)
        Each product's name and measurements, in the order given. With two products, each is one
        sensor's: the product whose measurements (QA layers aside) are all S1-named is ``s1``, the
        other ``s2``; a product named ``s1=NAME`` or ``s2=NAME`` says so explicitly.
    mapping : tuple of (sensor, tuple of str), optional
        The measurements of each sensor by name (:func:`parse_sensor_measurements`), in the model's order.

    Returns
    -------
    list of dict
        Per sensor, in the order of ``sensors``: ``sensor``, ``product`` (name), ``channels`` (names).

    Raises
    ------
    UsageError
        Two products for one sensor, or two sensors from one product without any measurement for one
        of them (the message names the product and the names it found).
    InvalidInputError
        A mapped measurement that the product lacks.
    """
    sensors = list(sensors)
    mapping = dict(mapping or ())
    if len(products) > 2 or len(products) > len(sensors):
        raise UsageError(f"{len(products)} products for sensor(s) {', '.join(sensors)}: give one product, or one per "
                         "sensor (-p S2_PRODUCT -p S1_PRODUCT).")
    if len(products) == 1:
        owner = {s: products[0] for s in sensors}
    else:
        owner = {}
        for name, measurements in products:
            sensor = product_spec(name)[0]
            if sensor is None:
                kept = [m for m in measurements if m not in QA]
                sensor = "s1" if kept and all(is_s1(m) for m in kept) else "s2"
            if sensor in owner:
                raise UsageError(f"products {owner[sensor][0]} and {name} both look like {sensor} products; name them: "
                                 f"-p s2=PRODUCT -p s1=PRODUCT.")
            owner[sensor] = (name, measurements)
    groups = []
    for sensor in sensors:
        name, measurements = owner[sensor]
        product = product_spec(name)[1]
        if sensor in mapping:
            missing = [m for m in mapping[sensor] if m not in measurements]
            if missing:
                raise InvalidInputError(f"product {product} has no measurement {', '.join(missing)} (--sensor-measurements "
                                        f"{sensor}); its measurements: {', '.join(measurements)}.")
            channels = list(mapping[sensor])
        elif len(products) == 2:
            channels = [m for m in measurements if m not in QA]
        else:
            channels = [m for m in measurements if m not in QA and is_s1(m) == (sensor == "s1")]
        if not channels:
            raise UsageError(f"product {product} has no {sensor} measurement (S1 ones are named s1_*, vv, vh ...; QA "
                             f"layers {', '.join(QA)} are left out); its measurements: {', '.join(measurements)}. Give "
                             f"--sensor-measurements 's1=...;s2=...' or a product per sensor.")
        groups.append({"sensor": sensor, "product": product, "channels": channels})
    return groups
