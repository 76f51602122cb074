"""Candidates trained on the fly (scikit-learn, XGBoost, LightGBM), preprocessing, ONNX export."""
