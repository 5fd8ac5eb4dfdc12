"""synrank: train and evaluate dense retrievers with synthetic, multi-level relevance data.

Reproduces and extends Esfandiarpoor et al., 2025, "Beyond Contrastive Learning: Synthetic Data
Enables List-wise Training with Multiple Levels of Relevance" (arXiv:2503.23239, SyCL).
"""

__version__ = "0.1.0"
