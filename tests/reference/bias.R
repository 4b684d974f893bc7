# metafor 3.8 reference values for metablina.stats.bias -> ../data/bias.json
# Run: cd tests/reference && Rscript bias.R   (needs metafor, metadat, jsonlite; the tests never call R)
# Each case: the input (yi, vi), metafor's regtest() (predictor sei; model "rma" with several tau^2 methods
# and tests, and model "lm") and ranktest() (exact = TRUE, metafor's default, and exact = FALSE).
suppressMessages({library(metafor); library(jsonlite)})

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")))
num <- function(x) if (is.null(x) || length(x) == 0) NA else as.numeric(x)
r15 <- function(x) { if (is.null(x)) return(NULL); d <- dim(x); x <- as.numeric(sprintf("%.15g", x)); dim(x) <- d; x }

reg <- function(yi, vi, model, method, test) {
  r <- suppressWarnings(regtest(yi, vi, model = model, method = method, test = test))
  if (model == "rma") {
    b <- num(r$fit$beta); se <- num(r$fit$se); tau2 <- r$fit$tau2
  } else {
    cf <- coef(summary(r$fit)); b <- num(cf[, 1]); se <- num(cf[, 2]); tau2 <- NA
  }
  list(model = model, method = method, test = test, zval = num(r$zval), pval = num(r$pval), ddf = num(r$ddf),
       est = num(r$est), ci_lb = num(r$ci.lb), ci_ub = num(r$ci.ub), b = b, se = se, tau2 = num(tau2))
}

rank <- function(yi, vi, exact = TRUE) {
  warns <- character(0)
  r <- withCallingHandlers(ranktest(yi, vi, exact = exact),
                           warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  # the statistic cor.test reports (T for the exact test, z for the normal approximation)
  wi <- 1 / vi; theta <- sum(wi * yi) / sum(wi)
  ys <- (yi - theta) / sqrt(vi - 1 / sum(wi))
  ct <- suppressWarnings(cor.test(ys, vi, method = "kendall", exact = exact))
  list(exact_arg = exact, tau = num(r$tau), pval = num(r$pval), statistic = num(ct$statistic),
       statistic_name = names(ct$statistic), warnings = warns)
}

regs <- list(c("rma", "REML", "z"), c("rma", "DL", "z"), c("rma", "REML", "knha"), c("rma", "DL", "knha"),
             c("rma", "FE", "z"), c("rma", "ML", "adhoc"), c("rma", "PM", "z"), c("lm", "FE", "z"))

case <- function(id, yi, vi) {
  yi <- r15(yi); vi <- r15(vi)
  list(id = id, yi = yi, vi = vi,
       regtest = lapply(regs, function(a) reg(yi, vi, a[1], a[2], a[3])),
       ranktest = list(rank(yi, vi, TRUE), rank(yi, vi, FALSE)))
}

cases <- list()
add <- function(x) cases[[length(cases) + 1]] <<- x

# --- dat.bcg (Colditz 1994), log risk ratio, k = 13 ------------------------------------------------------------
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
add(case("bcg", bcg$yi, bcg$vi))
# --- fewer than 10 studies (the tests refuse these unless force = TRUE) ----------------------------------------
add(case("bcg_k8", bcg$yi[1:8], bcg$vi[1:8]))
hr <- c(0.38, 0.55, 0.71, 0.45); lo <- c(0.22, 0.30, 0.45, 0.20); hi <- c(0.65, 1.01, 1.12, 1.01)
add(case("hr4", log(hr), ((log(hi) - log(lo)) / (2 * qnorm(0.975)))^2))

# --- simulated small-study effects: log OR-like effects whose mean grows with the SE --------------------------
set.seed(20240501)
sim <- function(k, slope, tau = 0.2) {
  n <- round(exp(runif(k, log(20), log(2000))))
  vi <- 4 / n + runif(k, 0, 0.02)
  yi <- -0.3 + slope * sqrt(vi) + rnorm(k, 0, sqrt(vi + tau^2))
  list(yi = yi, vi = vi)
}
s <- sim(40, 2.5); add(case("sim40_asym", s$yi, s$vi))
s <- sim(25, 0); add(case("sim25_sym", s$yi, s$vi))
s <- sim(120, 1.5); add(case("sim120_asym", s$yi, s$vi))
s <- sim(160, 1.0, 0.1); add(case("sim160_asym", s$yi, s$vi))
# ties among the variances (equal arm sizes): normal approximation in cor.test
k <- 30
vi <- sample(c(0.02, 0.05, 0.1, 0.2), k, replace = TRUE)
yi <- -0.2 + 1.5 * sqrt(vi) + rnorm(k, 0, sqrt(vi + 0.01))
add(case("sim30_ties", yi, vi))
# a strongly asymmetric small set (tiny exact p)
vi <- seq(0.01, 0.4, length.out = 14); yi <- 3 * sqrt(vi) + c(0.01, -0.02, 0.03, 0, 0.01, -0.01, 0.02, 0, -0.03, 0.01, 0, 0.02, -0.01, 0)
add(case("monotone14", yi, vi))

out$cases <- cases
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = FALSE, na = "string", null = "null"),
           file.path("..", "data", "bias.json"))
cat("wrote", length(cases), "cases\n")
