# metafor 3.8 reference values for metablina.stats.subgroups -> ../data/subgroups.json
# Run: cd tests/reference && Rscript subgroups.R   (needs metafor, metadat, jsonlite; the tests never call R)
# Each case: yi, vi, a grouping variable; metafor's rma() in every subgroup (separate tau^2), the test for
# subgroup differences as rma(estimates, sei = ses, method = "FE")$QE on the subgroup estimates, and the
# meta-regression with group dummies rma(yi, vi, mods = ~ factor(group)) with its QM test.
suppressMessages({library(metafor); library(jsonlite)})

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")))
num <- function(x) if (is.null(x) || length(x) == 0) NA else as.numeric(x)
r15 <- function(x) { if (is.null(x)) return(NULL); d <- dim(x); x <- as.numeric(sprintf("%.15g", x)); dim(x) <- d; x }

case <- function(id, yi, vi, group, method = "REML", test = "z", level = 95) {
  yi <- r15(yi); vi <- r15(vi)
  levs <- sort(unique(group))
  fits <- lapply(levs, function(g) {
    f <- suppressWarnings(rma(yi[group == g], vi[group == g], method = method, test = test, level = level))
    pr <- predict(f)
    list(group = g, k = f$k, estimate = num(f$beta), pi_lb = num(pr$pi.lb), pi_ub = num(pr$pi.ub), se = num(f$se), stat = num(f$zval), pval = num(f$pval),
         ci_lb = num(f$ci.lb), ci_ub = num(f$ci.ub), tau2 = num(f$tau2), I2 = num(f$I2), H2 = num(f$H2),
         QE = num(f$QE), QEp = num(f$QEp), test = f$test)
  })
  est <- sapply(fits, `[[`, "estimate"); se <- sapply(fits, `[[`, "se")
  qb <- rma(est, sei = se, method = "FE")
  reg <- suppressWarnings(rma(yi, vi, mods = ~ factor(group), method = method, test = test, level = level))
  list(id = id, yi = yi, vi = vi, group = group, method = method, test = test, level = level / 100,
       subgroups = fits,
       between = list(Q = num(qb$QE), df = qb$k - 1, p = num(qb$QEp)),
       regression = list(QM = num(reg$QM), QMdf = num(reg$QMdf), QMp = num(reg$QMp), QE = num(reg$QE),
                         QEp = num(reg$QEp), tau2 = num(reg$tau2), R2 = num(if (is.null(reg$R2)) NA else reg$R2),
                         I2 = num(reg$I2), b = num(reg$beta), se = num(reg$se), pval = num(reg$pval),
                         X = unname(reg$X)))
}

cases <- list()
add <- function(x) cases[[length(cases) + 1]] <<- x

# --- dat.bcg (Colditz 1994) by treatment allocation: alternate (k = 2), random (7), systematic (4) ------------
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
for (m in c("REML", "DL", "FE", "PM", "ML")) for (t in c("z", "knha"))
  add(case(paste0("bcg_alloc_", m, "_", t), bcg$yi, bcg$vi, as.character(dat.bcg$alloc), method = m, test = t))
add(case("bcg_alloc_REML_adhoc", bcg$yi, bcg$vi, as.character(dat.bcg$alloc), method = "REML", test = "adhoc"))
add(case("bcg_alloc_REML_z_level90", bcg$yi, bcg$vi, as.character(dat.bcg$alloc), level = 90))
# latitude above / below 30 degrees: two groups
add(case("bcg_lat30_REML_z", bcg$yi, bcg$vi, ifelse(dat.bcg$ablat > 30, "far", "near")))
# --- equal group sizes (one stacked call): 13 trials in groups of 4, 4, 5 -> use first 12 in 3 groups of 4 ---
add(case("bcg12_eq_REML_z", bcg$yi[1:12], bcg$vi[1:12], rep(c("a", "b", "c"), each = 4)))
add(case("bcg12_eq_DL_knha", bcg$yi[1:12], bcg$vi[1:12], rep(c("a", "b", "c"), each = 4), method = "DL", test = "knha"))
# --- a single-study subgroup (metafor: the study itself, tau^2 = 0, z test) ------------------------------------
add(case("bcg_single_REML_z", bcg$yi, bcg$vi, c("A", rep("B", 6), rep("C", 6))))
add(case("bcg_single_REML_knha", bcg$yi, bcg$vi, c("A", rep("B", 6), rep("C", 6)), test = "knha"))
# --- four hazard ratios (METHODS.md section 2.5) in two pairs ---------------------------------------------------
hr <- c(0.38, 0.55, 0.71, 0.45); lo <- c(0.22, 0.30, 0.45, 0.20); hi <- c(0.65, 1.01, 1.12, 1.01)
add(case("hr4_pairs_DL_z", log(hr), ((log(hi) - log(lo)) / (2 * qnorm(0.975)))^2, c("x", "y", "x", "y"), method = "DL"))

out$cases <- cases
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = FALSE, na = "string", null = "null"),
           file.path("..", "data", "subgroups.json"))
cat("wrote", length(cases), "cases\n")
