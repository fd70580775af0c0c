"""planet-tf: PlaNet (Hafner et al., ICML 2019) in TensorFlow 2 and TFP.

Importing the package does no work: the modules are imported on use.
"""

__version__ = '0.1.0'
