"""Age and gender: UTKFace names and splits, the cached aligned crops, the Keras designs and metrics."""
