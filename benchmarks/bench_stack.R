# metafor side of bench_stack.py: rma(method = "REML") in a loop over the rows of a wide CSV (y1..yk, v1..vk).
# Usage: Rscript bench_stack.R in.csv out.csv   -> prints "elapsed <seconds>" (the loop only), writes tau2, b.
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- as.matrix(read.csv(args[1]))
k <- ncol(d) / 2
yi <- d[, seq_len(k)]; vi <- d[, k + seq_len(k)]
tau2 <- b <- rep(NA_real_, nrow(d))
t0 <- proc.time()[["elapsed"]]
for (i in seq_len(nrow(d))) {
  fit <- tryCatch(rma(yi[i, ], vi[i, ], method = "REML"), error = function(e) NULL)
  if (!is.null(fit)) { tau2[i] <- fit$tau2; b[i] <- fit$beta[1] }
}
elapsed <- proc.time()[["elapsed"]] - t0
write.csv(data.frame(tau2 = tau2, b = b), args[2], row.names = FALSE)
cat(sprintf("elapsed %.6f\n", elapsed))
