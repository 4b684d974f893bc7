# metafor 3.8 reference values for metablina.stats.rma / tau2 -> ../data/rma.json
# Run: cd tests/reference && Rscript rma.R   (needs metafor, metadat, jsonlite; the tests never call R)
# Every case records the input (yi, vi, full design matrix X as metafor used it) and metafor's output:
# rma() coefficients, tau^2 (+ SE), I^2, H^2, Q, QM, R^2, KH factor s2w; predict() PI; the Higgins-Thompson-
# Spiegelhalter PI (t_{k-2}); confint() Q-profile bounds for tau^2, I^2, H^2; weights(); and warnings.
suppressMessages({library(metafor); library(jsonlite)})

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")))
num <- function(x) if (is.null(x) || length(x) == 0) NA else as.numeric(x)
# jsonlite writes 15 significant digits: fit on inputs rounded the same way, so Python reads the exact values
r15 <- function(x) { if (is.null(x)) return(NULL); d <- dim(x); x <- as.numeric(sprintf("%.15g", x)); dim(x) <- d; x }

fit_case <- function(id, yi, vi, mods = NULL, intercept = TRUE, method = "REML", test = "z", level = 95,
                     tau2 = NULL, show = FALSE) {
  warns <- character(0)
  yi <- r15(yi); vi <- r15(vi); mods <- r15(mods)
  res <- list(id = id, yi = as.numeric(yi), vi = as.numeric(vi), method = method, test = test,
              level = level / 100, tau2_fixed = if (is.null(tau2)) NA else tau2)
  fit <- withCallingHandlers(
    tryCatch({
      args <- list(yi = yi, vi = vi, method = method, test = test, level = level, intercept = intercept)
      if (!is.null(mods)) args$mods <- mods
      if (!is.null(tau2)) args$tau2 <- tau2
      do.call(rma, args)
    }, error = function(e) e),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  if (inherits(fit, "error")) { res$error <- conditionMessage(fit); res$X <- NA; return(res) }
  res$X <- unname(fit$X)
  e <- list(k = fit$k, p = fit$p, b = num(fit$beta), se = num(fit$se), zval = num(fit$zval),
            pval = num(fit$pval), ci_lb = num(fit$ci.lb), ci_ub = num(fit$ci.ub),
            tau2 = fit$tau2, se_tau2 = num(fit$se.tau2), I2 = num(fit$I2), H2 = num(fit$H2), vt = num(fit$vt),
            QE = fit$QE, QEp = fit$QEp, QM = fit$QM, QMdf = num(fit$QMdf), QMp = fit$QMp,
            R2 = if (is.null(fit$R2)) NA else fit$R2, s2w = fit$s2w, ddf = num(fit$ddf),
            weights = as.numeric(weights(fit)))
  if (fit$int.only) {
    pr <- predict(fit)
    e$pred <- pr$pred; e$pi_lb <- pr$pi.lb; e$pi_ub <- pr$pi.ub; e$pred_se <- pr$se
    if (fit$k >= 3) {
      half <- qt(1 - (1 - level / 100) / 2, fit$k - 2) * sqrt(fit$se^2 + fit$tau2)
      e$hts_lb <- num(fit$beta) - half; e$hts_ub <- num(fit$beta) + half
    }
  }
  if (!is.element(method, c("FE", "EE", "CE")) && is.null(tau2)) {
    ci <- withCallingHandlers(tryCatch(confint(fit), error = function(e) e),
      warning = function(w) { warns <<- c(warns, paste("confint:", conditionMessage(w)))
                              invokeRestart("muffleWarning") })
    if (inherits(ci, "error")) {
      e$confint_error <- conditionMessage(ci)
    } else {
      r <- ci$random
      e$tau2_lb <- r["tau^2", "ci.lb"]; e$tau2_ub <- r["tau^2", "ci.ub"]
      e$I2_lb <- r["I^2(%)", "ci.lb"]; e$I2_ub <- r["I^2(%)", "ci.ub"]
      e$H2_lb <- r["H^2", "ci.lb"]; e$H2_ub <- r["H^2", "ci.ub"]
      e$ci_null <- ci$ci.null; e$lb_sign <- ci$lb.sign; e$ub_sign <- ci$ub.sign
    }
  }
  e$warnings <- warns
  if (show) e$print <- capture.output(print(fit, signif.legend = TRUE))
  res$expected <- e
  res
}

cases <- list()
add <- function(x) cases[[length(cases) + 1]] <<- x
methods <- c("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "PM", "EB")
tests <- c("z", "knha", "adhoc")

# --- dat.bcg (Colditz 1994), log risk ratio: every estimator x every test ----------------------------------
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
printed <- c("bcg_REML_z", "bcg_REML_knha", "bcg_FE_z", "bcg_DL_adhoc", "bcgreg_ablat_REML_z", "bcgreg_ablat_year_REML_knha",
             "bcgreg_ablat_FE_z", "homog_DL_z")  # these also keep metafor's print() output
for (m in methods) for (t in tests) add(fit_case(paste0("bcg_", m, "_", t), bcg$yi, bcg$vi, method = m, test = t,
                                                 show = paste0("bcg_", m, "_", t) %in% printed))
add(fit_case("bcg_REML_z_level90", bcg$yi, bcg$vi, method = "REML", level = 90))
add(fit_case("bcg_tau2fixed_z", bcg$yi, bcg$vi, method = "REML", tau2 = 0.1))
add(fit_case("bcg_tau2fixed_knha", bcg$yi, bcg$vi, method = "REML", test = "knha", tau2 = 0.1))

# --- k = 2 (first two bcg trials), every estimator ---------------------------------------------------------
for (m in methods) for (t in c("z", "knha")) add(fit_case(paste0("k2_", m, "_", t), bcg$yi[1:2], bcg$vi[1:2], method = m, test = t))
# k = 2 studies that disagree strongly
for (m in methods) add(fit_case(paste0("k2het_", m, "_z"), c(-1.2, 0.9), c(0.02, 0.05), method = m))

# --- tau^2 = 0 boundary: homogeneous studies (Q below the lower chi^2 quantile: empty Q-profile CI) ------------
homog <- list(yi = c(0.10, 0.12, 0.08, 0.11, 0.09), vi = c(0.04, 0.05, 0.03, 0.06, 0.05))
for (m in methods) for (t in tests) add(fit_case(paste0("homog_", m, "_", t), homog$yi, homog$vi, method = m, test = t,
                                                 show = paste0("homog_", m, "_", t) %in% printed))
# boundary with a non-empty Q-profile CI [0, ub]: Q between qchisq(.025, k-1) and k-1
bnd <- list(yi = c(0.1, 0.3, -0.1, 0.2, 0.05), vi = c(0.04, 0.04, 0.04, 0.04, 0.04))
for (m in methods) for (t in tests) add(fit_case(paste0("boundary_", m, "_", t), bnd$yi, bnd$vi, method = m, test = t))
# identical yi: Q = 0, Knapp-Hartung factor 0 (metafor sets s2w = 0)
for (m in c("DL", "REML", "PM")) for (t in tests)
  add(fit_case(paste0("identical_", m, "_", t), rep(0.2, 4), c(0.01, 0.02, 0.05, 0.1), method = m, test = t))

# --- huge heterogeneity, k = 3: cloglog landmark example (METHODS.md A.6) and a wide spread with tiny vi ------
cll <- list(yi = c(-3.805611, -0.601149, -1.816961), vi = c(1.011206, 0.227341, 0.217169)^2)
for (m in methods) for (t in tests) add(fit_case(paste0("cloglog3_", m, "_", t), cll$yi, cll$vi, method = m, test = t))
huge <- list(yi = c(-2, 0.5, 3, -1, 1.5), vi = c(0.01, 0.02, 0.01, 0.015, 0.01))
for (m in methods) for (t in tests) add(fit_case(paste0("huge_", m, "_", t), huge$yi, huge$vi, method = m, test = t))

# --- four hazard ratios (METHODS.md section 2.5): ln HR, SE from the 95% CI ----------------------------------
hr <- c(0.38, 0.55, 0.71, 0.45); lo <- c(0.22, 0.30, 0.45, 0.20); hi <- c(0.65, 1.01, 1.12, 1.01)
hr_yi <- log(hr); hr_vi <- ((log(hi) - log(lo)) / (2 * qnorm(0.975)))^2
for (m in methods) for (t in tests) add(fit_case(paste0("hr4_", m, "_", t), hr_yi, hr_vi, method = m, test = t))

# --- logit proportions with 0/n and n/n studies (escalc adds 1/2 to those studies only) -------------------------
plo <- escalc(measure = "PLO", xi = c(0, 2, 5, 12, 15), ni = c(15, 20, 25, 30, 15))
for (m in methods) for (t in tests) add(fit_case(paste0("plo_", m, "_", t), plo$yi, plo$vi, method = m, test = t))

# --- meta-regression on dat.bcg: ablat, ablat + year ---------------------------------------------------------
for (m in methods) for (t in tests) {
  add(fit_case(paste0("bcgreg_ablat_", m, "_", t), bcg$yi, bcg$vi, mods = cbind(ablat = bcg$ablat), method = m, test = t,
               show = paste0("bcgreg_ablat_", m, "_", t) %in% printed))
  add(fit_case(paste0("bcgreg_ablat_year_", m, "_", t), bcg$yi, bcg$vi, mods = cbind(ablat = bcg$ablat, year = bcg$year),
               method = m, test = t, show = paste0("bcgreg_ablat_year_", m, "_", t) %in% printed))
}
# no intercept (metafor estimates tau^2 and QE from mean-centred yi, which matters here)
for (m in c("DL", "REML", "PM", "HE", "SJ")) add(fit_case(paste0("bcgreg_noint_", m, "_z"), bcg$yi, bcg$vi,
  mods = cbind(ablat = bcg$ablat), intercept = FALSE, method = m))
add(fit_case("bcgreg_ablat_REML_tau2fixed", bcg$yi, bcg$vi, mods = cbind(ablat = bcg$ablat), method = "REML", tau2 = 0.05))
# allocation factor (alternate / random / systematic) as dummies
alloc <- model.matrix(~ factor(alloc), data = bcg)[, -1]
for (m in c("REML", "DL")) add(fit_case(paste0("bcgreg_alloc_", m, "_z"), bcg$yi, bcg$vi, mods = alloc, method = m))

# --- metafor's special paths, found among 10,000 random k = 10 analyses (numpy seed 1) --------------------------
# ll0check: Fisher scoring converges to tau^2 > 0 whose (RE)ML log-likelihood is below the one at 0 -> tau^2 = 0
add(fit_case("ll0_REML", c(0.3170147564001373, -0.46766625948113544, 0.18893996657511875, 1.1239454022119306,
  0.23189351718970164, 0.38263511179249476, 0.116142645547496, 0.35545416830788995, -0.7350859832567118,
  -0.3534137230885112), c(0.03067828777591481, 0.29461615327618396, 0.013376759981245972, 0.1520944133359369,
  0.14947733101810806, 0.06127631972429356, 0.22661250813295344, 0.18468091979786067, 0.22109405510597102,
  0.09665503717232499), method = "REML"))
add(fit_case("ll0_ML", c(0.05215877112043196, 1.399145525833358, 0.31351853838774224, 0.5598969207216362,
  0.0679822115585301, -0.16429001272499028, -0.4658144643332062, 0.04176289052344248, -0.10405875159280309,
  1.1236415052061126), c(0.13962240612693005, 0.2824065575749706, 0.12519485487551324, 0.13884579184288134,
  0.011767422998466323, 0.19979168433967076, 0.08772113922204194, 0.2823371719051435, 0.2750505253638742,
  0.2583876767963452), method = "ML"))
# EB Fisher scoring that does not converge in 100 steps: metafor stops with an error
add(fit_case("nonconv_EB", c(0.06892211770264153, 0.3346619913621973, -0.23869778986488344, 0.06817863158921714,
  0.5134049022470595, 0.7296311261465549, 0.451669708760433, 0.3073812784255069, 0.5763827164785309,
  0.29472963267728175), c(0.11359106989145731, 0.07223293345697242, 0.02989541385418104, 0.22328912528369455,
  0.2887409317496912, 0.20934263053119265, 0.27315541864103804, 0.2624064129754546, 0.197355767059307,
  0.1615577443421622), method = "EB"))

out$cases <- cases

# --- a stack of random analyses (some at the tau^2 = 0 boundary), fitted one by one ----------------------------
set.seed(20240601)
m <- 40; k <- 6
tau2_true <- rep(c(0, 0.02, 0.3, 1), length.out = m)
vi_s <- r15(matrix(runif(m * k, 0.01, 0.2), m, k))
yi_s <- r15(matrix(rnorm(m * k, 0.3, sqrt(vi_s + tau2_true)), m, k))
stack <- list(yi = yi_s, vi = vi_s, fits = list())
for (meth in methods) {
  f <- lapply(seq_len(m), function(j) fit_case(paste0("stack_", meth, "_", j), yi_s[j, ], vi_s[j, ], method = meth))
  stack$fits[[meth]] <- lapply(f, function(x) x$expected)
}
f <- lapply(seq_len(m), function(j) fit_case(paste0("stack_REML_knha_", j), yi_s[j, ], vi_s[j, ], method = "REML", test = "knha"))
stack$fits[["REML_knha"]] <- lapply(f, function(x) x$expected)
# shared moderator across the stack
xmod <- r15(seq(-1, 1, length.out = k))
yreg <- r15(yi_s + 0.5 * matrix(xmod, m, k, byrow = TRUE))
stack$xmod <- xmod
stack$yi_reg <- yreg
for (meth in c("REML", "DL", "PM", "ML")) {
  f <- lapply(seq_len(m), function(j) fit_case(paste0("stackreg_", meth, "_", j), yreg[j, ], vi_s[j, ],
                                               mods = cbind(x = xmod), method = meth))
  stack$fits[[paste0("reg_", meth)]] <- lapply(f, function(x) x$expected)
}
out$stack <- stack

# --- R's uniroot (Brent zeroin) on a few functions: the root it stops at, not the exact root ------------------
ur <- function(id, f, lo, hi, tol = .Machine$double.eps^0.25, maxiter = 1000) {
  r <- uniroot(f, c(lo, hi), tol = tol, maxiter = maxiter)
  list(id = id, lower = lo, upper = hi, tol = tol, maxiter = maxiter, root = r$root, iter = r$iter)
}
out$uniroot <- list(
  ur("sqrt2", function(x) x^2 - 2, 0, 2),
  ur("exp", function(x) exp(x) - 5, -1, 4),
  ur("cos", function(x) cos(x) - x, 0, 1),
  ur("cube", function(x) x^3, -1, 2),
  ur("linear", function(x) x - 1/3, 0, 1, tol = 1e-4),
  ur("flat", function(x) 1 / (1 + x) - 0.01, 0, 1000),
  ur("tight", function(x) x^2 - 2, 0, 2, tol = 1e-12),
  ur("maxit", function(x) x^2 - 2, 0, 2, tol = 1e-12, maxiter = 3))

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = FALSE, na = "string", null = "null"),
           file.path("..", "data", "rma.json"))
cat("wrote", length(cases), "cases and a stack of", m, "\n")
