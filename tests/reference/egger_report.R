# metafor 3.8 reference for the report's Egger test (tests/render/test_report_text.py keeps the numbers)
# Run: cd tests/reference && Rscript egger_report.R   (needs metafor; the tests never call R)
# A synthetic k = 12 set of log hazard ratios: regtest() on rma(method = "REML"), metafor's defaults.
suppressMessages(library(metafor))
yi <- c(-0.2996, -0.2104, -0.3822, -0.5672, -0.4364, -0.5975, -0.282, 0.1021, -0.4477, -0.4861, -0.153, -0.1929)
vi <- c(0.0584, 0.0946, 0.1059, 0.1152, 0.1991, 0.1606, 0.1282, 0.1979, 0.0509, 0.0404, 0.1264, 0.0183)
r <- regtest(rma(yi, vi, method = "REML"))
cat(sprintf("z = %.15g, p = %.15g, limit estimate = %.15g\n", r$zval, r$pval, r$est))
# z = -0.382382738581532, p = 0.702177491984406, limit estimate = -0.244800764300725
