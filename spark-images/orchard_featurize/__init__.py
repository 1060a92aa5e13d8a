"""orchard feature extraction: ResNet50 (ONNX Runtime, CPU) features of images, with Spark."""
