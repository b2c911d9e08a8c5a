"""segflow: governed, explainable, automated customer segmentation."""

__version__ = "0.1.0"
