/**
 * In-place selection (Hoare quickselect, median-of-three pivot, insertion sort on short ranges):
 * rearranges `a[lo..hi)` so that `a[k]` holds the value it would have if the range were sorted,
 * everything in `[lo, k)` is ≤ it and everything in `(k, hi)` is ≥ it. Expected O(hi − lo).
 */
export function selectKth(a: Float64Array, lo: number, hi: number, k: number): void {
  let l = lo;
  let r = hi - 1;
  while (r > l) {
    if (r - l < 16) {
      insertionSort(a, l, r + 1);
      return;
    }
    const mid = (l + r) >>> 1;
    // Order a[l] ≤ a[mid] ≤ a[r] so the pivot is a median of three and the scans stop in range.
    if (a[mid] < a[l]) swap(a, mid, l);
    if (a[r] < a[l]) swap(a, r, l);
    if (a[r] < a[mid]) swap(a, r, mid);
    const pivot = a[mid];
    let i = l;
    let j = r;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) r = j;
    else if (k >= i) l = i;
    else return;
  }
}

/** Sorts `a[lo..hi)` ascending in place (for the short ranges where it beats anything else). */
function insertionSort(a: Float64Array, lo: number, hi: number): void {
  for (let i = lo + 1; i < hi; i++) {
    const x = a[i];
    let j = i - 1;
    while (j >= lo && a[j] > x) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = x;
  }
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

/**
 * Copies coordinates `[start, start + count)` of every vector into `out` laid out coordinate-major
 * (`out[t·n + j] = vectors[j][start + t]`), so each coordinate's n values are contiguous for
 * selection. Working block by block keeps the n source slices in cache.
 */
export function gatherBlock(vectors: readonly Float32Array[], start: number, count: number, out: Float64Array): void {
  const n = vectors.length;
  for (let j = 0; j < n; j++) {
    const v = vectors[j];
    let o = j;
    for (let t = 0; t < count; t++) {
      out[o] = v[start + t];
      o += n;
    }
  }
}

/** Coordinates per block in the robust strategies: n × 1024 float64 values stay in L2 for n ≲ 100. */
export const BLOCK = 1024;
