# metafor 3.8 reference values for metablina.stats.mh (rma.mh, rma.peto) -> ../data/mh.json
# Run: cd tests/reference && Rscript mh.R   (needs metafor, metadat, jsonlite; the tests never call R)
suppressMessages({library(metafor); library(jsonlite)})
out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")))

num <- function(x) if (is.null(x) || length(x) == 0) NA else as.numeric(x)
grab <- function(fit) {
  list(beta = num(fit$beta), se = num(fit$se), zval = num(fit$zval), pval = num(fit$pval),
       ci_lb = num(fit$ci.lb), ci_ub = num(fit$ci.ub), QE = num(fit$QE), QEp = num(fit$QEp),
       I2 = num(fit$I2), H2 = num(fit$H2), k = fit$k, k_yi = fit$k.yi, k_pos = num(fit$k.pos),
       MH = num(fit$MH), MHp = num(fit$MHp), BD = num(fit$BD), BDp = num(fit$BDp),
       TA = num(fit$TA), TAp = num(fit$TAp))
}
run <- function(expr) {
  msgs <- character(0)
  val <- withCallingHandlers(tryCatch(expr, error = function(e) list(error = conditionMessage(e))),
                             warning = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning") })
  if (!is.null(val$error)) return(list(error = val$error, warnings = msgs))
  r <- grab(val); r$warnings <- msgs; r
}

cases <- list()
add <- function(name, ai, n1i, ci, n2i, level = 95) {
  res <- list(name = name, ai = ai, n1i = n1i, ci = ci, n2i = n2i, level = level / 100)
  for (m in c("OR", "RR", "RD"))
    res[[m]] <- run(rma.mh(measure = m, ai = ai, n1i = n1i, ci = ci, n2i = n2i, level = level))
  res$PETO <- run(rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, level = level))
  cases[[length(cases) + 1]] <<- res
}
b <- dat.bcg
add("bcg", b$tpos, b$tpos + b$tneg, b$cpos, b$cpos + b$cneg)
add("bcg_level90", b$tpos, b$tpos + b$tneg, b$cpos, b$cpos + b$cneg, level = 90)
# zero cells: one-arm zeros (studies 2, 3, 6), a double zero (1), both arms all events (4), 0/8 vs 8/8 (8)
add("zero_cells", c(0, 3, 0, 5, 10, 7, 12, 0), c(10, 20, 15, 5, 10, 30, 40, 8),
    c(0, 0, 4, 5, 9, 0, 15, 8), c(12, 18, 15, 5, 10, 25, 41, 8))
nw <- dat.nielweise2007
add("nielweise2007", nw$ai, nw$n1i, nw$ci, nw$n2i)     # study 15 is a double zero
add("no_events_group1", c(0, 0, 0), c(20, 30, 25), c(1, 2, 3), c(20, 30, 25))  # OR and RR undefined
add("single_table", 4, 30, 9, 31)
add("psi_one", c(2, 3), c(10, 10), c(3, 2), c(10, 10))  # MH OR exactly 1 (Breslow-Day's other branch)
add("homogeneous", c(10, 20, 30), c(100, 200, 300), c(10, 20, 30), c(100, 200, 300))  # Q = 0
set.seed(7)
for (i in 1:6) {
  k <- 6
  n1 <- sample(10:120, k, replace = TRUE); n2 <- sample(10:120, k, replace = TRUE)
  p2 <- runif(1, 0.02, 0.4); lor <- rnorm(k, -0.4, 0.5)
  p1 <- plogis(qlogis(p2) + lor)
  add(sprintf("random%02d", i), rbinom(k, n1, p1), n1, rbinom(k, n2, p2), n2)
}
# psi_one: metafor's MH OR there is 0.9999999999999999, not exactly 1, and its Breslow-Day root
# (A - B)/(2(psi - 1)) cancels to garbage (BD = 0 on k.pos = 0 tables). Reference for the exact psi = 1
# branch, computed here with metafor's own formulas with N11 = n1i*xt/Ni:
bd_exact <- with(list(ai = c(2, 3), n1i = c(10, 10), ci = c(3, 2), n2i = c(10, 10)), {
  bi <- n1i - ai; di <- n2i - ci; Ni <- n1i + n2i; xt <- ai + ci; yt <- bi + di
  N11 <- (n1i / Ni) * xt; N12 <- n1i - N11; N21 <- xt - N11; N22 <- N11 - n1i - xt + Ni
  BD <- max(0, sum((ai - N11)^2 / (1/N11 + 1/N12 + 1/N21 + 1/N22)^(-1)))
  TA <- max(0, BD - sum(ai - N11)^2 / sum((1/N11 + 1/N12 + 1/N21 + 1/N22)^(-1)))
  list(BD = BD, BDp = pchisq(BD, df = 1, lower.tail = FALSE), TA = TA, TAp = pchisq(TA, df = 1, lower.tail = FALSE),
       k_pos = 2)
})
out$psi_one_exact <- bd_exact
out$cases <- cases
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = FALSE),
           "../data/mh.json")
