/* Exact minimum weighted DTW over appropriate reactions: the inner loop of FRDist.
 *
 * For each query (one prediction of one row): best = min over the row's appropriate reactions y of
 * sum_g w_g * sqrt(C_g(x, y)), where C_g is the cumulative DTW cost over the channels of group g (squared
 * Euclidean local cost, no window): tslearn's dtw() before its square root. Nothing is approximated; only
 * work that provably cannot lower a minimum is skipped.
 *
 * Why C and not numba: one DTW is a chain of dependent min/add operations (each cell needs its left
 * neighbour), so a scalar kernel runs at the latency of that chain (~4 ns per cell here, the numba kernel in
 * dtw.py). Here NL (prediction, reaction) pairs run side by side in the lanes of one SIMD vector, and each
 * sweep computes R rows of their cost matrices with the cells in registers (R-fold less cache traffic).
 * numba/LLVM did not vectorise such lane loops (measured 14-25 ns per cell); GCC/clang vector extensions
 * do. A lane is refilled with the next job as soon as its job finishes or is abandoned.
 *
 * Order of work and pruning:
 *  - a coarse copy of every series (30 frame averages) gives a cheap DTW estimate that orders each query's
 *    jobs; it is only an order, never a bound;
 *  - each query's most promising job is computed in full first, so every query has a good best;
 *  - the other jobs are computed one channel group at a time, the group with the largest estimated share of
 *    the total per channel first (for FRDist: valence/arousal, 2 channels, ~2/3 of the total). Exact values
 *    of finished groups plus 0 for the others bound a job from below; a job is dropped once that bound
 *    reaches its query's best;
 *  - early abandoning inside a group: after rows 0..i, C_g >= min_j D[i, j] + sum_{t>i} dist(x_t, box(y))^2
 *    (every path visits every later row, and any y_s lies in y's per-channel [min, max] box).
 *  Lower bounds from boxes or nearest frames alone were measured at 1-25% of the DTW on REACT-like data:
 *  too weak to prune, so the order of work does the pruning.
 *
 * Precision: inputs are float32 values (the metric definition rounds them so) and the local costs are summed
 * in float32 with FMA; each is within (C+2) 2^-24 relative of the exact one (all terms are >= 0), so each
 * DTW is within ~5e-7 relative (C <= 15) of tslearn's. Cumulative costs are float64. Bounds compare with a
 * 1e-12 slack, so rounding never drops the minimum.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One vector of float32 local costs holds NL lanes; the float64 cumulative costs of those lanes take two
 * vectors of the same width (lo and hi halves). Everything is native width, so nothing spills. */
#if defined(__AVX512F__)
#define VB 64
#elif defined(__AVX__)
#define VB 32
#else
#define VB 16
#endif
#define NL (VB / 4) /* lanes: (prediction, neighbour) pairs computed side by side */
#define NH (NL / 2) /* doubles per vector */
#ifndef R
#if VB == 64
#define R 6 /* cost-matrix rows per sweep (measured best for 32 vector registers) */
#else
#define R 3
#endif
#endif
#ifndef RMAX
#if VB == 64
#define RMAX 8 /* rows per sweep for groups of at most 4 channels (fewer registers hold distances) */
#else
#define RMAX 6
#endif
#endif

typedef float vf __attribute__((vector_size(VB)));
typedef float vfh __attribute__((vector_size(VB / 2)));
typedef double vd __attribute__((vector_size(VB)));
typedef int64_t vl __attribute__((vector_size(VB)));
/* unaligned variants for loads and stores from malloc'ed memory */
typedef float vf_u __attribute__((vector_size(VB), aligned(4)));
typedef double vd_u __attribute__((vector_size(VB), aligned(8)));

#if defined(__AVX512F__)
#include <immintrin.h>
static inline vd vmin(vd a, vd b) { return (vd)_mm512_min_pd((__m512d)a, (__m512d)b); }
#elif defined(__AVX__)
#include <immintrin.h>
static inline vd vmin(vd a, vd b) { return (vd)_mm256_min_pd((__m256d)a, (__m256d)b); }
#elif defined(__SSE2__)
#include <emmintrin.h>
static inline vd vmin(vd a, vd b) { return (vd)_mm_min_pd((__m128d)a, (__m128d)b); }
#else
/* a < b ? a : b lane by lane (no NaNs reach here: inputs are checked finite) */
static inline vd vmin(vd a, vd b) {
    vl m = a < b;
    return (vd)(((vl)a & m) | ((vl)b & ~m));
}
#endif

static inline vd vsplat(double v) { return (vd){0} + v; }
static inline vf load_f(const float *p) { return *(const vf_u *)p; }
static inline vd load_d(const double *p) { return *(const vd_u *)p; }
static inline void store_d(double *p, vd v) { *(vd_u *)p = v; }
static inline void widen(vf v, vd *lo, vd *hi) {
    union { vf f; vfh h[2]; } u = {v};
    *lo = __builtin_convertvector(u.h[0], vd);
    *hi = __builtin_convertvector(u.h[1], vd);
}

#define MAXG 8 /* channel groups (FRDist has 3) */

typedef struct {
    double key;         /* run order within a query: the coarse DTW estimate */
    double part[MAXG];  /* w_g * DTW_g once group g is computed, else 0: their sum is a lower bound */
    int32_t q, a;       /* query, row of Y */
    int32_t alive;      /* 0 once skipped or abandoned */
} job_t;

static int job_cmp(const void *u, const void *v) {
    const job_t *x = (const job_t *)u, *y = (const job_t *)v;
    if (x->q != y->q) return x->q < y->q ? -1 : 1;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->a < y->a ? -1 : (x->a > y->a);
}

static inline double job_bound(const job_t *jb, int G) {
    double s = 0.0;
    for (int g = 0; g < G; g++) s += jb->part[g];
    return s;
}

static inline double sqd(const float *x, const float *y, int lo, int hi) {
    double s = 0.0;
    for (int c = lo; c < hi; c++) {
        double d = (double)x[c] - (double)y[c];
        s += d * d;
    }
    return s;
}

static inline double box_term(const float *row, const double *mn, const double *mx, int lo, int hi) {
    double s = 0.0;
    for (int c = lo; c < hi; c++) {
        double v = row[c];
        if (v < mn[c]) s += (mn[c] - v) * (mn[c] - v);
        else if (v > mx[c]) s += (v - mx[c]) * (v - mx[c]);
    }
    return s;
}

/* DTW cost of two short series (the coarse estimate that orders the jobs), channels [lo, hi); plain O(n m). */
static double small_dtw(const float *x, const float *y, int n, int C, int lo, int hi, double *buf) {
    double *prev = buf, *cur = buf + n + 1;
    for (int j = 0; j <= n; j++) prev[j] = INFINITY;
    prev[0] = 0.0;
    for (int i = 0; i < n; i++) {
        cur[0] = INFINITY;
        for (int j = 0; j < n; j++) {
            double d = sqd(x + (int64_t)i * C, y + (int64_t)j * C, lo, hi);
            double b = prev[j];
            if (prev[j + 1] < b) b = prev[j + 1];
            if (cur[j] < b) b = cur[j];
            cur[j + 1] = d + b;
        }
        double *t = prev; prev = cur; cur = t;
    }
    return prev[n];
}

/* Rows i0 .. i0+Rn-1 of every lane's cost matrix in one pass over the columns, the cells in registers.
 * top: D[i0-1, j-1] (T+1 values per lane, updated to D[i0+Rn-1, j-1]); xblk: the lanes' x rows; ypk: the
 * lanes' y; out: fin = D[i0+r, T-1], rmin = min_j D[i0+Rn-1, j]. */
static inline __attribute__((always_inline)) void sweep(const int Rn, const int T, const int cg, double *top,
                                                        const float *ypk, const float *xblk, double *fin,
                                                        double *rmin) {
    const vd inf = vsplat(INFINITY);
    vd cl[RMAX], ch[RMAX]; /* D[i0+r, j-1]: lanes 0..NH-1 and NH..NL-1 */
    for (int r = 0; r < Rn; r++) cl[r] = ch[r] = inf;
    vd tl = load_d(top), th = load_d(top + NH); /* D[i0-1, j-1] */
    vd rml = inf, rmh = inf;
    for (int j = 0; j < T; j++) {
        const float *yj = ypk + (int64_t)j * cg * NL;
        const vd ul0 = load_d(top + (j + 1) * NL), uh0 = load_d(top + (j + 1) * NL + NH);
        vf dist[RMAX];
#pragma GCC unroll 16
        for (int r = 0; r < Rn; r++) dist[r] = (vf){0};
        for (int c = 0; c < cg; c++) {
            const vf yv = load_f(yj + c * NL);
#pragma GCC unroll 16
            for (int r = 0; r < Rn; r++) {
                vf d = load_f(xblk + (r * cg + c) * NL) - yv;
                dist[r] += d * d;
            }
        }
        vd ul = ul0, uh = uh0, dl = tl, dh = th;
#pragma GCC unroll 16
        for (int r = 0; r < Rn; r++) {
            vd el, eh;
            widen(dist[r], &el, &eh);
            const vd ll = cl[r], lh = ch[r];
            ul = el + vmin(vmin(ul, dl), ll);
            uh = eh + vmin(vmin(uh, dh), lh);
            dl = ll;
            dh = lh;
            cl[r] = ul;
            ch[r] = uh;
        }
        store_d(top + (j + 1) * NL, cl[Rn - 1]);
        store_d(top + (j + 1) * NL + NH, ch[Rn - 1]);
        tl = ul0;
        th = uh0;
        rml = vmin(rml, cl[Rn - 1]);
        rmh = vmin(rmh, ch[Rn - 1]);
    }
    store_d(top, inf); /* D[i, -1] = inf below the first row */
    store_d(top + NH, inf);
    for (int r = 0; r < Rn; r++) {
        store_d(fin + r * NL, cl[r]);
        store_d(fin + r * NL + NH, ch[r]);
    }
    store_d(rmin, rml);
    store_d(rmin + NH, rmh);
}

typedef struct {
    const float *X, *Y;
    const double *ybox;
    const int32_t *glo, *ghi;
    const double *gw;
    int T, C, G;
    job_t *jobs;
    double *best;
    int64_t *stats;
    /* work buffers */
    double *top, *suffix, *fin, *rmin;
    float *ypk, *xblk;
} ctx_t;

static const double SLACK = 1.0 + 1e-12; /* rounding in the bounds must never prune the minimum */

/* Compute group g of the jobs in `list` (n of them), NL at a time, abandoning those that cannot beat their
 * query's best. A job's bound is the sum of the exact weighted DTW of its finished groups and the lower
 * bounds of the others (job_t.lb). On finishing the last group (`last`), the job's total updates best. */
static void run_group(ctx_t *cx, int g, const int64_t *list, int64_t n, int last) {
    const int T = cx->T, C = cx->C, lo = cx->glo[g], hi = cx->ghi[g], cg = hi - lo;
    const double w = cx->gw[g];
    const int rows = cg <= 4 ? RMAX : R; /* rows per sweep */
    const int64_t TC = (int64_t)T * C;
    job_t *jobs = cx->jobs;
    double *best = cx->best, *top = cx->top, *suffix = cx->suffix, *fin = cx->fin, *rmin = cx->rmin;
    float *ypk = cx->ypk, *xblk = cx->xblk;
    int64_t *stats = cx->stats;
    int64_t lane_job[NL];
    int lane_i0[NL];
    double lane_rest[NL]; /* bound of the lane's job without group g */
    for (int l = 0; l < NL; l++) lane_job[l] = -1;
    int64_t next = 0;

    for (;;) {
        for (int l = 0; l < NL; l++) {
            while (lane_job[l] < 0 && next < n) {
                const int64_t jid = list[next++];
                job_t *jb = &jobs[jid];
                if (!jb->alive) continue;
                if (job_bound(jb, cx->G) >= best[jb->q] * SLACK) { jb->alive = 0; stats[2]++; continue; }
                lane_job[l] = jid;
                lane_i0[l] = 0;
                lane_rest[l] = job_bound(jb, cx->G) - jb->part[g];
                stats[0]++;
                const float *x = cx->X + (int64_t)jb->q * TC, *y = cx->Y + (int64_t)jb->a * TC;
                const double *ymn = cx->ybox + 2 * (int64_t)C * jb->a, *ymx = ymn + C;
                for (int t = 0; t < T; t++)
                    for (int c = 0; c < cg; c++) ypk[((int64_t)t * cg + c) * NL + l] = y[(int64_t)t * C + lo + c];
                for (int t = T; t < T + RMAX + 1; t++) suffix[t * NL + l] = 0.0;
                for (int t = T - 1; t >= 0; t--)
                    suffix[t * NL + l] = suffix[(t + 1) * NL + l] + box_term(x + (int64_t)t * C, ymn, ymx, lo, hi);
                top[l] = 0.0;
                for (int j = 1; j <= T; j++) top[j * NL + l] = INFINITY;
            }
        }
        int active = 0;
        for (int l = 0; l < NL; l++) active += lane_job[l] >= 0;
        if (!active) break;
        stats[4]++;
        stats[5] += (int64_t)active * rows * T * cg;
        stats[6 + g] += (int64_t)active * rows * T;

        /* x rows i0 .. i0+rows-1 of each lane (zeros past the end or in free lanes; never used) */
        for (int l = 0; l < NL; l++) {
            const float *x = lane_job[l] >= 0 ? cx->X + (int64_t)jobs[lane_job[l]].q * TC : NULL;
            for (int r = 0; r < rows; r++) {
                const int i = lane_i0[l] + r;
                for (int c = 0; c < cg; c++)
                    xblk[(r * cg + c) * NL + l] = (x && i < T) ? x[(int64_t)i * C + lo + c] : 0.0f;
            }
        }

        /* one sweep: rows i0 .. i0+rows-1 of the cost matrix, all lanes at once */
        if (rows == RMAX) sweep(RMAX, T, cg, top, ypk, xblk, fin, rmin);
        else sweep(R, T, cg, top, ypk, xblk, fin, rmin);

        /* finish, abandon or advance each lane */
        for (int l = 0; l < NL; l++) {
            if (lane_job[l] < 0) continue;
            job_t *jb = &jobs[lane_job[l]];
            const int i0 = lane_i0[l];
            if (i0 + rows >= T) { /* row T-1 is in this sweep */
                jb->part[g] = w * sqrt(fin[(T - 1 - i0) * NL + l]);
                if (last) {
                    const double tot = job_bound(jb, cx->G);
                    if (tot < best[jb->q]) best[jb->q] = tot;
                    stats[1]++;
                }
                lane_job[l] = -1;
                continue;
            }
            const double bound = lane_rest[l] + w * sqrt(rmin[l] + suffix[(i0 + rows) * NL + l]);
            if (bound >= best[jb->q] * SLACK) {
                jb->alive = 0;
                stats[3]++;
                lane_job[l] = -1;
            } else {
                lane_i0[l] = i0 + rows;
            }
        }
    }
}

/*
 * Q queries (predictions): X is (Q, T, C); query q's appropriate reactions are rows nb[ptr[q] .. ptr[q+1]-1]
 * of Y (N, T, C), whose per-channel boxes are ybox (N, 2, C: min then max). Xc (Q, Tc, C) and Yc (N, Tc, C)
 * are coarse (frame-averaged) copies whose DTW orders each query's jobs (Tc = 0: order by the bound).
 * Groups are channels [glo[g], ghi[g]) with weights gw[g]. Writes best[q] and adds to stats (6 + G
 * counters): [0] group runs started, [1] jobs completed, [2] jobs dropped by their bound, [3] group runs
 * abandoned, [4] sweeps, [5] cost-matrix cells x channels computed, [6 + g] cells computed in group g.
 * Returns 0, -1 when memory cannot be allocated, -2 for more than MAXG groups or Tc < 1.
 *
 * Order of work: first each query's most promising job (smallest coarse estimate) is computed in full, so
 * every query has a good best; then the remaining jobs are computed one group at a time, the group with
 * the largest estimated share of the total per channel first. For FRDist that is valence/arousal (2
 * channels, ~2/3 of the weighted total): its exact value alone rules out many neighbours before the
 * expensive 15-channel AU group is touched, and makes the others' abandoning bound tight.
 */
int mafrg_frdist(const float *X, int Q, const float *Y, const double *ybox, const float *Xc, const float *Yc,
                 int Tc, const int64_t *ptr, const int64_t *nb, int T, int C, const int32_t *glo,
                 const int32_t *ghi, const double *gw, int G, double *best, int64_t *stats) {
    if (G > MAXG || Tc < 1) return -2;
    const int64_t TC = (int64_t)T * C;
    const int64_t n_jobs = ptr[Q] - ptr[0];
    int rc = -1;
    ctx_t cx = {X, Y, ybox, glo, ghi, gw, T, C, G, NULL, best, stats, NULL, NULL, NULL, NULL, NULL, NULL};

    job_t *jobs = malloc(sizeof(job_t) * (n_jobs > 0 ? n_jobs : 1));
    int64_t *list = malloc(sizeof(int64_t) * (n_jobs > 0 ? n_jobs : 1));
    double *dbuf = malloc(sizeof(double) * 2 * (Tc + 1));
    double share[MAXG] = {0};
    int order[MAXG];
    cx.top = malloc(sizeof(double) * (T + 1) * NL);      /* D[i0-1, j-1], lane-minor */
    cx.suffix = malloc(sizeof(double) * (T + RMAX + 1) * NL); /* box terms of rows t.. */
    cx.ypk = calloc(TC * NL, sizeof(float));              /* y of each lane, (T, channels, lane) */
    cx.xblk = calloc(RMAX * C * NL, sizeof(float));       /* x rows of the sweep, (rows, channels, lane) */
    cx.fin = malloc(sizeof(double) * RMAX * NL);            /* D[i0+r, T-1] */
    cx.rmin = malloc(sizeof(double) * NL);                /* min_j D[i0+rows-1, j] */
    if (!jobs || !list || !dbuf || !cx.top || !cx.suffix || !cx.ypk || !cx.xblk || !cx.fin || !cx.rmin)
        goto done;
    cx.jobs = jobs;

    for (int q = 0; q < Q; q++) {
        best[q] = INFINITY;
        for (int64_t k = ptr[q]; k < ptr[q + 1]; k++) {
            const int64_t a = nb[k];
            job_t *jb = &jobs[k - ptr[0]];
            jb->q = q;
            jb->a = (int32_t)a;
            jb->alive = 1;
            jb->key = 0.0;
            for (int g = 0; g < G; g++) {
                const double est = gw[g] * sqrt(small_dtw(Xc + (int64_t)q * Tc * C, Yc + a * Tc * C, Tc, C, glo[g],
                                                          ghi[g], dbuf));
                jb->part[g] = 0.0;
                jb->key += est;
                share[g] += est / (ghi[g] - glo[g]);
            }
        }
    }
    qsort(jobs, n_jobs, sizeof(job_t), job_cmp);
    for (int g = 0; g < G; g++) order[g] = g;
    for (int u = 1; u < G; u++) /* groups by decreasing estimated share per channel */
        for (int v = u; v > 0 && share[order[v]] > share[order[v - 1]]; v--) {
            int t = order[v]; order[v] = order[v - 1]; order[v - 1] = t;
        }

    /* 1: each query's first job in full */
    int64_t n = 0;
    for (int q = 0; q < Q; q++)
        if (ptr[q + 1] > ptr[q]) list[n++] = ptr[q] - ptr[0];
    for (int u = 0; u < G; u++) run_group(&cx, order[u], list, n, u == G - 1);
    /* 2: the others, group by group; survivors of the last group are candidates for the minimum */
    n = 0;
    for (int q = 0; q < Q; q++)
        for (int64_t k = ptr[q] + 1; k < ptr[q + 1]; k++) list[n++] = k - ptr[0];
    for (int u = 0; u < G; u++) run_group(&cx, order[u], list, n, u == G - 1);
    rc = 0;
done:
    free(jobs); free(list); free(dbuf);
    free(cx.top); free(cx.suffix); free(cx.ypk); free(cx.xblk); free(cx.fin); free(cx.rmin);
    return rc;
}
