"""TreeMTL: recommend tree-structured multi-task CNN architectures within a compute budget."""

__version__ = "0.1.0"
