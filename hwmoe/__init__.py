"""hwmoe: model-to-FPGA flow for Mixture-of-Experts Vision Transformers."""
