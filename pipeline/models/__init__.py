"""Model code, one job a module: the embedded sketch CNN (``sketch_cnn``), torchvision models by name
(``torchvision_zoo``), user models from checkpoints (``checkpoint``), layer paths (``layers``), input specs
(``input_spec``), building and loading trained models (``build``), and the Lightning module that trains them
(``classifier``).

Import from the modules themselves: this package imports nothing, so a stage that only runs a trained model
(extract, atlas, evaluate) never pays for importing Lightning.
"""
