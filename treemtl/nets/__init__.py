"""Networks (paper 3.3, App. F, I): backbones, the branching-point detector, heads, the
tree-structured model built from a layout, and fvcore profiling. Knows layouts, not tasks:
heads receive their output channels from the training layer."""
