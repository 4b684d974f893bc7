# metafor 3.8 reference values for metablina.stats.measures / intervals -> ../data/measures.json
# Run: cd tests/reference && Rscript measures.R   (needs metafor, metadat, jsonlite; the tests never call R)
suppressMessages({library(metafor); library(jsonlite)})
out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")))
es <- function(...) { e <- suppressWarnings(escalc(...)); list(yi = as.numeric(e$yi), vi = as.numeric(e$vi)) }

# --- two-group binary: dat.bcg (Colditz 1994) -------------------------------------------------------------
b <- dat.bcg
bcg <- list(data = list(ai = b$tpos, n1i = b$tpos + b$tneg, ci = b$cpos, n2i = b$cpos + b$cneg))
for (m in c("RR", "OR", "RD", "PETO"))
  bcg[[m]] <- es(measure = m, ai = b$tpos, n1i = b$tpos + b$tneg, ci = b$cpos, n2i = b$cpos + b$cneg)
bcg$RD_UB <- es(measure = "RD", ai = b$tpos, n1i = b$tpos + b$tneg, ci = b$cpos, n2i = b$cpos + b$cneg, vtype = "UB")
out$bcg <- bcg

# --- two-group binary with zero cells and double zeros: every to option, drop00 on/off, add 0.5 and 1 -------
z <- list(ai = c(0, 3, 0, 5, 10, 7, 12, 0), n1i = c(10, 20, 15, 5, 10, 30, 40, 8),
          ci = c(0, 0, 4, 5, 9, 0, 15, 8), n2i = c(12, 18, 15, 5, 10, 25, 41, 8))
cases <- list()
for (m in c("RR", "OR", "RD", "PETO")) for (to in c("only0", "all", "if0all", "none"))
  for (d00 in c(TRUE, FALSE)) for (add in c(0.5, 1)) {
    r <- es(measure = m, ai = z$ai, n1i = z$n1i, ci = z$ci, n2i = z$n2i, add = add, to = to, drop00 = d00)
    cases[[length(cases) + 1]] <- c(list(measure = m, to = to, drop00 = d00, add = add), r)
  }
# a table with no zero cell: if0all must then add nothing
nz <- list(ai = c(3, 5), n1i = c(10, 12), ci = c(4, 2), n2i = c(11, 9))
out$zero2x2 <- list(data = z, cases = cases, nozero = list(data = nz,
  OR_if0all = es(measure = "OR", ai = nz$ai, n1i = nz$n1i, ci = nz$ci, n2i = nz$n2i, to = "if0all")))

# --- one-group proportions ---------------------------------------------------------------------------------
p <- list(xi = c(0, 9, 0, 11, 97, 5), ni = c(54, 202, 11, 11, 100, 20))
pr <- dat.pritz1997
prop <- list(table = p, pritz = list(xi = pr$xi, ni = pr$ni))
for (nm in c("table", "pritz")) {
  d <- prop[[nm]]
  for (m in c("PLO", "PFT", "PAS", "PR")) {
    d[[m]] <- es(measure = m, xi = d$xi, ni = d$ni)
    for (to in c("all", "if0all", "none")) d[[paste0(m, "_", to)]] <- es(measure = m, xi = d$xi, ni = d$ni, to = to)
    d[[paste0(m, "_add1")]] <- es(measure = m, xi = d$xi, ni = d$ni, add = 1)  # explicit add: PAS/PFT now use it
  }
  d$PR_UB <- es(measure = "PR", xi = d$xi, ni = d$ni, vtype = "UB")
  prop[[nm]] <- d
}
out$prop <- prop

# --- two-group means: dat.normand1999 ------------------------------------------------------------------------
n <- dat.normand1999
mn <- list(data = list(m1i = n$m1i, sd1i = n$sd1i, n1i = n$n1i, m2i = n$m2i, sd2i = n$sd2i, n2i = n$n2i))
for (m in c("MD", "SMD")) mn[[m]] <- es(measure = m, m1i = n$m1i, sd1i = n$sd1i, n1i = n$n1i, m2i = n$m2i, sd2i = n$sd2i, n2i = n$n2i)
mn$MD_HO <- es(measure = "MD", m1i = n$m1i, sd1i = n$sd1i, n1i = n$n1i, m2i = n$m2i, sd2i = n$sd2i, n2i = n$n2i, vtype = "HO")
for (vt in c("UB", "LS2"))
  mn[[paste0("SMD_", vt)]] <- es(measure = "SMD", m1i = n$m1i, sd1i = n$sd1i, n1i = n$n1i, m2i = n$m2i, sd2i = n$sd2i, n2i = n$n2i, vtype = vt)
# small-sample SMD (bias correction matters most): n1i + n2i = 4 is the smallest metafor computes
sm <- list(m1i = c(1.2, 0.3, 5), sd1i = c(1, 0.5, 2), n1i = c(2, 3, 4), m2i = c(0.2, 0.9, 1), sd2i = c(2, 0.4, 1), n2i = c(2, 2, 3))
mn$small <- list(data = sm, SMD = es(measure = "SMD", m1i = sm$m1i, sd1i = sm$sd1i, n1i = sm$n1i, m2i = sm$m2i, sd2i = sm$sd2i, n2i = sm$n2i),
                 cmi = as.numeric(metafor:::.cmicalc(c(2, 3, 5, 10, 50, 500, 1e5))), cmi_m = c(2, 3, 5, 10, 50, 500, 1e5))
out$means <- mn

# --- generic: yi with vi, yi with sei ----------------------------------------------------------------------
g <- list(yi = c(-0.35, 0.1, 0.72, -1.4), vi = c(0.04, 0.11, 0.3, 0.09), sei = c(0.2, 0.33, 0.5, 0.41))
out$gen <- list(data = g, with_vi = es(measure = "GEN", yi = g$yi, vi = g$vi), with_sei = es(measure = "GEN", yi = g$yi, sei = g$sei))

# --- back-transformations -----------------------------------------------------------------------------------
nhm_ni <- pr$ni
nhm <- 1 / mean(1 / nhm_ni)
xl <- c(-800, -40, -3, -1e-8, 0, 0.4, 2.5, 40, 800)
xa <- c(-0.1, -1e-12, 0, 0.3, pi / 4, 1.2, asin(1), asin(1) + 1e-9, 2)
xp <- sort(c(-0.1, 0, 1e-6, 0.05, 0.1, transf.pft(0, nhm), transf.pft(0, nhm) + 1e-9, 0.3, pi / 4, 1, 1.4,
             transf.pft(1, nhm), transf.pft(1, nhm) - 1e-9, asin(1), 1.7))
np1 <- c(1, 5, 20, 1000)
xq <- seq(-0.05, 1.62, length.out = 12)
out$back <- list(
  ilogit = list(x = xl, y = transf.ilogit(xl)),
  iarcsin = list(x = xa, y = transf.iarcsin(xa)),
  ipft_hm = list(x = xp, ni = nhm_ni, y = transf.ipft.hm(xp, targs = list(ni = nhm_ni))),
  # per-study inverse (transf.ipft) on a grid of x for several n, and on the pritz PFT values
  ipft = list(x = rep(xq, length(np1)), n = rep(np1, each = length(xq)), y = transf.ipft(rep(xq, length(np1)), rep(np1, each = length(xq)))),
  pft_pritz = list(yi = out$prop$pritz$PFT$yi, ni = pr$ni, y = transf.ipft(out$prop$pritz$PFT$yi, pr$ni))
)

# --- study-level CIs for a proportion -----------------------------------------------------------------------
xs <- c(81, 15, 0, 1, 0, 20, 1, 0, 1, 5, 97, 9, 5000, 3, 12, 54)
ns <- c(263, 148, 20, 29, 1, 20, 1, 54, 1000, 7, 100, 202, 10000, 3, 13, 54)
ci <- list(xi = xs, ni = ns)
for (lev in c(0.9, 0.95, 0.99)) {
  cp <- t(mapply(function(x, n) binom.test(x, n, conf.level = lev)$conf.int, xs, ns))
  wi <- t(mapply(function(x, n) suppressWarnings(prop.test(x, n, conf.level = lev, correct = FALSE)$conf.int), xs, ns))
  pp <- xs / ns; zc <- qnorm(1 - (1 - lev) / 2)
  key <- sub("0\\.", "L", format(lev))
  ci[[key]] <- list(level = lev, cp_low = cp[, 1], cp_high = cp[, 2], wilson_low = wi[, 1], wilson_high = wi[, 2],
                    wald_low = pp - zc * sqrt(pp * (1 - pp) / ns), wald_high = pp + zc * sqrt(pp * (1 - pp) / ns))
}
out$ci <- ci

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE), "../data/measures.json")
cat("wrote ../data/measures.json\n")
