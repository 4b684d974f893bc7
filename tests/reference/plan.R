# metafor on the effect table of every pooled stratum of the shipped plan (tests/data/plan_tables.json,
# written by plan_tables.py) -> tests/data/plan_metafor.json. Run from tests/reference: Rscript plan.R
suppressMessages({library(metafor); library(jsonlite)})
cases <- fromJSON("../data/plan_tables.json", simplifyVector = FALSE)
num <- function(x) if (is.null(x) || length(x) == 0) NA else as.numeric(x)[1]
test_of <- c(z = "z", hksj = "knha", "hksj-adhoc" = "adhoc")
back <- function(measure, x, ni) switch(measure, PLO = transf.ilogit(x), PFT = transf.ipft.hm(x, targs = list(ni = ni)), x)
out <- list()
for (cs in cases) {
  xi <- unlist(cs$columns$xi); ni <- unlist(cs$columns$ni)
  r <- list(case = cs$case, versions = paste("R", getRversion(), "metafor", packageVersion("metafor")))
  if (cs$method == "GLMM") {
    fit <- rma.glmm(measure = "PLO", xi = xi, ni = ni, test = ifelse(cs$ci == "z", "z", "t"))
    pr <- predict(fit)
    r$estimate <- num(fit$beta); r$se <- num(fit$se); r$ci_low <- fit$ci.lb; r$ci_high <- fit$ci.ub
    r$tau2 <- fit$tau2; r$pi_low <- pr$pi.lb; r$pi_high <- pr$pi.ub
  } else {
    es <- escalc(measure = cs$measure, xi = xi, ni = ni)
    fit <- rma(yi, vi, data = es, method = cs$method, test = test_of[[cs$ci]])
    pr <- predict(fit)
    r$estimate <- num(fit$beta); r$se <- num(fit$se); r$ci_low <- fit$ci.lb; r$ci_high <- fit$ci.ub
    r$tau2 <- fit$tau2; r$pi_low <- pr$pi.lb; r$pi_high <- pr$pi.ub; r$q <- fit$QE; r$i2 <- fit$I2
    r$yi <- as.numeric(es$yi); r$vi <- as.numeric(es$vi)
  }
  r$back <- list(estimate = back(cs$measure, r$estimate, ni), ci_low = back(cs$measure, r$ci_low, ni),
                 ci_high = back(cs$measure, r$ci_high, ni))
  out[[length(out) + 1]] <- r
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "../data/plan_metafor.json")
cat("wrote", length(out), "cases\n")
