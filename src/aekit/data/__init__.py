"""Reading data: built-in data sets, array files, tables, images, MNIST IDX."""

from aekit.data.readers import Dataset, describe_formats, load

__all__ = ["Dataset", "describe_formats", "load"]
