/**
 * Model Breadcrumbs' `magnitude_outliers` (mergekit sparsify.py): of n elements ranked by |δ|, drop the
 * largest γ·n (outliers) and the smallest, keeping ⌊d·n⌋ in between.
 *
 *   target = ⌊d·n⌋, n_top = ⌊γ·n⌋, n_bot = n − target − n_top; if n_bot < 0 then n_top += n_bot, n_bot = 0.
 *   kept = ranks [n_top, n − n_bot) counted from the largest.
 *
 * mergekit slices `indices[n_bot:-n_top]`, which keeps nothing when n_top = 0 (for instance any tensor with
 * fewer than 1/γ elements). Lethe keeps ranks [0, n − n_bot) in that case, which is what the formula says.
 */
export interface BreadcrumbsCounts {
  /** Keep the top `keep` elements... */
  keep: number;
  /** ...except the top `drop`. */
  drop: number;
}

export function breadcrumbsCounts(n: number, density: number, gamma: number): BreadcrumbsCounts {
  const target = Math.floor(density * n);
  let nTop = Math.floor(gamma * n);
  let nBot = n - target - nTop;
  if (nBot < 0) {
    nTop += nBot;
    nBot = 0;
  }
  return { keep: n - nBot, drop: Math.max(0, nTop) };
}
