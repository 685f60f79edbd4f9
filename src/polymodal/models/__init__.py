"""Assembled models. Importing this package registers every built-in model in ``MODELS``.

Add each new model module to the imports below so that ``polymodal.load`` finds it.
"""
