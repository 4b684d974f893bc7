"""Names the command line offers, kept free of heavy imports so that `--help` and errors are instant."""

MEASURES = ("PLO", "PFT", "PAS", "PR", "RR", "OR", "RD", "MD", "SMD", "GEN")
IV_METHODS = ("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "PM", "EB")
BAYES_METHODS = ("BAYES", "BAYES-GLMM")
METHODS = (*IV_METHODS, "GLMM", "MH", "PETO", *BAYES_METHODS)
CI_METHODS = ("z", "t", "hksj", "hksj-adhoc")  # t: the GLMM's t(k-1) interval
FORMATS = ("table", "json", "csv")
