/*
 * osu_p2p.c - the native side of bench/compare: the same point-to-point benchmarks, sizes, iteration
 * counts and output format (OSU's "# Size  Latency (us)" / "Bandwidth (MB/s)") as SharpMpi.Bench, so
 * both run the identical workload.
 *   mpirun -n 2 osu_p2p latency|bw|bibw|overlap [-m min:max] [-i iterations] [-x warmup] [-W window]
 * overlap is SharpMpi.Bench's OverlapBench: rank 0 MPI_Isend, rank 1 MPI_Irecv, both compute a fixed,
 * calibrated amount of work lasting about the pure transfer time, then MPI_Wait; overlap % =
 * 100 (1 - (overall - compute) / pure), clamped to 0..100 (default -m 16M:16M -i 20 -x 2).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile double sink;

/* The same dependent floating-point chain as OverlapBench.Compute: CPU only, not vectorizable. */
static void compute(long work)
{
    double x = 1.0;
    for (long i = 0; i < work; i++) x = x * 1.0000001 + 1e-9;
    sink += x;
}

static double now(void) { return MPI_Wtime(); }

/* Work units per microsecond (best of five runs after a warm-up). */
static long calibrate(void)
{
    const long probe = 1L << 20;
    double best = 1e30;
    compute(probe);
    for (int i = 0; i < 5; i++) {
        double t0 = now();
        compute(probe * 8);
        double t = now() - t0;
        if (t < best) best = t;
    }
    long w = (long)(probe * 8 / (best * 1e6));
    return w < 1 ? 1 : w;
}

/* Mean seconds per iteration of post + compute(work) + wait at this rank (rank 0 sends, rank 1 receives). */
static double measure(int rank, char *buf, long sz, int iters, int warm, long work)
{
    double total = 0;
    for (int i = 0; i < iters + warm; i++) {
        MPI_Request r = MPI_REQUEST_NULL;
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = now();
        if (rank == 0) MPI_Isend(buf, (int)sz, MPI_CHAR, 1, 11, MPI_COMM_WORLD, &r);
        else if (rank == 1) MPI_Irecv(buf, (int)sz, MPI_CHAR, 0, 11, MPI_COMM_WORLD, &r);
        if (work > 0) compute(work);
        MPI_Wait(&r, MPI_STATUS_IGNORE);
        if (i >= warm) total += now() - t0;
    }
    return total / iters;
}

static double overlap_of(double overall, double comp, double pure)
{
    if (pure <= 0) return 0;
    double v = 100 * (1 - (overall - comp) / pure);
    return v < 0 ? 0 : v > 100 ? 100 : v;
}

static void run_overlap(int rank, int size, long minsz, long maxsz, int iterations, int warmup)
{
    int iters = iterations > 0 ? iterations : 20, warm = warmup >= 0 ? warmup : 2;
    char *buf = aligned_alloc(4096, (maxsz + 4095) / 4096 * 4096);
    memset(buf, rank + 1, maxsz);
    long per_us = calibrate();
    double *all = malloc(sizeof(double) * 4 * size);
    if (rank == 0)
        printf("# OSU-style MPI Overlap Test (native): rank 0 ISend, rank 1 IReceive, compute ~ pure transfer time\n"
               "%-10s%16s%16s%16s%12s%12s%12s\n", "# Size", "Overall(us)", "Compute(us)", "Pure Comm.(us)", "Overlap(%)", "Sender(%)", "Receiver(%)");
    for (long sz = minsz > 0 ? minsz : 1; sz <= maxsz; sz *= 2) {
        double pure = measure(rank, buf, sz, iters, warm, 0), sum = 0, mine[4];
        double own = rank < 2 ? pure : 0;
        MPI_Allreduce(&own, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        long work = (long)(sum / 2 * 1e6 * per_us);
        double comp = 0;
        for (int i = 0; i < iters; i++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = now();
            compute(work);
            comp += now() - t0;
        }
        comp /= iters;
        double overall = measure(rank, buf, sz, iters, warm, work);
        mine[0] = overall; mine[1] = comp; mine[2] = pure; mine[3] = overlap_of(overall, comp, pure);
        MPI_Allgather(mine, 4, MPI_DOUBLE, all, 4, MPI_DOUBLE, MPI_COMM_WORLD);
        if (rank == 0) {
            double o = (all[0] + all[4]) / 2, c = (all[1] + all[5]) / 2, p = (all[2] + all[6]) / 2;
            printf("%-10ld%16.2f%16.2f%16.2f%12.2f%12.2f%12.2f\n", sz, o * 1e6, c * 1e6, p * 1e6, overlap_of(o, c, p), all[3], all[7]);
            fflush(stdout);
        }
    }
    free(all);
    free(buf);
}

static long parse_size(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end == 'K' || *end == 'k') v *= 1024;
    else if (*end == 'M' || *end == 'm') v *= 1024 * 1024;
    else if (*end == 'G' || *end == 'g') v *= 1024L * 1024 * 1024;
    return v;
}

int main(int argc, char **argv)
{
    int rank, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *verb = argc > 1 ? argv[1] : "latency";
    long minsz = 0, maxsz = 4L << 20;
    int iterations = 0, warmup = -1, window = 64;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-m")) {
            char *colon = strchr(argv[i + 1], ':');
            if (colon) { *colon = 0; minsz = parse_size(argv[i + 1]); maxsz = parse_size(colon + 1); }
            else maxsz = parse_size(argv[i + 1]);
        } else if (!strcmp(argv[i], "-i")) iterations = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-x")) warmup = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-W")) window = atoi(argv[i + 1]);
    }
    if (!strcmp(verb, "overlap")) {
        int given = 0;
        for (int i = 2; i + 1 < argc; i++) given |= !strcmp(argv[i], "-m");
        if (!given) minsz = maxsz = 16L << 20;
        run_overlap(rank, size, minsz, maxsz, iterations, warmup);
        MPI_Finalize();
        return 0;
    }
    int bandwidth = strcmp(verb, "latency") != 0, bidir = !strcmp(verb, "bibw");
    char *sbuf = aligned_alloc(4096, ((maxsz > 0 ? maxsz : 1) + 4095) / 4096 * 4096);
    char *rbuf = aligned_alloc(4096, ((maxsz > 0 ? maxsz : 1) + 4095) / 4096 * 4096);
    memset(sbuf, 1, maxsz > 0 ? maxsz : 1);
    memset(rbuf, 2, maxsz > 0 ? maxsz : 1);
    MPI_Request *req = malloc(sizeof(MPI_Request) * 2 * window);
    char ack = 0;
    if (rank == 0) {
        if (!bandwidth) printf("# OSU MPI Latency Test (native)\n# Datatype: MPI_CHAR.\n%-10s%20s\n", "# Size", "Latency (us)");
        else printf("# OSU MPI %sBandwidth Test (native)\n# Datatype: MPI_CHAR.\n%-10s%20s\n", bidir ? "Bi-Directional " : "", "# Size", "Bandwidth (MB/s)");
    }
    for (long sz = minsz; sz <= maxsz; sz = sz == 0 ? 1 : sz * 2) {
        if (sz == 0 && minsz > 0) continue;
        int iters = iterations > 0 ? iterations : bandwidth ? (sz > 8192 ? 20 : 100) : (sz > 8192 ? 1000 : 10000);
        int warm = warmup >= 0 ? warmup : bandwidth ? (sz > 8192 ? 2 : 10) : (sz > 8192 ? 100 : 1000);
        double t0 = 0;
        MPI_Barrier(MPI_COMM_WORLD);
        for (int i = 0; i < iters + warm; i++) {
            if (i == warm) t0 = MPI_Wtime();
            if (!bandwidth) {
                if (rank == 0) {
                    MPI_Send(sbuf, (int)sz, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
                    MPI_Recv(rbuf, (int)sz, MPI_CHAR, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                } else if (rank == 1) {
                    MPI_Recv(rbuf, (int)sz, MPI_CHAR, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                    MPI_Send(sbuf, (int)sz, MPI_CHAR, 0, 1, MPI_COMM_WORLD);
                }
            } else if (rank < 2) {
                int n = 0, other = 1 - rank;
                if (rank == 1 || bidir)
                    for (int w = 0; w < window; w++) MPI_Irecv(rbuf, (int)sz, MPI_CHAR, other, rank == 1 ? 1 : 2, MPI_COMM_WORLD, &req[n++]);
                if (rank == 0 || bidir)
                    for (int w = 0; w < window; w++) MPI_Isend(sbuf, (int)sz, MPI_CHAR, other, rank == 0 ? 1 : 2, MPI_COMM_WORLD, &req[n++]);
                MPI_Waitall(n, req, MPI_STATUSES_IGNORE);
                if (rank == 0) MPI_Recv(&ack, 1, MPI_CHAR, 1, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                else MPI_Send(&ack, 1, MPI_CHAR, 0, 3, MPI_COMM_WORLD);
            }
        }
        double secs = MPI_Wtime() - t0;
        if (rank == 0) {
            if (!bandwidth) printf("%-10ld%20.2f\n", sz, secs * 1e6 / (2.0 * iters));
            else printf("%-10ld%20.2f\n", sz, (double)sz * window * iters * (bidir ? 2 : 1) / secs / 1e6);
            fflush(stdout);
        }
    }
    free(req);
    free(sbuf);
    free(rbuf);
    MPI_Finalize();
    return 0;
}
