/*
 * osu_rma.c - the native side of bench/compare's one-sided benchmarks, in OSU's format (osu_put_latency,
 * osu_put_bw): rank 0 puts into rank 1's window, synchronized by
 *   -s lock   (default) MPI_Win_lock(EXCLUSIVE, 1) ... MPI_Win_unlock(1) around each iteration
 *   -s fence  MPI_Win_fence on both ranks after each iteration
 *   -s flush  one MPI_Win_lock_all for the whole size, MPI_Win_flush(1) after each iteration
 * on a window from -w allocate (default, MPI_Win_allocate), -w shared (MPI_Win_allocate_shared) or -w create
 * (MPI_Win_create on malloc'd memory). An
 * iteration is one Put (put-latency) or -W Puts to consecutive offsets (put-bw). Same workload as
 * SharpMpi.Bench's put-latency / put-bw verbs.
 *   mpirun -n 2 osu_rma put-latency|put-bw [-m min:max] [-i iterations] [-x warmup] [-W window] [-s sync] [-w win]
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long parse_size(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end == 'K' || *end == 'k') v *= 1024;
    else if (*end == 'M' || *end == 'm') v *= 1024 * 1024;
    return v;
}

int main(int argc, char **argv)
{
    int rank;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const char *verb = argc > 1 ? argv[1] : "put-latency";
    const char *sync = "lock", *wintype = "allocate";
    long minsz = 1, maxsz = 1L << 20;
    int iterations = 0, warmup = -1, window = 32;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-m")) {
            char *colon = strchr(argv[i + 1], ':');
            if (colon) { *colon = 0; minsz = parse_size(argv[i + 1]); maxsz = parse_size(colon + 1); }
            else maxsz = parse_size(argv[i + 1]);
        } else if (!strcmp(argv[i], "-i")) iterations = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-x")) warmup = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-W")) window = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-s")) sync = argv[i + 1];
        else if (!strcmp(argv[i], "-w")) wintype = argv[i + 1];
    }
    if (minsz < 1) minsz = 1;
    int bandwidth = !strcmp(verb, "put-bw");
    int puts = bandwidth ? window : 1;
    long winbytes = maxsz * puts;
    char *sbuf = malloc(winbytes), *wbuf;
    memset(sbuf, 1, winbytes);
    MPI_Win win;
    if (!strcmp(wintype, "shared"))
        MPI_Win_allocate_shared(winbytes, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &wbuf, &win);
    else if (!strcmp(wintype, "create")) {
        wbuf = malloc(winbytes);
        MPI_Win_create(wbuf, winbytes, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &win);
    }
    else
        MPI_Win_allocate(winbytes, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &wbuf, &win);
    memset(wbuf, 0, winbytes);
    if (rank == 0) {
        printf("# OSU MPI_Put %s Test (native)\n# Window: %s, synchronization: %s.\n%-10s%20s\n",
               bandwidth ? "Bandwidth" : "Latency", wintype, sync, "# Size", bandwidth ? "Bandwidth (MB/s)" : "Latency (us)");
    }
    int fence = !strcmp(sync, "fence"), flush = !strcmp(sync, "flush");
    for (long sz = minsz; sz <= maxsz; sz *= 2) {
        int large = sz > 8192;
        int iters = iterations > 0 ? iterations : bandwidth ? (large ? 20 : 100) : (large ? 1000 : 10000);
        int warm = warmup >= 0 ? warmup : bandwidth ? (large ? 2 : 10) : (large ? 100 : 1000);
        double t0 = 0;
        MPI_Barrier(MPI_COMM_WORLD);
        if (fence) MPI_Win_fence(0, win);
        if (flush && rank == 0) MPI_Win_lock_all(0, win);
        for (int i = 0; i < iters + warm; i++) {
            if (i == warm) t0 = MPI_Wtime();
            if (fence) {
                if (rank == 0)
                    for (int j = 0; j < puts; j++) MPI_Put(sbuf + j * sz, (int)sz, MPI_CHAR, 1, j * sz, (int)sz, MPI_CHAR, win);
                MPI_Win_fence(0, win);
            } else if (rank == 0) {
                if (!flush) MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 1, 0, win);
                for (int j = 0; j < puts; j++) MPI_Put(sbuf + j * sz, (int)sz, MPI_CHAR, 1, j * sz, (int)sz, MPI_CHAR, win);
                if (flush) MPI_Win_flush(1, win);
                else MPI_Win_unlock(1, win);
            }
        }
        double secs = MPI_Wtime() - t0;
        if (flush && rank == 0) MPI_Win_unlock_all(win);
        MPI_Barrier(MPI_COMM_WORLD);
        if (rank == 1 && wbuf[sz - 1] != 1) { fprintf(stderr, "osu_rma: Put did not arrive\n"); MPI_Abort(MPI_COMM_WORLD, 1); }
        if (rank == 0) {
            if (bandwidth) printf("%-10ld%20.2f\n", sz, (double)sz * puts * iters / secs / 1e6);
            else printf("%-10ld%20.2f\n", sz, secs * 1e6 / iters);
            fflush(stdout);
        }
    }
    MPI_Win_free(&win);
    if (!strcmp(wintype, "create")) free(wbuf);
    free(sbuf);
    MPI_Finalize();
    return 0;
}
