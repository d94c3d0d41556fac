"""Regularizers: penalties on the code (sparse, contractive, ...).

A regularizer is called as ``reg(x=x_in, h=h, z=z, model=model)`` on the
training path and returns named, already weighted loss terms; terms named
``stat_*`` are detached measurements that the trainer logs but does not add to
the loss. It may also
define ``transform_code(z)``, applied to the code on every path (training and
``encode``), for constraints such as top-k sparsity.
"""
