"""Analysis layer: loss landscapes and other computations over recorded runs (no plotting here)."""
