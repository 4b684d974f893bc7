# metafor 3.8 / lme4 reference values for metablina.stats.glmm -> ../data/glmm.json
# Run: cd tests/reference && Rscript glmm.R   (needs metafor, metadat, lme4, jsonlite; the tests never call R)
#
# Every case is fitted twice: with rma.glmm's defaults (lme4's Nelder-Mead with FtolAbs 1e-5, conditional
# modes to tolPwrss 1e-7: the deviance is then noisy at ~1e-6 for AGQ and ~1e-5 for Laplace, which moves the
# optimum by up to ~1e-3 in flat directions and the finite-difference Hessian SE by up to 1e-2), and with a
# tight fit (bobyqa with rhoend 1e-12, tolPwrss 1e-13, relaxed step-wise where lme4's PIRLS cannot reach it),
# which locates the AGQ optimum to ~1e-8. The tests compare with the tight fit at a tight tolerance and with
# the default fit at the looser tolerance its optimiser allows.
suppressMessages({library(metafor); library(lme4); library(jsonlite)})
out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            lme4_version = as.character(packageVersion("lme4")))
tight_ctrl <- function(tol) list(glmerCtrl = list(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5),
                                                   tolPwrss = tol))
# lme4's PIRLS sometimes cannot reach a very small tolPwrss ("pwrssUpdate did not converge"): relax it in steps
run_tight <- function(fitfun) {
  for (tol in c(1e-13, 1e-11, 1e-10, 1e-9, 1e-8)) {
    r <- run(fitfun(tight_ctrl(tol)))
    if (is.null(r$error)) { r$tolPwrss <- tol; return(r) }
  }
  r
}

grab <- function(fit) {
  pr <- predict(fit)
  list(beta = c(fit$beta), se = fit$se, tau2 = fit$tau2, zval = fit$zval, pval = fit$pval,
       ci_lb = fit$ci.lb, ci_ub = fit$ci.ub, pi_lb = pr$pi.lb, pi_ub = pr$pi.ub,
       QE_Wld = fit$QE.Wld, QEp_Wld = fit$QEp.Wld, QE_LRT = fit$QE.LRT, QEp_LRT = fit$QEp.LRT,
       QE_df = fit$QE.df, I2 = fit$I2, H2 = fit$H2, vt = fit$vt, k = fit$k)
}
run <- function(expr) {
  msgs <- character(0)
  val <- withCallingHandlers(tryCatch(expr, error = function(e) list(error = conditionMessage(e))),
                             warning = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning") })
  if (!is.null(val$error)) return(list(error = val$error, warnings = msgs))
  r <- grab(val); r$warnings <- msgs; r
}

# --- one-group proportions, measure = "PLO" ---------------------------------------------------------------
prop_cases <- list()
add_prop <- function(name, xi, ni, variants = list(c(7, "z"), c(7, "t"), c(1, "z"))) {
  for (v in variants) {
    nagq <- as.numeric(v[1]); test <- v[2]
    default <- run(rma.glmm(measure = "PLO", xi = xi, ni = ni, nAGQ = nagq, test = test))
    tgt <- run_tight(function(ctrl) rma.glmm(measure = "PLO", xi = xi, ni = ni, nAGQ = nagq, test = test, control = ctrl))
    prop_cases[[length(prop_cases) + 1]] <<- list(name = name, xi = xi, ni = ni, nagq = nagq, test = test,
                                                  default = default, tight = tgt)
  }
}
nw <- dat.nielweise2007
add_prop("nielweise2007_control", nw$ci, nw$n2i)    # Stijnen et al. 2010, Table II
add_prop("nielweise2007_treatment", nw$ai, nw$n1i)
add_prop("crs", c(0, 9, 0), c(54, 202, 11))           # one study with events, two 0/n
add_prop("mrd", c(97, 192, 11), c(100, 202, 11))      # near 100%, one n/n
add_prop("homogeneous", c(10, 11, 9, 10), c(100, 100, 100, 100))   # tau2 = 0 boundary
add_prop("underdispersed", c(20, 20, 21, 19, 20), c(200, 200, 205, 190, 201))  # tau2 = 0 boundary
add_prop("k2", c(3, 8), c(20, 25))
add_prop("k2_boundary", c(5, 6), c(50, 55))
add_prop("huge_heterogeneity", c(1, 45, 20, 5), c(50, 50, 40, 60))
pz <- dat.pritz1997
add_prop("pritz1997", pz$xi, pz$ni)                  # two 100% studies
set.seed(20240601)
for (i in 1:16) {
  k <- sample(3:8, 1)
  mu <- runif(1, -4, 2); tau <- runif(1, 0, 1.5)
  ni <- sample(8:300, k, replace = TRUE)
  xi <- rbinom(k, ni, plogis(mu + tau * rnorm(k)))
  if (all(xi == 0) || all(xi == ni)) next
  add_prop(sprintf("random%02d", i), xi, ni, variants = list(c(7, "z")))
}
out$prop <- prop_cases

# --- two-group odds ratio, model = "UM.FS" ----------------------------------------------------------------
or_cases <- list()
add_or <- function(name, ai, n1i, ci, n2i, variants = list(c(7, "z"), c(1, "z"), c(7, "t"))) {
  for (v in variants) {
    nagq <- as.numeric(v[1]); test <- v[2]
    default <- run(rma.glmm(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, model = "UM.FS",
                            nAGQ = nagq, test = test))
    tgt <- run_tight(function(ctrl) rma.glmm(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, model = "UM.FS",
                                             nAGQ = nagq, test = test, control = ctrl))
    or_cases[[length(or_cases) + 1]] <<- list(name = name, ai = ai, n1i = n1i, ci = ci, n2i = n2i,
                                              nagq = nagq, test = test, default = default, tight = tgt)
  }
}
b <- dat.bcg
add_or("bcg", b$tpos, b$tpos + b$tneg, b$cpos, b$cpos + b$cneg)
# zero cells: a 0 in one arm (studies 2, 3, 6), a double zero (study 1, dropped by drop00), an all-events
# arm pair (study 8: 8/8 vs 8/8, also dropped)
add_or("zero_cells", c(0, 3, 0, 5, 10, 7, 12, 8), c(10, 20, 15, 25, 10, 30, 40, 8),
       c(0, 0, 4, 5, 9, 0, 15, 8), c(12, 18, 15, 25, 10, 25, 41, 8))
add_or("nielweise2007", nw$ai, nw$n1i, nw$ci, nw$n2i, variants = list(c(7, "z")))
# near-homogeneous: tau2 = 0 boundary (exactly equal ORs make lme4's PIRLS fail to converge)
add_or("homogeneous", c(10, 21, 15, 12), c(100, 200, 150, 120), c(20, 40, 31, 23), c(100, 200, 150, 120),
       variants = list(c(7, "z")))
out$or <- or_cases

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = FALSE),
           "../data/glmm.json")
