# The yardstick for `metablina report` (run by hand through benchmarks/bench_report.py):
# pool three outcomes with metafor (binomial-normal GLMM, t interval, as the plan does) and draw three
# forest plots, each written as PNG (300 dpi), PDF and SVG.
#
#   Rscript benchmarks/bench_report.R counts.csv OUTDIR [ROUNDS]
#
# counts.csv has the columns analysis, study, xi, ni (bench_report.py writes it from the extracts).
# ROUNDS (default 1) repeats the three fits and plots, for a count of figures like metablina's.

args <- commandArgs(trailingOnly = TRUE)
if (!(length(args) %in% 2:3)) stop("usage: Rscript bench_report.R counts.csv OUTDIR [ROUNDS]")
suppressPackageStartupMessages(library(metafor))
d <- read.csv(args[1], stringsAsFactors = FALSE)
out <- args[2]
rounds <- if (length(args) == 3) as.integer(args[3]) else 1L
dir.create(out, showWarnings = FALSE, recursive = TRUE)
for (round in seq_len(rounds)) for (a in unique(d$analysis)) {
  s <- d[d$analysis == a, ]
  fit <- rma.glmm(measure = "PLO", xi = xi, ni = ni, data = s, test = "t")
  draw <- function() {
    forest(fit, transf = transf.ilogit, slab = s$study, refline = NA, header = TRUE, addpred = TRUE,
           ilab = paste0(s$xi, "/", s$ni), ilab.xpos = -0.25, xlim = c(-1.2, 1.8), alim = c(0, 1))
  }
  png(file.path(out, paste0("forest-", round, "-", a, ".png")), width = 7, height = 3, units = "in", res = 300)
  draw()
  invisible(dev.off())
  pdf(file.path(out, paste0("forest-", round, "-", a, ".pdf")), width = 7, height = 3)
  draw()
  invisible(dev.off())
  svg(file.path(out, paste0("forest-", round, "-", a, ".svg")), width = 7, height = 3)
  draw()
  invisible(dev.off())
  cat(a, ": k =", fit$k, " estimate =", format(transf.ilogit(fit$beta[1]), digits = 4), "\n")
}
