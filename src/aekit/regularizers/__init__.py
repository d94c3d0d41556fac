"""Regularizers: penalties on the code (sparse, contractive, ...).

A regularizer is called as ``reg(x=x_in, h=h, z=z, model=model)`` on the
training path and returns named, already weighted loss terms. It may also
define ``transform_code(z)``, applied to the code on every path (training and
``encode``), for constraints such as top-k sparsity.
"""
