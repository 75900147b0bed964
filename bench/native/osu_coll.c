/*
 * osu_coll.c - the native side of bench/compare for collectives: the same workloads, iteration counts and
 * output format as SharpMpi.Bench's OSU collective verbs (osu_allreduce style: each rank times every call,
 * with a barrier between calls; the row is the average over ranks, -f adds min, max and iterations).
 *   mpirun -n 4 osu_coll osu-allreduce|osu-allgather|osu-bcast|osu-reduce|osu-alltoall|osu-barrier
 *          [-m [min:]max] [-i iterations] [-x warmup] [-f]
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
    else if (*end == 'G' || *end == 'g') v *= 1024L * 1024 * 1024;
    return v;
}

int main(int argc, char **argv)
{
    int rank, n;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    const char *verb = argc > 1 ? argv[1] : "osu-allreduce";
    const char *name = strncmp(verb, "osu-", 4) == 0 ? verb + 4 : verb;
    int floats = !strcmp(name, "allreduce") || !strcmp(name, "reduce");
    int barrier = !strcmp(name, "barrier");
    long minsz = floats ? 4 : 1, maxsz = 1L << 20;
    int iterations = 0, warmup = -1, full = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-f")) { full = 1; continue; }
        if (i + 1 >= argc) break;
        if (!strcmp(argv[i], "-m")) {
            char *colon = strchr(argv[i + 1], ':');
            if (colon) {
                *colon = 0;
                if (*argv[i + 1]) minsz = parse_size(argv[i + 1]);
                if (colon[1]) maxsz = parse_size(colon + 1);
            } else maxsz = parse_size(argv[i + 1]);
        } else if (!strcmp(argv[i], "-i")) iterations = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-x")) warmup = atoi(argv[i + 1]);
        i++;
    }
    int blocks = (!strcmp(name, "allgather") || !strcmp(name, "alltoall")) ? n : 1;
    long bufsz = (barrier ? 4 : maxsz * blocks);
    if (bufsz < 4) bufsz = 4;
    char *sbuf = aligned_alloc(4096, (bufsz + 4095) / 4096 * 4096);
    char *rbuf = aligned_alloc(4096, (bufsz + 4095) / 4096 * 4096);
    memset(sbuf, 1, bufsz);
    memset(rbuf, 0, bufsz);
    if (rank == 0) {
        const char *title = !strcmp(name, "allreduce") ? "Allreduce" : !strcmp(name, "allgather") ? "Allgather"
            : !strcmp(name, "bcast") ? "Broadcast" : !strcmp(name, "reduce") ? "Reduce"
            : !strcmp(name, "alltoall") ? "All-to-All Personalized Exchange" : "Barrier";
        printf("# OSU MPI %s Latency Test (native)\n", title);
        if (!barrier) printf("# Datatype: %s.\n", floats ? "MPI_FLOAT" : "MPI_CHAR");
        if (barrier) printf("%-20s", "# Avg Latency(us)");
        else printf("%-10s%20s", "# Size", "Avg Latency(us)");
        if (full) printf("%20s%20s%12s", "Min Latency(us)", "Max Latency(us)", "Iterations");
        printf("\n");
    }
    for (long sz = barrier ? 0 : (minsz < 1 ? 1 : minsz); sz <= (barrier ? 0 : maxsz); sz = barrier ? 1 : sz * 2) {
        if (floats && sz < 4) continue;
        int large = sz > 8192;
        int iters = iterations > 0 ? iterations : large ? 100 : 1000;
        int warm = warmup >= 0 ? warmup : large ? 10 : 100;
        int count = floats ? (int)(sz / 4) : (int)sz;
        double total = 0;
        MPI_Barrier(MPI_COMM_WORLD);
        for (int i = 0; i < iters + warm; i++) {
            double t0 = MPI_Wtime();
            if (!strcmp(name, "allreduce")) MPI_Allreduce(sbuf, rbuf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            else if (!strcmp(name, "reduce")) MPI_Reduce(sbuf, rbuf, count, MPI_FLOAT, MPI_SUM, 0, MPI_COMM_WORLD);
            else if (!strcmp(name, "bcast")) MPI_Bcast(rbuf, count, MPI_CHAR, 0, MPI_COMM_WORLD);
            else if (!strcmp(name, "allgather")) MPI_Allgather(sbuf, count, MPI_CHAR, rbuf, count, MPI_CHAR, MPI_COMM_WORLD);
            else if (!strcmp(name, "alltoall")) MPI_Alltoall(sbuf, count, MPI_CHAR, rbuf, count, MPI_CHAR, MPI_COMM_WORLD);
            else MPI_Barrier(MPI_COMM_WORLD);
            double t = MPI_Wtime() - t0;
            if (i >= warm) total += t;
            MPI_Barrier(MPI_COMM_WORLD);
        }
        double lat = total * 1e6 / iters, mn, mx, sum;
        MPI_Allreduce(&lat, &mn, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
        MPI_Allreduce(&lat, &mx, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        MPI_Allreduce(&lat, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        if (rank == 0) {
            if (barrier) printf("%20.2f", sum / n);
            else printf("%-10ld%20.2f", sz, sum / n);
            if (full) printf("%20.2f%20.2f%12d", mn, mx, iters);
            printf("\n");
            fflush(stdout);
        }
    }
    free(sbuf);
    free(rbuf);
    MPI_Finalize();
    return 0;
}
