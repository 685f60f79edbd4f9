"""What is built *on* the core: the built-in data sets and their builders, the digits-av
task, the eSpeak NG binding, and the per-modality reproduction recipes with their classic
baselines.

Nothing in the core imports this package; only the command line does.
"""
