"""Issue 3 end to end: detection, anomaly history and alerts through the real service's HTTP."""
