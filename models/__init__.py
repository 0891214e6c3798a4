"""Customer 360: models.

scikit-learn is imported inside the functions that fit a model, never at a module's top: training writes
what it learnt as plain numbers (``models/artifacts.py``), and the server only scores with them, so it never
loads scikit-learn and SciPy (measured: `import dashboard.app` 1 s faster and 73 MB smaller).
"""
