"""`bench serve`: any adapter behind the Open Inference Protocol (KServe V2) over HTTP."""
