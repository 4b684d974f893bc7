# metafor 3.8 reference values for metablina.compare (comparisons from arm rows) -> ../data/compare.json
# Run: cd tests/reference && Rscript compare.R   (needs metafor, metadat, jsonlite; the tests never call R)
#
# Cases: the two-arm tables that metablina pairs from the SYNTHETIC fixture review tests/fixtures/comparisons
# (trial GAMMA's two blinatumomab arms combined, Cochrane Handbook 23.3.4; trial DELTA has a zero cell in
# relapse and no events in either arm for adverse events), and dat.bcg from metadat.
# escalc follows metablina's table mode: drop00 = TRUE for RR and OR (a double-zero table carries no information
# on a ratio), FALSE for RD; 1/2 added to every cell of a table with a zero cell (metafor's default).
suppressMessages({library(metafor); library(jsonlite)})
out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")))
num <- function(x) if (is.null(x) || length(x) == 0) NA else as.numeric(x)

rma_fit <- function(yi, vi, method, test) {
  f <- rma(yi, vi, method = method, test = test)
  p <- predict(f)
  list(beta = num(f$beta), se = num(f$se), ci_lb = num(f$ci.lb), ci_ub = num(f$ci.ub), tau2 = num(f$tau2),
       I2 = num(f$I2), H2 = num(f$H2), QE = num(f$QE), QEp = num(f$QEp), k = f$k,
       pi_lb = num(p$pi.lb), pi_ub = num(p$pi.ub), weights = num(weights(f)))
}
ce_fit <- function(f) {
  list(beta = num(f$beta), se = num(f$se), ci_lb = num(f$ci.lb), ci_ub = num(f$ci.ub), I2 = num(f$I2),
       QE = num(f$QE), QEp = num(f$QEp), k = f$k, weights = num(weights(f)))
}

cases <- list()
add <- function(name, ai, n1i, ci, n2i) {
  res <- list(name = name, ai = ai, n1i = n1i, ci = ci, n2i = n2i)
  for (m in c("RR", "OR", "RD")) {
    es <- escalc(m, ai = ai, n1i = n1i, ci = ci, n2i = n2i, drop00 = m != "RD")
    r <- list(yi = num(es$yi), vi = num(es$vi), rma = list())
    keep <- !is.na(es$yi)
    for (method in c("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "PM", "EB"))
      for (test in if (method == "FE") "z" else c("z", "knha", "adhoc"))
        r$rma[[paste(method, test, sep = "_")]] <- rma_fit(es$yi[keep], es$vi[keep], method, test)
    r$MH <- ce_fit(rma.mh(measure = m, ai = ai, n1i = n1i, ci = ci, n2i = n2i))
    res[[m]] <- r
  }
  pe <- escalc("PETO", ai = ai, n1i = n1i, ci = ci, n2i = n2i, drop00 = TRUE)
  res$PETO <- c(list(yi = num(pe$yi), vi = num(pe$vi)), ce_fit(rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i)))
  for (test in c("z", "t")) {
    g <- rma.glmm(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, model = "UM.FS", method = "ML",
                  test = test)
    res[[paste0("GLMM_", test)]] <- list(beta = num(g$beta), se = num(g$se), ci_lb = num(g$ci.lb),
                                         ci_ub = num(g$ci.ub), tau2 = num(g$tau2), I2 = num(g$I2),
                                         QE_wald = num(g$QE.Wld), k = g$k)
  }
  # the comparator risk of the absolute effects: control arms pooled by the binomial-normal GLMM (ML)
  cg <- rma.glmm(measure = "PLO", xi = ci, ni = n2i, method = "ML")
  res$control_glmm <- list(beta = num(cg$beta), prop = num(transf.ilogit(cg$beta)))
  cases[[length(cases) + 1]] <<- res
}
# fixture relapse: ALPHA 12/60 vs 24/60, BETA 8/45 vs 15/44, DELTA 0/25 vs 4/24, GAMMA (6+5)/(30+30) vs 14/32
add("fixture_relapse", c(12, 8, 0, 11), c(60, 45, 25, 60), c(24, 15, 4, 14), c(60, 44, 24, 32))
# fixture grade >= 3 adverse events: DELTA 0/25 vs 0/24 is a double zero; GAMMA (9+12)/(30+30) vs 15/32
add("fixture_ae", c(20, 10, 0, 21), c(60, 45, 25, 60), c(30, 18, 0, 15), c(60, 44, 24, 32))
b <- dat.bcg
add("bcg", b$tpos, b$tpos + b$tneg, b$cpos, b$cpos + b$cneg)
out$cases <- cases

# The fixture's HR analysis (efs-hr, REML with the ad hoc Knapp-Hartung interval): ALPHA's reported HR 0.55
# (0.33-0.92), BETA's HR derived from its 24-month KM rates 70.0% (53.3-81.7) vs 55.0% (38.5-68.8) under
# proportional hazards (Tierney 2007), DELTA's log-rank O - E = -8.1, V = 14.2. KM SEs on log(-log S) from the
# CI width, as metablina.normalize reads them; the comparator risk at 24 months pools the control arms'
# log(-log S) (ALPHA 51.0% (37.1-63.3), BETA) by REML.
z <- qnorm(0.975)
cll <- function(s) log(-log(s))
km <- function(s, lo, hi) c(yi = cll(s), sei = (cll(lo) - cll(hi)) / (2 * z))
b1 <- km(0.70, 0.533, 0.817); b0 <- km(0.55, 0.385, 0.688); a0 <- km(0.51, 0.371, 0.633)
hr_yi <- c(log(0.55), b1[["yi"]] - b0[["yi"]], -8.1 / 14.2)
hr_sei <- c((log(0.92) - log(0.33)) / (2 * z), sqrt(b1[["sei"]]^2 + b0[["sei"]]^2), 1 / sqrt(14.2))
f <- rma(hr_yi, sei = hr_sei, method = "REML", test = "adhoc")
acr <- rma(c(a0[["yi"]], b0[["yi"]]), sei = c(a0[["sei"]], b0[["sei"]]), method = "REML")
out$efs_hr <- list(yi = hr_yi, sei = hr_sei, beta = num(f$beta), ci_lb = num(f$ci.lb), ci_ub = num(f$ci.ub),
                   tau2 = num(f$tau2), QE = num(f$QE), I2 = num(f$I2), weights = num(weights(f)),
                   acr = 1 - exp(-exp(num(acr$beta))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE), "../data/compare.json")
