# metafor 3.8 reference values for metablina.stats.influence -> ../data/influence.json
# Run: cd tests/reference && Rscript influence.R   (needs metafor, metadat, jsonlite; the tests never call R)
# Every case records the input (yi, vi, design matrix X as metafor used it, the cumul() sort key) and metafor's
# leave1out(), cumul() and influence() output (rstudent with its residual and SE, dffits, cook.d, cov.r,
# tau2.del, QE.del, hat, weight, dfbetas, the influence flag).
suppressMessages({library(metafor); library(jsonlite)})

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")))
num <- function(x) if (is.null(x) || length(x) == 0) NA else as.numeric(x)
# jsonlite writes 15 significant digits: fit on inputs rounded the same way, so Python reads the exact values
r15 <- function(x) { if (is.null(x)) return(NULL); d <- dim(x); x <- as.numeric(sprintf("%.15g", x)); dim(x) <- d; x }

case <- function(id, yi, vi, mods = NULL, method = "REML", test = "z", level = 95, tau2 = NULL, order = NULL) {
  yi <- r15(yi); vi <- r15(vi); mods <- r15(mods)
  args <- list(yi = yi, vi = vi, method = method, test = test, level = level)
  if (!is.null(mods)) args$mods <- mods
  if (!is.null(tau2)) args$tau2 <- tau2
  fit <- suppressWarnings(do.call(rma, args))
  res <- list(id = id, yi = yi, vi = vi, method = method, test = test, level = level / 100,
              tau2_fixed = if (is.null(tau2)) NA else tau2, X = unname(fit$X), int_only = fit$int.only)
  if (fit$int.only) {
    l1 <- suppressWarnings(leave1out(fit))
    res$leave1out <- list(estimate = num(l1$estimate), se = num(l1$se),
                          stat = num(if (is.null(l1$zval)) l1$tval else l1$zval), pval = num(l1$pval),
                          ci_lb = num(l1$ci.lb), ci_ub = num(l1$ci.ub), Q = num(l1$Q), Qp = num(l1$Qp),
                          tau2 = num(if (is.null(l1$tau2)) rep(0, fit$k) else l1$tau2), I2 = num(l1$I2),
                          H2 = num(l1$H2))
    if (is.null(order)) order <- seq_len(fit$k)
    order <- r15(order)
    res$order <- order
    cu <- suppressWarnings(cumul(fit, order = order))
    res$cumul <- list(estimate = num(cu$estimate), se = num(cu$se),
                      stat = num(if (is.null(cu$zval)) cu$tval else cu$zval), pval = num(cu$pvals),
                      ci_lb = num(cu$ci.lb), ci_ub = num(cu$ci.ub), Q = num(cu$Q), Qp = num(cu$Qp),
                      tau2 = num(if (is.null(cu$tau2)) rep(0, fit$k) else cu$tau2), I2 = num(cu$I2),
                      H2 = num(cu$H2), ids = num(cu$ids))
  }
  inf <- suppressWarnings(influence(fit))
  rs <- suppressWarnings(rstudent(fit))
  res$influence <- list(rstudent = num(inf$inf$rstudent), dffits = num(inf$inf$dffits),
                        cook_d = num(inf$inf$cook.d), cov_r = num(inf$inf$cov.r),
                        tau2_del = num(inf$inf$tau2.del), QE_del = num(inf$inf$QE.del),
                        hat = num(inf$inf$hat), weight = num(inf$inf$weight),
                        dfbs = unname(do.call(cbind, unclass(inf$dfbs)[seq_len(fit$p)])),
                        is_infl = as.logical(inf$is.infl), inf = inf$inf$inf,
                        resid = num(rs$resid), se_resid = num(rs$se))
  res
}

cases <- list()
add <- function(x) cases[[length(cases) + 1]] <<- x

# --- dat.bcg (Colditz 1994), log risk ratio; cumul() by year ------------------------------------------------
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
for (m in c("REML", "DL", "FE", "PM", "ML", "HE", "SJ", "EB", "HS"))
  for (t in c("z", "knha", "adhoc"))
    add(case(paste0("bcg_", m, "_", t), bcg$yi, bcg$vi, method = m, test = t, order = dat.bcg$year))
add(case("bcg_REML_z_level90", bcg$yi, bcg$vi, method = "REML", level = 90, order = dat.bcg$year))
add(case("bcg_tau2fixed_z", bcg$yi, bcg$vi, method = "REML", tau2 = 0.1, order = dat.bcg$year))
# cumul() with ties in the sort key (stable order) and a decreasing key
add(case("bcg_REML_z_ablat", bcg$yi, bcg$vi, method = "REML", order = dat.bcg$ablat))
# meta-regressions (influence only)
add(case("bcgreg_ablat_REML_z", bcg$yi, bcg$vi, mods = cbind(ablat = dat.bcg$ablat), method = "REML"))
add(case("bcgreg_ablat_DL_knha", bcg$yi, bcg$vi, mods = cbind(ablat = dat.bcg$ablat), method = "DL", test = "knha"))
add(case("bcgreg_ablat_year_REML_knha", bcg$yi, bcg$vi, mods = cbind(ablat = dat.bcg$ablat, year = dat.bcg$year),
         method = "REML", test = "knha"))
add(case("bcgreg_alloc_FE_z", bcg$yi, bcg$vi,
         mods = cbind(random = as.numeric(dat.bcg$alloc == "random"),
                      systematic = as.numeric(dat.bcg$alloc == "systematic")), method = "FE"))
# a moderator that singles out one trial: without it the design is rank-deficient (metafor: NA for that trial)
add(case("bcgreg_single_dummy_REML_z", bcg$yi, bcg$vi, mods = cbind(first = c(1, rep(0, 12))), method = "REML"))

# --- four hazard ratios (METHODS.md section 2.5): ln HR, SE from the 95% CI ----------------------------------
hr <- c(0.38, 0.55, 0.71, 0.45); lo <- c(0.22, 0.30, 0.45, 0.20); hi <- c(0.65, 1.01, 1.12, 1.01)
hr_yi <- log(hr); hr_vi <- ((log(hi) - log(lo)) / (2 * qnorm(0.975)))^2
for (m in c("REML", "DL", "FE", "PM", "ML"))
  for (t in c("z", "knha", "adhoc"))
    add(case(paste0("hr4_", m, "_", t), hr_yi, hr_vi, method = m, test = t, order = c(2017, 2012, 2020, 2015)))

# --- small k: k = 2 (deletion fits have k = 1: metafor fits them with tau^2 = 0 and z), k = 3 -----------------
for (m in c("REML", "DL", "FE")) for (t in c("z", "knha")) {
  add(case(paste0("k2_", m, "_", t), bcg$yi[1:2], bcg$vi[1:2], method = m, test = t))
  add(case(paste0("k3_", m, "_", t), bcg$yi[1:3], bcg$vi[1:3], method = m, test = t))
}

# --- huge heterogeneity with one outlier; homogeneous studies (tau^2 = 0 throughout) --------------------------
add(case("outlier_REML_z", c(0.1, 0.15, 0.05, 0.12, 2.5, 0.08), c(0.01, 0.02, 0.015, 0.01, 0.02, 0.03), method = "REML"))
add(case("outlier_DL_knha", c(0.1, 0.15, 0.05, 0.12, 2.5, 0.08), c(0.01, 0.02, 0.015, 0.01, 0.02, 0.03),
         method = "DL", test = "knha"))
add(case("homog_REML_z", c(0.10, 0.11, 0.09, 0.10, 0.12), c(0.04, 0.05, 0.03, 0.06, 0.05), method = "REML"))

out$cases <- cases
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = FALSE, na = "string", null = "null"),
           file.path("..", "data", "influence.json"))
cat("wrote", length(cases), "cases\n")
