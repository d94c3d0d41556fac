"""Regularizers: penalties on the code (sparse, contractive, ...).

A regularizer is called as ``reg(x=x_in, h=h, z=z, model=model)`` on the
training path and returns named, already weighted loss terms; terms named
``stat_*`` are detached measurements that the trainer logs but does not add to
the loss. It may also
define ``transform_code(z)``, applied to the code on every path (training and
``encode``), for constraints such as top-k sparsity.
"""

# Importing a module registers its regularizers.
import aekit.regularizers.contractive  # noqa: F401, E402
import aekit.regularizers.sparse  # noqa: F401, E402

SPARSE_KINDS = ("l1", "kl", "topk")


def from_options(sparsity=None, contractive=None) -> list[dict]:
    """Regularizer specs from the estimator's convenience options.

    ``sparsity``: a sparse regularizer's short spec (``"kl:0.05"``,
    ``"l1:1e-3"``, ``"topk:25"``) or dict. ``contractive``: its weight
    (``1e-3``), or a spec with options (``"contractive:1e-3,method=hutchinson"``;
    the ``"contractive:"`` prefix may be left out). ``None`` leaves either out.
    """
    from aekit.exceptions import ConfigError
    from aekit.registry import REGULARIZERS

    specs = []
    if sparsity is not None:
        spec = REGULARIZERS.parse(sparsity)
        if spec["kind"] not in SPARSE_KINDS:
            raise ConfigError(
                "sparsity takes one of the sparse regularizers "
                f"{', '.join(SPARSE_KINDS)} (e.g. 'kl:0.05'). Got {sparsity!r} instead."
            )
        specs.append(spec)
    if contractive is not None and contractive is not False:
        if isinstance(contractive, str):
            try:
                contractive = float(contractive)
            except ValueError:
                if not contractive.startswith("contractive"):
                    contractive = f"contractive:{contractive}"
        if isinstance(contractive, bool) or not isinstance(contractive, int | float):
            spec = REGULARIZERS.parse(contractive)
            if spec["kind"] != "contractive":
                raise ConfigError(
                    "contractive takes a weight such as 1e-3 or a spec such as "
                    f"'contractive:1e-3,method=hutchinson'. Got {contractive!r}."
                )
        else:
            spec = REGULARIZERS.parse({"kind": "contractive", "weight": contractive})
        specs.append(spec)
    return specs
