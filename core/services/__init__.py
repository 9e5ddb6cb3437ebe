"""Use cases that combine the engine and the project store, shared by the app's worker and
the command line: one training run with its whole lifecycle (:mod:`core.services.training`).
"""
