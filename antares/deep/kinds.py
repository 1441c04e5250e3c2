"""The ``pse_tae``, ``ltae`` and ``tempcnn`` model kinds: declared hyper-parameters with their ranges.

``antares model_params pse_tae`` lists them; ``-extra k=v`` overrides them (checked here before any
work, with the message form of every model). They take pixel sets (``inputs='pixel_sets'``), so
they are fitted through ``antares model_fit_timeseries`` / :func:`antares.train.fit_timeseries`,
not through the feature-table path of ``model_fit``.
"""

from __future__ import annotations

from antares.models.registry import ModelKind
from antares.params import among, any_of, float_param, int_param, integer, is_none

_TRAINING = (
    int_param("epochs", 100, 1, 10000, description="maximum training epochs"),
    int_param("batch_size", 64, 2, 65536, description="samples per optimisation step"),
    float_param("lr", 1e-3, 0, 1, low_open=True, description="Adam learning rate"),
    float_param("weight_decay", 0.0, 0, 1, description="Adam L2 penalty"),
    int_param("patience", 10, 1, 10000, description="epochs without a better validation loss before stopping"),
    float_param("validation", 0.2, 0, 0.5, description="fraction held out (stratified) for early stopping; 0: none"),
    any_of("class_weight", "balanced", "str among {'balanced'} or None", among("balanced"), is_none,
           description="loss weights inversely proportional to the class frequencies"),
    any_of("loss", "cross_entropy", "str among {'cross_entropy', 'focal'}", among("cross_entropy", "focal"),
           description="training loss: cross-entropy, or focal loss (Lin et al. 2017) for class imbalance"),
    float_param("focal_gamma", 2.0, 0, 10, description="focusing parameter gamma of the focal loss (0: cross-entropy)"),
    float_param("dropout", 0.2, 0, 1, high_open=True, description="dropout rate"),
    any_of("fusion", "early", "str among {'decision', 'early', 'pse', 'tsa'}", among("early", "pse", "tsa", "decision"),
           description="S1 + S2 fusion strategy (two sensors only)"),
    any_of("interpolate", "nn", "str among {'linear', 'nn'}", among("nn", "linear"),
           description="date alignment of the second sensor for early and pse fusion"),
    any_of("device", "auto", "str among {'auto', 'cpu', 'cuda'}", among("auto", "cpu", "cuda"),
           description="where to train and predict"),
    any_of("random_state", None, "int in the range [0, 4294967295] or None", integer(0, 2**32 - 1), is_none,
           description="seed of weights, batches, dropout and the validation split"),
    any_of("n_jobs", None, "int in the range [1, inf) or None", integer(1), is_none, description="CPU threads"),
)
_ATTENTION = (float_param("period", 1000.0, 0, low_open=True, description="positional-encoding period T (days)"),
              any_of("min_temp_seq", None, "int in the range [1, inf) or None", integer(1), is_none,
                     description="minimum-sequence sampling: dates kept at random per training sample (None: all)"))


def _factory(arch: str):
    def factory():
        from antares.deep.classifier import CLASSES

        return CLASSES[arch]
    return factory


def _heads_divide(values) -> bool:
    return values["d_model"] % values["n_head"] != 0


PSE_TAE = ModelKind(
    "pse_tae", "pixel-set encoder + temporal attention encoder (torch; Garnot et al. 2020)", _factory("pse_tae"),
    {}, (int_param("n_head", 4, 1, 64, description="attention heads"),
         int_param("d_k", 32, 1, 1024, description="key size per head"), *_ATTENTION, *_TRAINING),
    "PseTae", inputs="pixel_sets")
LTAE = ModelKind(
    "ltae", "pixel-set encoder + lightweight temporal attention (torch; Garnot & Landrieu 2020)", _factory("ltae"),
    {}, (int_param("n_head", 16, 1, 64, description="attention heads"),
         int_param("d_k", 8, 1, 1024, description="key size per head"),
         int_param("d_model", 256, 1, 4096, description="inner width (a multiple of n_head)"), *_ATTENTION, *_TRAINING),
    "LTae", inputs="pixel_sets", rules=((_heads_divide, "d_model must be a multiple of n_head."),))
TEMPCNN = ModelKind(
    "tempcnn", "temporal convolutions on the object mean series (torch; Pelletier et al. 2019)", _factory("tempcnn"),
    {}, (int_param("filters", 64, 1, 1024, description="filters per convolution"),
         any_of("kernel_size", 5, "odd int in the range [1, 31]", lambda v: integer(1, 31)(v) and v % 2 == 1,
                description="convolution width (dates)"),
         int_param("hidden", 256, 1, 8192, description="units of the dense layer"), *_TRAINING),
    "TempCnn", inputs="pixel_sets")
