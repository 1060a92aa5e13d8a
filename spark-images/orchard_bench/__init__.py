"""`orchard bench`: throughput of the featurize job against its ONNX Runtime ceiling, the P8 Keras
baseline and the CPU's fp32 FLOP limit. One module per case; each case returns plain dicts."""
